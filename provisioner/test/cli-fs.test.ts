// `espfleet fs build|ls|cat|put|rm`, run in-process, with the reference littlefs
// (littlefs-python) checking every image the commands write.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/program.ts';
import { runReference, toHex, type RefEntry } from '../../firmware-js/test/littlefs-reference.ts';
import { SeededRandom } from '../../firmware-js/test/seeded-random.ts';

const work = mkdtempSync(join(tmpdir(), 'cli-fs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<{ code: number; stdout: Buffer; out: string; err: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (into: Buffer[]) => ({ write: (chunk: string | Uint8Array) => (into.push(Buffer.from(chunk)), true) });
  const code = await runCli(argv, { stdout: sink(out), stderr: sink(err), env: {}, cwd: work });
  const stdout = Buffer.concat(out);
  return { code, stdout, out: stdout.toString('utf8'), err: Buffer.concat(err).toString('utf8') };
}

async function referenceTree(image: string): Promise<RefEntry[]> {
  const [r] = await runReference([{ op: 'read', image, block_size: 4096 }]);
  if (!r?.ok) throw new Error(`reference could not read ${image}: ${r ? (r as { error: string }).error : 'no result'}`);
  return r.entries ?? [];
}

const rnd = new SeededRandom(42);
const source = join(work, 'agent-fs');
const files: Record<string, Uint8Array> = {
  'init.js': new TextEncoder().encode('load("api_mqtt.js");\n'),
  'conf0.json': new TextEncoder().encode('{}\n'),
  'certs/ca.pem': rnd.bytes(1500),
  'lib/big.bin': rnd.bytes(3 * 4096 + 17),
};
mkdirSync(join(source, 'certs'), { recursive: true });
mkdirSync(join(source, 'lib'), { recursive: true });
mkdirSync(join(source, 'empty'), { recursive: true });
for (const [p, d] of Object.entries(files)) writeFileSync(join(source, p), d);
const img = join(work, 'fs.img');

describe('espfleet fs', () => {
  it('build writes an image the reference mounts with the same tree', async () => {
    const r = await cli('fs', 'build', '--size', '256k', '--out', img, source);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/4 files \(\d+ bytes\), 3 directories/);
    expect(readFileSync(img).length).toBe(262144);
    const tree = await referenceTree(img);
    expect(tree.map((e) => e.path).sort()).toEqual(['/certs', '/certs/ca.pem', '/conf0.json', '/empty', '/init.js', '/lib', '/lib/big.bin']);
    for (const [p, d] of Object.entries(files)) expect(tree.find((e) => e.path === `/${p}`)?.hex).toBe(toHex(d));
  });

  it('ls shows the tree with sizes, and --json the same data', async () => {
    const r = await cli('fs', 'ls', img);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^certs\/$/m);
    expect(r.out).toMatch(/^ {2}ca\.pem\s+1500$/m);
    expect(r.out).toMatch(/^lib\/\n {2}big\.bin\s+12305$/m);
    expect(r.out).toMatch(/4 files, 3 directories, \d+ bytes; \d+ of 64 blocks used \(4096-byte blocks/);
    const j = JSON.parse((await cli('fs', 'ls', img, '--json')).out) as { blockSize: number; blockCount: number; version: string; entries: Array<{ path: string; type: string; size: number }> };
    expect(j).toMatchObject({ blockSize: 4096, blockCount: 64, version: '2.0' });
    expect(j.entries).toContainEqual({ path: '/lib/big.bin', type: 'file', size: 12305 });
    expect(j.entries).toContainEqual({ path: '/empty', type: 'dir', size: 0 });
    const sub = await cli('fs', 'ls', img, '/certs');
    expect(sub.out.split('\n')[0]).toMatch(/^ca\.pem\s+1500$/);
  });

  it('cat writes the raw bytes', async () => {
    const r = await cli('fs', 'cat', img, '/lib/big.bin');
    expect(r.code).toBe(0);
    expect(toHex(r.stdout)).toBe(toHex(files['lib/big.bin']!));
  });

  it('put adds and replaces files, rm removes them; the reference agrees', async () => {
    const local = join(work, 'conf9.json');
    writeFileSync(local, '{"device":{"id":"esp32_0A1B2C"}}');
    expect((await cli('fs', 'put', img, local, '/conf9.json')).out).toMatch(/added \/conf9\.json \(32 bytes\)/);
    writeFileSync(local, '{"device":{"id":"esp32_FFFFFF"}}');
    expect((await cli('fs', 'put', img, local, '/conf9.json')).out).toMatch(/replaced \/conf9\.json/);
    expect((await cli('fs', 'put', img, join(source, 'lib/big.bin'), '/certs/new/copy.bin')).code).toBe(0);
    expect((await cli('fs', 'rm', img, '/init.js')).code).toBe(0);
    expect((await cli('fs', 'rm', img, '/empty')).out).toMatch(/removed directory \/empty/);
    const tree = await referenceTree(img);
    expect(tree.map((e) => e.path).sort()).toEqual(['/certs', '/certs/ca.pem', '/certs/new', '/certs/new/copy.bin', '/conf0.json', '/conf9.json', '/lib', '/lib/big.bin']);
    expect(Buffer.from(tree.find((e) => e.path === '/conf9.json')!.hex!, 'hex').toString()).toBe('{"device":{"id":"esp32_FFFFFF"}}');
    expect(tree.find((e) => e.path === '/certs/new/copy.bin')?.hex).toBe(toHex(files['lib/big.bin']!));
    expect((await cli('fs', 'cat', img, '/conf9.json')).out).toBe('{"device":{"id":"esp32_FFFFFF"}}');
  });

  it('errors are one line with the code and a hint, and a failed put leaves the image unchanged', async () => {
    const before = readFileSync(img);
    const missing = await cli('fs', 'cat', img, '/nope.txt');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^error: \/nope\.txt not found in the LittleFS image \[firmware\.littlefs\.not_found\]\nhint: /);
    const huge = join(work, 'huge.bin');
    writeFileSync(huge, rnd.bytes(300_000));
    const full = await cli('fs', 'put', img, huge, '/huge.bin');
    expect(full.code).toBe(1);
    expect(full.err).toMatch(/\[firmware\.littlefs\.no_space\]/);
    expect(readFileSync(img).equals(before)).toBe(true);
    const notEmpty = await cli('fs', 'rm', img, '/certs');
    expect(notEmpty.err).toMatch(/\[firmware\.littlefs\.not_empty\]/);
    const notFs = join(work, 'zeros.img');
    writeFileSync(notFs, new Uint8Array(65536));
    expect((await cli('fs', 'ls', notFs)).err).toMatch(/\[firmware\.littlefs\.not_littlefs\]/);
    expect((await cli('fs', 'build', '--size', '1000', '--out', join(work, 'x.img'), source)).err).toMatch(/not a whole number/);
  });

  it('every subcommand has help with an example', async () => {
    for (const sub of ['build', 'ls', 'cat', 'put', 'rm']) {
      const r = await cli('fs', sub, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/Example/);
      expect(r.out).toContain(`espfleet fs ${sub}`);
    }
  });
});
