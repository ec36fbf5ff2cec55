// Bundle signatures (spec mongoose-os.md §1.5): keys, sign → verify, the device's
// sig_req_mask rules, openssl as an independent verifier, tampering, and seeded fuzz.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { equalBytes, hex } from '../bytes.ts';
import { FirmwareError } from '../errors.ts';
import {
  generateSigningKey,
  loadPrivateKey,
  loadPublicKey,
  mgosPublicKeyConfig,
  readBundle,
  readStoredZip,
  signBundle,
  verifyBundle,
  writeBundle,
  writeStoredZip,
  type Manifest,
} from '../bundle/index.ts';
import { expectOk, openssl, python } from '../../scripts/lib/oracles.ts';
import { SeededRandom } from './seeded-random.ts';
import { expectCode } from './error-codes.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const tmp = () => mkdtempSync(join(tmpdir(), 'espfleet-sig-'));

function sampleZip(seed = 1): Uint8Array {
  const rnd = new SeededRandom(seed);
  const manifest: Manifest = {
    name: 'demo',
    platform: 'esp32',
    version: '3.1.0',
    build_id: '20260101-000000/3.1.0@test',
    description: 'signed test bundle',
    parts: {
      app: { type: 'app', ptn: 'app_0', src: 'app.bin', encrypt: true },
      fs: { type: 'fs', ptn: 'fs_0', src: 'fs.img', fs_size: 512, encrypt: true },
      nvs: { type: 'nvs', ptn: 'nvs', size: 0x4000, fill: 0xff },
    },
  };
  return writeBundle({ manifest, files: new Map([['app.bin', rnd.bytes(1500)], ['fs.img', rnd.bytes(512)]]), extra: { channel: 'beta' } });
}

/** Re-packs `zip` with honest CRCs, replacing manifest bytes and/or its extra field. */
function repack(zip: Uint8Array, change: { manifest?: Uint8Array; extra?: Uint8Array }): Uint8Array {
  return writeStoredZip(
    readStoredZip(zip).map((e, i) => ({
      name: e.info.name,
      data: i === 0 && change.manifest ? change.manifest : e.data,
      extra: i === 0 && change.extra ? change.extra : e.info.extra,
    })),
  );
}

const k0 = generateSigningKey();
const k1 = generateSigningKey();
const k2 = generateSigningKey();

