// Go's encoding/json as the oracle for "as mos writes it" (spec mongoose-os.md §1.3, §1.5):
// a small Go program with mos's field order (from the spec) and its attrs-after-fields
// layout serialises seeded random manifests and signature blocks; ours must match byte for byte.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { serializeManifest, type Manifest, type ManifestPart } from '../bundle/index.ts';
import { encodeSignatureBlock, type BundleExtra } from '../bundle/signature-block.ts';
import { expectOk, go, oracleAvailable } from '../../scripts/lib/oracles.ts';
import { SeededRandom } from './seeded-random.ts';


// Written for this test: field names and order are the spec's (§1.2/§1.3), zero values
// omitted as Go's omitempty does, unknown keys appended sorted after the struct fields.
const GO_PROGRAM = `package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
)

type Part struct {
	Type        string \`json:"type,omitempty"\`
	Src         string \`json:"src,omitempty"\`
	Addr        uint32 \`json:"addr,omitempty"\`
	Size        uint32 \`json:"size,omitempty"\`
	Fill        *uint8 \`json:"fill,omitempty"\`
	Flash       *bool  \`json:"flash,omitempty"\`
	CsSHA1      string \`json:"cs_sha1,omitempty"\`
	CsSHA256    string \`json:"cs_sha256,omitempty"\`
	FSSize      uint32 \`json:"fs_size,omitempty"\`
	FSBlockSize uint32 \`json:"fs_block_size,omitempty"\`
	FSEraseSize uint32 \`json:"fs_erase_size,omitempty"\`
	FSPageSize  uint32 \`json:"fs_page_size,omitempty"\`
	Encrypt     bool   \`json:"encrypt,omitempty"\`
	Ptn         string \`json:"ptn,omitempty"\`
	Falloc      int    \`json:"falloc,omitempty"\`
	Sig         string \`json:"sig,omitempty"\`
	SigCert     string \`json:"sig_cert,omitempty"\`
	Sign        string \`json:"sign,omitempty"\`
}

type Top struct {
	Name           string           \`json:"name,omitempty"\`
	Platform       string           \`json:"platform,omitempty"\`
	Description    string           \`json:"description,omitempty"\`
	Version        string           \`json:"version,omitempty"\`
	BuildID        string           \`json:"build_id,omitempty"\`
	BuildTimestamp string           \`json:"build_timestamp,omitempty"\`
	Parts          map[string]*PartA \`json:"parts"\`
}

type PartA struct {
	Part
	attrs map[string]interface{}
}

type TopA struct {
	Top
	attrs map[string]interface{}
}

// withAttrs appends a sorted attribute map after the struct's own members.
func withAttrs(fields []byte, attrs map[string]interface{}) ([]byte, error) {
	if len(attrs) == 0 {
		return fields, nil
	}
	extra, err := json.Marshal(attrs)
	if err != nil {
		return nil, err
	}
	if len(fields) == 2 {
		return extra, nil
	}
	extra[0] = ','
	return append(fields[:len(fields)-1], extra...), nil
}

func (p *PartA) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(p.Part)
	if err != nil {
		return nil, err
	}
	return withAttrs(b, p.attrs)
}

func (t *TopA) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(t.Top)
	if err != nil {
		return nil, err
	}
	return withAttrs(b, t.attrs)
}

var partKeys = map[string]bool{}
var topKeys = map[string]bool{"name": true, "platform": true, "description": true, "version": true, "build_id": true, "build_timestamp": true, "parts": true}

func init() {
	for _, k := range []string{"type", "src", "addr", "size", "fill", "flash", "cs_sha1", "cs_sha256", "fs_size", "fs_block_size", "fs_erase_size", "fs_page_size", "encrypt", "ptn", "falloc", "sig", "sig_cert", "sign"} {
		partKeys[k] = true
	}
}

func unknown(raw []byte, known map[string]bool) map[string]interface{} {
	var all map[string]interface{}
	if err := json.Unmarshal(raw, &all); err != nil {
		panic(err)
	}
	out := map[string]interface{}{}
	for k, v := range all {
		if !known[k] {
			out[k] = v
		}
	}
	return out
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	for in.Scan() {
		line := in.Bytes()
		var job struct {
			Manifest json.RawMessage
			Extra    map[string]interface{}
		}
		if err := json.Unmarshal(line, &job); err != nil {
			panic(err)
		}
		var top TopA
		if err := json.Unmarshal(job.Manifest, &top.Top); err != nil {
			panic(err)
		}
		top.attrs = unknown(job.Manifest, topKeys)
		var rawParts struct{ Parts map[string]json.RawMessage \`json:"parts"\` }
		json.Unmarshal(job.Manifest, &rawParts)
		top.Parts = map[string]*PartA{}
		for name, raw := range rawParts.Parts {
			p := &PartA{}
			if err := json.Unmarshal(raw, &p.Part); err != nil {
				panic(err)
			}
			p.attrs = unknown(raw, partKeys)
			top.Parts[name] = p
		}
		manifest, err := json.MarshalIndent(&top, "", " ")
		if err != nil {
			panic(err)
		}
		extra, err := json.Marshal(job.Extra)
		if err != nil {
			panic(err)
		}
		fmt.Println(base64.StdEncoding.EncodeToString(manifest), base64.StdEncoding.EncodeToString(extra))
	}
}
`;

