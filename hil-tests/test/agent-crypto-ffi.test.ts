// The agent's crypto helper as the Mongoose OS double serves it (mongoose-os/agent-crypto.ts):
// mJS on a booted virtual board calls the ffi names of agent/src/espfleet_crypto.h on the
// board's own filesystem, through the same contract table as the C (agent/test/crypto-contract.ts).
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEVICE_ID, PHASE1, PHASE1_OUTPUTS, PHASE2, expected, initialFiles, issueForBoard, makeCas, report, type CryptoCase,
} from '../../agent/test/crypto-contract.ts';
import { checkCsrPolicy, parseCsr } from '../../certs/csr.ts';
import { expectOk, openssl, oracleAvailable } from '../../scripts/lib/oracles.ts';
import { createMjsEngine, parseSignature, type MjsEngine } from '../mjs/index.ts';
import { AGENT_CRYPTO_SIGNATURES, agentCryptoFfi } from '../mongoose-os/agent-crypto.ts';
import type { MgosScriptContext } from '../mongoose-os/index.ts';
import type { VirtualEsp32 } from '../index.ts';
import { mgosBoard } from './helpers/mgos-board.ts';

const haveOpenssl = oracleAvailable('openssl');

const BIND = `let keygen = ffi('${AGENT_CRYPTO_SIGNATURES.espfleet_keygen}');
let csr = ffi('${AGENT_CRYPTO_SIGNATURES.espfleet_csr}');
let not_after = ffi('${AGENT_CRYPTO_SIGNATURES.espfleet_cert_not_after}');
let matches = ffi('${AGENT_CRYPTO_SIGNATURES.espfleet_cert_matches}');
`;

/** One `print(op(args…))` line per case: the agent's way of calling the helper. */
function script(cases: CryptoCase[]): string {
  return cases.map((c) => `print(${c.op}(${c.args.map((a) => JSON.stringify(a)).join(', ')}));`).join('\n');
}