describe('signing keys', () => {
  it('generates P-256 PKCS#8, encrypted when a passphrase is given', () => {
    expect(k0.privateKeyPem).toContain('-----BEGIN PRIVATE KEY-----');
    expect(k0.publicKeyPem).toContain('-----BEGIN PUBLIC KEY-----');
    const locked = generateSigningKey({ passphrase: 'correct horse' });
    expect(locked.privateKeyPem).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    const key = loadPrivateKey(locked.privateKeyPem, 'correct horse');
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(createPublicKey(key).export({ type: 'spki', format: 'pem' })).toBe(locked.publicKeyPem);
  });

  it('an encrypted key needs its passphrase, and a wrong one says so', () => {
    const locked = generateSigningKey({ passphrase: 'pw-1' });
    const needs = expectCode(() => loadPrivateKey(locked.privateKeyPem), 'firmware.signature.needs_passphrase');
    expect(needs.hint).toBeTruthy();
    expectCode(() => loadPrivateKey(locked.privateKeyPem, 'pw-2'), 'firmware.signature.wrong_passphrase');
    expectCode(() => signBundle(sampleZip(), locked.privateKeyPem), 'firmware.signature.needs_passphrase');
  });

  it('openssl reads the encrypted key with the passphrase (and not without)', async () => {
    const locked = generateSigningKey({ passphrase: 'open sesame' });
    const dir = tmp();
    writeFileSync(join(dir, 'k.pem'), locked.privateKeyPem);
    const ok = await openssl(['pkey', '-in', join(dir, 'k.pem'), '-passin', 'pass:open sesame', '-pubout']);
    expect(expectOk(ok, 'openssl pkey')).toBe(locked.publicKeyPem);
    expect((await openssl(['pkey', '-in', join(dir, 'k.pem'), '-passin', 'pass:nope', '-pubout'])).code).not.toBe(0);
  });

  it('loads SEC1 "EC PRIVATE KEY" files as mos accepts, and refuses other curves and RSA', async () => {
    const dir = tmp();
    expectOk(await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'sec1.pem')]), 'ecparam');
    const sec1 = readFileSync(join(dir, 'sec1.pem'), 'utf8');
    expect(sec1).toContain('BEGIN EC PRIVATE KEY');
    expect(loadPrivateKey(sec1).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expectOk(await openssl(['ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', join(dir, 'p384.pem')]), 'ecparam');
    expect(expectCode(() => loadPrivateKey(readFileSync(join(dir, 'p384.pem'), 'utf8')), 'firmware.signature.bad_key').message).toContain('secp384r1');
    expectOk(await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', join(dir, 'rsa.pem')]), 'genpkey');
    expectCode(() => loadPrivateKey(readFileSync(join(dir, 'rsa.pem'), 'utf8')), 'firmware.signature.bad_key');
    expectCode(() => loadPrivateKey('not a key'), 'firmware.signature.bad_key');
  });

  it('mgosPublicKeyConfig is the base64 DER SPKI, as `openssl ec -pubout` prints it', async () => {
    const value = mgosPublicKeyConfig(k0.publicKeyPem);
    expect(value.startsWith('MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE')).toBe(true);
    expect(value).toBe(k0.publicKeyPem.replace(/-----[A-Z ]+-----|\s/g, ''));
    const dir = tmp();
    writeFileSync(join(dir, 'k.pem'), k0.privateKeyPem);
    const der = await openssl(['pkey', '-in', join(dir, 'k.pem'), '-pubout', '-outform', 'DER', '-out', join(dir, 'pub.der')]);
    expectOk(der, 'openssl pkey');
    expect(value).toBe(readFileSync(join(dir, 'pub.der')).toString('base64'));
    // The device form loads back as a key, so `update.keyN` values can be verified against directly.
    expect(loadPublicKey(value).export({ type: 'spki', format: 'pem' })).toBe(k0.publicKeyPem);
    expect(mgosPublicKeyConfig(loadPrivateKey(k0.privateKeyPem))).toBe(value);
    expectCode(() => loadPublicKey('MFkw!!'), 'firmware.signature.bad_key');
  });
});

