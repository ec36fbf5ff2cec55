// Seeded mutation fuzz of the DER reader and the CSR parser + policy (certs/der.ts,
// certs/csr.ts): 12,000 inputs made from valid openssl CSRs (bit flips, truncations,
// length-byte edits, random bytes, splices). Only typed errors (EspfleetError) may come
// out, and nothing but an unchanged valid CSR may pass parse + policy.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EspfleetError } from '../../firmware-js/errors.ts';
import { SeededRandom } from '../../firmware-js/test/seeded-random.ts';
import { expectOk, openssl } from '../../scripts/lib/oracles.ts';
import { checkCsrPolicy, parseCsr } from '../csr.ts';
import { children, decodeOid, parseDer, readNode } from '../der.ts';
import { fromPem, toPem } from '../pem.ts';
import { tempDir } from './helpers.ts';

const CN = 'esp32_0a1b2c';
const seeds: Uint8Array[] = [];
let ed25519Csr: Uint8Array;

beforeAll(async () => {
  const tmp = tempDir();
  const kinds: Array<[string, string[], string]> = [
    ['p256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], `/CN=${CN}`],
    ['p256-multi', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], `/C=DE/O=Fleet/CN=${CN}`],
    ['rsa', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], `/CN=${CN}`],
  ];
  for (const [name, keyArgs, subject] of kinds) {
    const key = join(tmp.path, `${name}.key`);
    expectOk(await openssl(['genpkey', ...keyArgs, '-out', key]), 'genpkey');
    const pem = expectOk(await openssl(['req', '-new', '-key', key, '-subj', subject]), 'req -new');
    seeds.push(fromPem(pem, 'CERTIFICATE REQUEST', name));
  }
  const ed = join(tmp.path, 'ed25519.key');
  expectOk(await openssl(['genpkey', '-algorithm', 'ED25519', '-out', ed]), 'genpkey ed25519');
  ed25519Csr = fromPem(expectOk(await openssl(['req', '-new', '-key', ed, '-subj', `/CN=${CN}`]), 'req -new ed25519'), 'CERTIFICATE REQUEST', 'ed25519');
}, 60_000);

/** Offsets of every TLV header in a DER tree (for length-byte edits). */
function headers(der: Uint8Array): Array<{ at: number; lenAt: number; lenBytes: number }> {
  const out: Array<{ at: number; lenAt: number; lenBytes: number }> = [];
  const walk = (bytes: Uint8Array, base: number) => {
    for (let at = 0; at < bytes.length; ) {
      const n = readNode(bytes, at);
      const first = bytes[at + 1] ?? 0;
      out.push({ at: base + at, lenAt: base + at + 1, lenBytes: first & 0x80 ? 1 + (first & 0x7f) : 1 });
      if (n.tag & 0x20) walk(n.value, base + (n.end - n.value.length));
      at = n.end;
    }
  };
  walk(der, 0);
  return out;
}

function mutateLength(rnd: SeededRandom, der: Uint8Array): Uint8Array {
  const h = rnd.pick(headers(der));
  const out = der.slice();
  switch (rnd.int(0, 4)) {
    case 0: // off by a little
      out[h.lenAt + h.lenBytes - 1] = ((out[h.lenAt + h.lenBytes - 1] ?? 0) + rnd.pick([1, -1, 2, -2, 0x80])) & 0xff;
      return out;
    case 1: // long form with a huge or zero count of length bytes
      out[h.lenAt] = rnd.pick([0x80, 0x84, 0x85, 0x88, 0xff, 0x81]);
      return out;
    case 2: // non-minimal long form of the same length
      if (h.lenBytes === 1 && (out[h.lenAt] ?? 0) < 0x80) return Uint8Array.from([...out.subarray(0, h.lenAt), 0x81, ...out.subarray(h.lenAt)]);
      return out;
    case 3: // tag change (also high-tag-number form and primitive/constructed flips)
      out[h.at] = rnd.pick([0x1f, 0x3f, (out[h.at] ?? 0) ^ 0x20, 0x04, 0x30, 0x31, 0xa0, 0x02, 0x05, rnd.int(0, 255)]);
      return out;
    default: // length bytes set to extremes
      for (let i = 1; i < h.lenBytes; i++) out[h.lenAt + i] = rnd.pick([0x00, 0xff]);
      return out;
  }
}

function mutant(rnd: SeededRandom): Uint8Array {
  let input = rnd.pick(seeds);
  for (let m = rnd.int(1, 3); m > 0; m--) {
    switch (rnd.int(0, 5)) {
      case 0:
      case 1:
        input = rnd.mutate(input);
        break;
      case 2: // bit flip
        input = input.slice();
        if (input.length) {
          const at = rnd.int(0, input.length - 1);
          input[at] = (input[at] as number) ^ (1 << rnd.int(0, 7));
        }
        break;
      case 3: // truncation
        input = input.subarray(0, rnd.int(0, input.length));
        break;
      case 4:
        try {
          input = mutateLength(rnd, input);
        } catch {
          input = rnd.mutate(input); // already not DER: any mutation will do
        }
        break;
      default: // random bytes, sometimes behind a plausible SEQUENCE header
        input = rnd.int(0, 1) ? rnd.bytes(rnd.int(0, 600)) : Uint8Array.from([0x30, 0x82, rnd.int(0, 3), rnd.int(0, 255), ...rnd.bytes(rnd.int(0, 600))]);
    }
  }
  return input;
}

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