describe('Mongoose OS double: the agent crypto ffi on the board filesystem', () => {
  let work: string;
  let chip: VirtualEsp32;
  let ctx: MgosScriptContext | undefined;
  let engine: MjsEngine | undefined;
  const printed: string[] = [];
  let phase1: number[] = [];
  let phase2: number[] = [];
  let notAfter: Record<string, number> = {};

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'espfleet-crypto-ffi-'));
    const cas = await makeCas(work);
    // init.js runs phase 1 at boot, in an engine whose ffi table is the helper on this board's fs.
    chip = await mgosBoard({
      files: { ...initialFiles(), 'init.js': BIND + script(PHASE1) },
      mgos: {
        scripts: (file, source, c) => {
          ctx = c;
          engine ??= createMjsEngine({ ffi: agentCryptoFfi(c.fs), print: (line) => printed.push(line) });
          const r = engine.run(source, file);
          if (!r.ok) throw new Error(`${file}: ${r.error.message} (line ${r.error.line})`);
        },
      },
    });
    if (!ctx || !engine) throw new Error('init.js did not run');
    phase1 = printed.splice(0).map(Number);
    const fs = ctx.fs;
    notAfter = await issueForBoard({ read: (n) => fs.read(n), write: (n, d) => fs.write(n, d) }, cas);
    const r = engine.run(script(PHASE2), 'phase2.js');
    if (!r.ok) throw new Error(`phase 2: ${r.error.message} (line ${r.error.line})`);
    phase2 = printed.splice(0).map(Number);
  });

  afterAll(() => {
    chip?.powerOff();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('binds with signatures mJS accepts (ints, a double, char * only; at most 6 args)', () => {
    for (const [name, sig] of Object.entries(AGENT_CRYPTO_SIGNATURES)) {
      const parsed = parseSignature(sig);
      expect(parsed?.name).toBe(name);
      expect(parsed?.args.every((a) => a === 'char*')).toBe(true);
      expect(parsed?.ret).toBe(name === 'espfleet_cert_not_after' ? 'double' : name === 'espfleet_key_fp' ? 'char*' : 'int');
    }
    expect(Object.keys(agentCryptoFfi({ exists: () => false, read: () => new Uint8Array(), write: () => {} })).sort()).toEqual(Object.keys(AGENT_CRYPTO_SIGNATURES).sort());
  });

  it('returns the contract codes (phase 1: keys and CSRs)', () => {
    expect(report(PHASE1, phase1)).toEqual(report(PHASE1, PHASE1.map((c) => expected(c, notAfter))));
  });

  it('returns the contract codes (phase 2: notAfter and matches)', () => {
    expect(report(PHASE2, phase2)).toEqual(report(PHASE2, PHASE2.map((c) => expected(c, notAfter))));
  });

  it('writes a SEC1 P-256 key on the board and a CSR that certs/csr.ts accepts for the device id', () => {
    const fs = ctx!.fs;
    const keyPem = new TextDecoder().decode(fs.read('key.pem'));
    expect(keyPem).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n/);
    const key = createPrivateKey(keyPem);
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const csr = parseCsr(new TextDecoder().decode(fs.read('req.pem')));
    checkCsrPolicy(csr, DEVICE_ID);
    expect(Buffer.from(csr.spki)).toEqual(createPublicKey(key).export({ type: 'spki', format: 'der' }));
    checkCsrPolicy(parseCsr(new TextDecoder().decode(fs.read('long-cn.pem'))), 'a'.repeat(64));
  });

  it.skipIf(!haveOpenssl)('writes a CSR that openssl verifies, with CN and the P-256 key of key.pem', async () => {
    const fs = ctx!.fs;
    const req = join(work, 'req.pem');
    const key = join(work, 'key.pem');
    writeFileSync(req, fs.read('req.pem'));
    writeFileSync(key, fs.read('key.pem'), { mode: 0o600 });
    try {
      const verify = await openssl(['req', '-in', req, '-verify', '-noout', '-subject']);
      expectOk(verify, 'openssl req -verify');
      expect(verify.stdout + verify.stderr).toMatch(/verify OK/i);
      expect(verify.stdout).toMatch(new RegExp(`CN\\s*=\\s*${DEVICE_ID}\\s*$`, 'm'));
      const csrPub = expectOk(await openssl(['req', '-in', req, '-noout', '-pubkey']), 'openssl req -pubkey');
      expect(csrPub).toBe(expectOk(await openssl(['pkey', '-in', key, '-pubout']), 'openssl pkey -pubout'));
      expect(expectOk(await openssl(['pkey', '-pubin', '-noout', '-text'], { input: csrPub }), 'openssl pkey -text')).toMatch(/NIST CURVE: P-256/);
    } finally {
      rmSync(key);
    }
  });

  it('keeps the private key in its file on the board: no other file and nothing mJS saw holds it', () => {
    const fs = ctx!.fs;
    const names = fs.list('/').map((s) => s.name.replace(/^\//, ''));
    const certs = ['cert.pem', 'chain.pem', 'long.pem', 'other-cert.pem', 'foreign.pem', 'foreign-chain.pem', 'ca.pem', 'ca-chain.pem', 'ca-other.pem'];
    expect(names.sort()).toEqual([...Object.keys(initialFiles()), 'conf0.json', 'init.js', ...PHASE1_OUTPUTS, ...certs].sort());
    for (const keyFile of ['key.pem', 'other.pem']) {
      const d = Buffer.from(createPrivateKey(new TextDecoder().decode(fs.read(keyFile))).export({ format: 'jwk' }).d ?? '', 'base64url');
      expect(d.length).toBe(32);
      for (const name of names.filter((n) => n !== keyFile)) {
        const bytes = Buffer.from(fs.read(name));
        expect(bytes.includes(d), `${keyFile}'s scalar in ${name}`).toBe(false);
        for (const der of derBlocks(bytes.toString('latin1'))) expect(der.includes(d), `${keyFile}'s scalar in ${name} (DER)`).toBe(false);
      }
      expect(Buffer.from(chip.bootLog(), 'latin1').includes(d)).toBe(false);
    }
    // Every call gave mJS a number, nothing else.
    expect([...phase1, ...phase2].every((v) => Number.isFinite(v))).toBe(true);
  });
});

function derBlocks(text: string): Buffer[] {
  return [...text.matchAll(/-----BEGIN [A-Z ]+-----([\s\S]*?)-----END/g)].map((m) => Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64'));
}