describe('sign → verify', () => {
  const unsigned = sampleZip();
  const signed = signBundle(unsigned, k0.privateKeyPem, 0);

  it('verifies with the right key and reports the slot', () => {
    const verdict = verifyBundle(signed, [k0.publicKeyPem], 1);
    expect(verdict.accepted).toBe(true);
    expect(verdict.verifiedMask).toBe(1);
    expect(verdict.slots).toHaveLength(8);
    expect(verdict.slots[0]).toEqual({ slot: 0, present: true, verified: true });
    expect(verdict.slots[1]).toMatchObject({ slot: 1, present: false, verified: false });
    // A KeyObject, the device config form and a parsed Bundle work the same.
    expect(verifyBundle(readBundle(signed), [createPublicKey(k0.publicKeyPem)], 1).accepted).toBe(true);
    expect(verifyBundle(signed, [mgosPublicKeyConfig(k0.publicKeyPem)], 1).accepted).toBe(true);
  });

  it('leaves the manifest bytes, every other entry and the extra attributes as they were', () => {
    const before = readStoredZip(unsigned);
    const after = readStoredZip(signed);
    expect(after.map((e) => e.info.name)).toEqual(before.map((e) => e.info.name));
    for (const [i, e] of after.entries()) expect(hex(e.data)).toBe(hex(before[i]!.data));
    const bundle = readBundle(signed);
    expect(bundle.extra['channel']).toBe('beta');
    expect(Object.keys(bundle.extra)).toEqual(['channel', 'sig0']);
  });

  it('refuses with the wrong key, naming the slot', () => {
    const verdict = verifyBundle(signed, [k1.publicKeyPem], 1);
    expect(verdict.accepted).toBe(false);
    expect(verdict.verifiedMask).toBe(0);
    expect(verdict.slots[0]?.reason).toContain('sig0 does not verify');
    expect(verdict.reason).toContain('sig0');
  });

  it('two slots (sig0 and sig2) verify independently; re-signing a slot keeps the other', () => {
    const both = signBundle(signBundle(unsigned, k0.privateKeyPem, 0), loadPrivateKey(k2.privateKeyPem), 2);
    const keys = [k0.publicKeyPem, undefined, k2.publicKeyPem];
    const verdict = verifyBundle(both, keys, 0b101);
    expect(verdict).toMatchObject({ accepted: true, verifiedMask: 0b101 });
    expect(verdict.slots[2]).toEqual({ slot: 2, present: true, verified: true });
    const needs1 = verifyBundle(both, keys, 0b111);
    expect(needs1.accepted).toBe(false);
    expect(needs1.reason).toContain('sig1');
    expect(verifyBundle(both, [undefined, undefined, k2.publicKeyPem], 0b100).accepted).toBe(true);

    const resigned = signBundle(both, k1.privateKeyPem, 0);
    expect(verifyBundle(resigned, [k1.publicKeyPem, undefined, k2.publicKeyPem], 0b101).accepted).toBe(true);
    expect(verifyBundle(resigned, keys, 0b001).accepted).toBe(false);
    expect(Object.keys(readBundle(resigned).extra)).toEqual(['channel', 'sig0', 'sig2']);
  });

  it('the signature block is compact sorted JSON under 0x293A in both the local and the central header', async () => {
    const both = signBundle(signBundle(unsigned, k2.privateKeyPem, 2), k0.privateKeyPem, 0);
    const local = readBundle(both).entries[0]!.extra;
    expect(hex(local.subarray(0, 2))).toBe('3a29');
    const json = new TextDecoder().decode(local.subarray(4));
    expect(json).toMatch(/^\{"channel":"beta","sig0":"[A-Za-z0-9+/=]+","sig2":"[A-Za-z0-9+/=]+"\}$/);
    const dir = tmp();
    writeFileSync(join(dir, 'fw.zip'), both);
    const central = expectOk(await python('import sys, zipfile\nprint(zipfile.ZipFile(sys.argv[1]).infolist()[0].extra.hex())', [join(dir, 'fw.zip')]), 'zipfile');
    expect(central.trim()).toBe(hex(local));
  });

  it('openssl verifies the signature over manifest.json, both extracted by Python alone', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'fw.zip'), signed);
    writeFileSync(join(dir, 'pub.pem'), k0.publicKeyPem);
    const extract = `
import base64, json, struct, sys, zipfile
zf = zipfile.ZipFile(sys.argv[1])
info = zf.infolist()[0]
assert info.filename == 'manifest.json'
open(sys.argv[2] + '/manifest.json', 'wb').write(zf.read(info))
extra, sig = info.extra, None
while extra:
    hid, n = struct.unpack('<HH', extra[:4])
    if hid == 0x293a:
        sig = base64.b64decode(json.loads(extra[4:4 + n])['sig0'], validate=True)
    extra = extra[4 + n:]
open(sys.argv[2] + '/sig.der', 'wb').write(sig)
`;
    expectOk(await python(extract, [join(dir, 'fw.zip'), dir]), 'extract');
    const der = readFileSync(join(dir, 'sig.der'));
    expect(der[0]).toBe(0x30); // ASN.1 SEQUENCE {r, s}
    const ok = await openssl(['dgst', '-sha256', '-verify', join(dir, 'pub.pem'), '-signature', join(dir, 'sig.der'), join(dir, 'manifest.json')]);
    expect(ok.stdout.trim()).toBe('Verified OK');
    const wrong = join(dir, 'pub1.pem');
    writeFileSync(wrong, k1.publicKeyPem);
    const bad = await openssl(['dgst', '-sha256', '-verify', wrong, '-signature', join(dir, 'sig.der'), join(dir, 'manifest.json')]);
    expect(bad.stdout.trim()).toBe('Verification failure');
  });

  it('accepts a signature openssl made (DER, base64) in sig1', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'k.pem'), k1.privateKeyPem);
    writeFileSync(join(dir, 'manifest.json'), readBundle(unsigned).manifestBytes);
    expectOk(await openssl(['dgst', '-sha256', '-sign', join(dir, 'k.pem'), '-out', join(dir, 'sig.der'), join(dir, 'manifest.json')]), 'openssl sign');
    const sig1 = readFileSync(join(dir, 'sig.der')).toString('base64');
    const stored = readStoredZip(unsigned);
    const block = enc(JSON.stringify({ channel: 'beta', sig1 }));
    const extra = new Uint8Array(4 + block.length);
    extra.set([0x3a, 0x29, block.length & 0xff, block.length >> 8]);
    extra.set(block, 4);
    const zip = repack(unsigned, { extra });
    expect(stored.length).toBe(readStoredZip(zip).length);
    expect(verifyBundle(zip, [undefined, k1.publicKeyPem], 0b10)).toMatchObject({ accepted: true, verifiedMask: 0b10 });
  });
});