describe('DER / CSR fuzz', () => {
  it('the seeds are valid CSRs under the device policy', () => {
    expect(seeds).toHaveLength(3);
    for (const s of seeds) checkCsrPolicy(parseCsr(s), CN);
  });

  it('12,000 mutated CSRs: only typed errors; only an unchanged CSR is accepted', () => {
    const rnd = new SeededRandom(0xc5f0);
    const codes = new Map<string, number>();
    let accepted = 0;
    for (let i = 0; i < 12_000; i++) {
      const der = mutant(rnd);
      const asPem = i % 10 === 0;
      try {
        const csr = parseCsr(asPem ? toPem('CERTIFICATE REQUEST', der) : der);
        checkCsrPolicy(csr, CN);
        if (!seeds.some((s) => equal(s, der))) throw new Error(`case ${i}: garbage accepted: ${Buffer.from(der).toString('hex')}`);
        accepted++;
      } catch (e) {
        if (!(e instanceof EspfleetError)) throw new Error(`case ${i}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} for ${Buffer.from(der).toString('hex')}`, { cause: e });
        expect(e.code, `case ${i}`).toMatch(/^certs\./);
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      }
    }
    expect([...codes.keys()]).toEqual(expect.arrayContaining(['certs.csr.malformed', 'certs.csr.bad_signature', 'certs.pem.missing']));
    expect(codes.get('certs.csr.malformed')).toBeGreaterThan(5000);
    expect(codes.size).toBeGreaterThanOrEqual(4);
    expect(accepted).toBeGreaterThan(0); // some mutations leave (or restore) a valid CSR
  });

  it('the DER reader alone: 12,000 mutants give a tree or certs.der.malformed, nothing else', () => {
    const rnd = new SeededRandom(0xde70);
    let parsed = 0;
    for (let i = 0; i < 12_000; i++) {
      const der = mutant(rnd);
      try {
        const walk = (n: ReturnType<typeof parseDer>, depth: number): void => {
          if (n.tag === 0x06) decodeOid(n.value);
          if (n.tag & 0x20 && depth < 64) for (const c of children(n)) walk(c, depth + 1);
        };
        walk(parseDer(der), 0);
        parsed++;
      } catch (e) {
        if (!(e instanceof EspfleetError)) throw new Error(`case ${i}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} for ${Buffer.from(der).toString('hex')}`, { cause: e });
        expect(e.code, `case ${i}`).toBe('certs.der.malformed');
      }
    }
    expect(parsed).toBeGreaterThan(100);
  });

  it('an Ed25519 CSR relabelled ecdsa-with-SHA256: certs.csr.key_not_allowed, not a raw OpenSSL error from verify()', () => {
    // Ed25519's OID 1.3.101.112 (06 03 2b 65 70) → ecdsa-with-SHA256 1.2.840.10045.4.3.2; lengths fixed up.
    const hex = Buffer.from(ed25519Csr).toString('hex');
    const algAt = hex.lastIndexOf('300506032b6570');
    expect(algAt).toBeGreaterThan(0);
    const ecdsaAlg = '300a06082a8648ce3d040302';
    const body = hex.slice(hex.startsWith('3081') ? 6 : 4, algAt) + ecdsaAlg + hex.slice(algAt + 14);
    const len = body.length / 2;
    const relabelled = Uint8Array.from(Buffer.from((len < 0x80 ? '30' + len.toString(16).padStart(2, '0') : '3081' + len.toString(16).padStart(2, '0')) + body, 'hex'));
    const csr = parseCsr(relabelled);
    expect(csr.signatureOid).toBe('1.2.840.10045.4.3.2');
    let code = 'accepted';
    try {
      checkCsrPolicy(csr, CN);
    } catch (e) {
      code = e instanceof EspfleetError ? e.code : `untyped ${(e as Error).message}`;
    }
    expect(code).toBe('certs.csr.key_not_allowed');
  });

  it('refuses non-DER encodings a lax reader would take', () => {
    const malformed = (hex: string) => {
      try {
        parseDer(Uint8Array.from(Buffer.from(hex, 'hex')));
      } catch (e) {
        return (e as EspfleetError).code;
      }
      return 'parsed';
    };
    expect(malformed('3003020100')).toBe('parsed');
    expect(malformed('308103020100')).toBe('certs.der.malformed'); // non-minimal length
    expect(malformed('30820003020100')).toBe('certs.der.malformed'); // non-minimal long form
    expect(malformed('3080020100' + '0000')).toBe('certs.der.malformed'); // indefinite length (BER)
    expect(malformed('1f8101020100')).toBe('certs.der.malformed'); // high tag number form
    expect(() => decodeOid(new Uint8Array(0))).toThrow(EspfleetError);
    expect(() => decodeOid(Uint8Array.of(0x2a, 0x86))).toThrow(EspfleetError); // arc cut short
  });
});