const NASTY = ['<b>&amp;</b>', 'quote"back\\slash', 'tab\tnl\nff\fbs\b', '\u0001\u001f', 'ünï€😀', 'line\u2028sep', '/slash/', ''];

function randomString(rnd: SeededRandom, nonEmpty = true): string {
  const s = Array.from({ length: rnd.int(0, 3) }, () => rnd.pick(NASTY)).join(rnd.pick(['', ' ', '-']));
  return nonEmpty && s === '' ? 'x' : s;
}

function randomValue(rnd: SeededRandom, depth = 0): unknown {
  switch (rnd.int(0, depth > 2 ? 3 : 5)) {
    case 0:
      return randomString(rnd, false);
    case 1:
      return rnd.pick([0, 1, -1, 42, 0x7fffffff, 1.5, -0.25, 1e21, 1e-7, 123456.789, 2 ** 40]);
    case 2:
      return rnd.pick([true, false, null]);
    case 3:
      return rnd.int(0, 1000);
    case 4:
      return Array.from({ length: rnd.int(0, 3) }, () => randomValue(rnd, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: rnd.int(0, 3) }, () => [randomString(rnd, false), randomValue(rnd, depth + 1)]));
  }
}

/** Non-zero values only: Go's omitempty drops zeros, which we deliberately keep. */
function randomManifest(rnd: SeededRandom): Manifest {
  const parts: Record<string, ManifestPart> = {};
  for (let i = rnd.int(0, 5); i > 0; i--) {
    const part: ManifestPart = { type: rnd.pick(['app', 'fs', 'boot', 'pt', 'nvs']), src: randomString(rnd) };
    if (rnd.int(0, 1)) part.addr = rnd.int(1, 0x3fffff);
    if (rnd.int(0, 1)) part.size = rnd.int(1, 0xffffffff);
    if (rnd.int(0, 1)) part.fill = rnd.int(0, 255);
    if (rnd.int(0, 1)) part.flash = rnd.pick([true, false]);
    if (rnd.int(0, 1)) part.cs_sha1 = 'ab'.repeat(20);
    if (rnd.int(0, 1)) part.encrypt = true;
    if (rnd.int(0, 1)) part.ptn = randomString(rnd);
    if (rnd.int(0, 1)) part.fs_size = rnd.int(1, 1 << 20);
    if (rnd.int(0, 1)) part.update = rnd.pick([true, false]);
    for (let a = rnd.int(0, 2); a > 0; a--) part[`x_${randomString(rnd)}`] = randomValue(rnd);
    parts[`${randomString(rnd)}${i}`] = part;
  }
  const m: Manifest = { platform: 'esp32', version: randomString(rnd), build_id: randomString(rnd), parts };
  if (rnd.int(0, 1)) m.name = randomString(rnd);
  if (rnd.int(0, 1)) m.description = randomString(rnd);
  if (rnd.int(0, 1)) m.build_timestamp = '2026-01-01T00:00:00Z';
  for (let a = rnd.int(0, 3); a > 0; a--) m[`attr ${randomString(rnd)}`] = randomValue(rnd);
  return m;
}

describe('manifest and signature block vs Go encoding/json', () => {
  it.skipIf(!oracleAvailable('go'))('200 seeded manifests and extra blocks match Go byte for byte (without Go: skipped locally, fails with CI=true)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'espfleet-go-'));
    writeFileSync(join(dir, 'main.go'), GO_PROGRAM);
    const rnd = new SeededRandom(0x60);
    const jobs = Array.from({ length: 200 }, () => {
      const extra: BundleExtra = {};
      for (let a = rnd.int(0, 4); a > 0; a--) extra[rnd.pick(['sig0', 'sig3', 'sig7', 'b<>', 'ü', 'Z', randomString(rnd)])] = rnd.pick(['MEUCIQ+/=', 1, true, null, randomString(rnd, false)]);
      return { manifest: randomManifest(rnd), extra };
    });
    const input = jobs.map((j) => JSON.stringify({ Manifest: j.manifest, Extra: j.extra })).join('\n') + '\n';
    const out = expectOk(await go(['run', join(dir, 'main.go')], { input, cwd: dir, env: { GO111MODULE: 'off', GOFLAGS: '' }, timeoutMs: 180_000 }), 'go run');
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(jobs.length);
    for (const [i, line] of lines.entries()) {
      const [manifestB64, extraB64] = line.split(' ');
      const job = jobs[i]!;
      expect(new TextDecoder().decode(serializeManifest(job.manifest)), `job ${i}`).toBe(Buffer.from(manifestB64 ?? '', 'base64').toString('utf8'));
      const ours = new TextDecoder().decode(encodeSignatureBlock(job.extra));
      expect(ours, `job ${i} extra`).toBe(Object.keys(job.extra).length === 0 ? '' : Buffer.from(extraB64 ?? '', 'base64').toString('utf8'));
    }
  });
});