describe('sig_req_mask semantics', () => {
  const unsigned = sampleZip(2);
  const signed = signBundle(unsigned, k0.privateKeyPem);

  it('-1 (and any negative) accepts even an unsigned bundle, still reporting what verified', () => {
    expect(verifyBundle(unsigned, [k0.publicKeyPem], -1)).toMatchObject({ accepted: true, verifiedMask: 0 });
    expect(verifyBundle(signed, [k0.publicKeyPem], -1)).toMatchObject({ accepted: true, verifiedMask: 1 });
    expect(verifyBundle(unsigned, [], -5).accepted).toBe(true);
  });

  it('0 is the tombstone: even a validly signed bundle is refused', () => {
    const verdict = verifyBundle(signed, [k0.publicKeyPem], 0);
    expect(verdict.verifiedMask).toBe(1);
    expect(verdict.accepted).toBe(false);
    expect(verdict.reason).toContain('tombstone');
  });

  it('an unsigned bundle fails when the mask requires a signature', () => {
    const verdict = verifyBundle(unsigned, [k0.publicKeyPem], 1);
    expect(verdict.accepted).toBe(false);
    expect(verdict.slots[0]).toMatchObject({ present: false, verified: false, reason: 'the bundle has no sig0' });
  });

  it('a signature without a configured key does not count', () => {
    const verdict = verifyBundle(signed, [], 1);
    expect(verdict.accepted).toBe(false);
    expect(verdict.slots[0]?.reason).toContain('update.key0 is empty');
    expect(verifyBundle(signed, [''], 1).accepted).toBe(false); // "" is the device's unset key
  });

  it('a mask bit beyond slot 7 can never be met', () => {
    const verdict = verifyBundle(signed, [k0.publicKeyPem], 0x101);
    expect(verdict.accepted).toBe(false);
    expect(verdict.reason).toContain('bit 8');
  });

  it('bad arguments are typed errors', () => {
    expectCode(() => verifyBundle(signed, [], 1.5), 'firmware.signature.bad_mask');
    expectCode(() => verifyBundle(signed, new Array(9).fill(undefined), 1), 'firmware.signature.too_many_keys');
    expectCode(() => verifyBundle(signed, ['garbage'], 1), 'firmware.signature.bad_key');
    expectCode(() => verifyBundle(signed, [k0.privateKeyPem.replace('PRIVATE', 'PUBLIC')], 1), 'firmware.signature.bad_key');
    expectCode(() => signBundle(unsigned, k0.privateKeyPem, 8), 'firmware.signature.bad_slot');
    expectCode(() => signBundle(unsigned, createPublicKey(k0.publicKeyPem), 0), 'firmware.signature.bad_key');
  });
});

describe('tampering', () => {
  const signed = signBundle(sampleZip(3), k0.privateKeyPem);
  const manifestBytes = readBundle(signed).manifestBytes;

  it('changing any sampled byte of the manifest (re-packed with honest CRCs) fails reading or verification', () => {
    let readFailures = 0;
    let verifyFailures = 0;
    for (let at = 0; at < manifestBytes.length; at += 3) {
      const changed = manifestBytes.slice();
      changed[at] = changed[at] === 0x20 ? 0x09 : changed[at]! ^ 0x01;
      try {
        const verdict = verifyBundle(repack(signed, { manifest: changed }), [k0.publicKeyPem], 1);
        expect(verdict.accepted, `byte ${at}`).toBe(false);
        expect(verdict.slots[0]?.reason).toContain('does not verify');
        verifyFailures++;
      } catch (e) {
        expect(e, `byte ${at}`).toBeInstanceOf(FirmwareError);
        readFailures++;
      }
    }
    expect(readFailures).toBeGreaterThan(0);
    expect(verifyFailures).toBeGreaterThan(0);
  });

  it('a changed part file is caught by its digest before any signature is trusted', () => {
    const stored = readStoredZip(signed);
    const app = stored[1]!;
    const data = app.data.slice();
    data[100] = (data[100] ?? 0) ^ 0x80;
    const zip = writeStoredZip(stored.map((e, i) => ({ name: e.info.name, data: i === 1 ? data : e.data, extra: e.info.extra })));
    expect(expectCode(() => verifyBundle(zip, [k0.publicKeyPem], 1), 'firmware.bundle.checksum_mismatch').message).toContain(`part "app" (${app.info.name})`);
  });

  it('a damaged or foreign signature value is "not verified" with a reason, never an exception', () => {
    const sig0 = readBundle(signed).extra['sig0'] as string;
    const flipped = sig0.slice(0, 20) + (sig0[20] === 'A' ? 'B' : 'A') + sig0.slice(21);
    for (const [value, reason] of [
      [flipped, 'does not verify'],
      ['not base64!', 'not standard base64'],
      ['', 'not standard base64'],
      [12345, 'not standard base64'],
      [Buffer.from('hello').toString('base64'), 'does not verify'],
    ] as const) {
      const block = enc(JSON.stringify({ sig0: value }));
      const extra = Uint8Array.from([0x3a, 0x29, block.length, 0, ...block]);
      const verdict = verifyBundle(repack(signed, { extra }), [k0.publicKeyPem], 1);
      expect(verdict.accepted).toBe(false);
      expect(verdict.slots[0]?.reason).toContain(reason);
    }
  });

  it('a signature block that is not JSON, or appears twice, is firmware.signature.bad_block', () => {
    const block = enc('{"sig0": "AAAA"');
    expectCode(() => readBundle(repack(signed, { extra: Uint8Array.from([0x3a, 0x29, block.length, 0, ...block]) })), 'firmware.signature.bad_block');
    const one = readStoredZip(signed)[0]!.info.extra;
    expectCode(() => readBundle(repack(signed, { extra: Uint8Array.from([...one, ...one]) })), 'firmware.signature.bad_block');
    expectCode(() => readBundle(repack(signed, { extra: Uint8Array.from([0x3a, 0x29, 0xff, 0]) })), 'firmware.signature.bad_block');
  });
});

describe('signature: seeded fuzz', () => {
  let signed: Uint8Array;
  let manifestBytes: Uint8Array;
  beforeAll(() => {
    signed = signBundle(signBundle(sampleZip(4), k0.privateKeyPem, 0), k2.privateKeyPem, 2);
    manifestBytes = readBundle(signed).manifestBytes;
  });

  it('10,000 mutated signed bundles through verifyBundle: only FirmwareError escapes; acceptance implies the signed manifest', () => {
    const rnd = new SeededRandom(0x5167);
    const stored = readStoredZip(signed);
    const keys = [createPublicKey(k0.publicKeyPem), undefined, createPublicKey(k2.publicKeyPem)];
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 10_000; i++) {
      let zip: Uint8Array;
      switch (i % 3) {
        case 0:
          zip = rnd.mutate(signed);
          break;
        case 1:
          zip = repack(signed, { extra: rnd.mutate(stored[0]!.info.extra) });
          break;
        default:
          zip = repack(signed, { manifest: rnd.mutate(manifestBytes) });
      }
      try {
        const verdict = verifyBundle(zip, keys, rnd.pick([1, 4, 5, -1, 0]));
        if (verdict.accepted && verdict.verifiedMask !== 0) {
          accepted++;
          expect(equalBytes(readBundle(zip).manifestBytes, manifestBytes), `case ${i}`).toBe(true);
        } else refused++;
      } catch (e) {
        if (!(e instanceof FirmwareError)) throw new Error(`case ${i}: ${String(e)}`);
      }
    }
    expect(accepted).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('signing keys and the loaders never throw anything but FirmwareError on mutated PEM', () => {
    const rnd = new SeededRandom(0x6b6579);
    const pems = [enc(k0.privateKeyPem), enc(k0.publicKeyPem), enc(generateSigningKey({ passphrase: 'p' }).privateKeyPem)];
    for (let i = 0; i < 300; i++) {
      const which = rnd.int(0, 2);
      const text = new TextDecoder().decode(rnd.mutate(pems[which]!));
      try {
        if (which === 1) loadPublicKey(text);
        else loadPrivateKey(text, which === 2 ? 'p' : undefined);
      } catch (e) {
        if (!(e instanceof FirmwareError)) throw new Error(`case ${i}: ${String(e)}`);
      }
    }
    expect(createPrivateKey(k0.privateKeyPem).type).toBe('private');
  });
});
