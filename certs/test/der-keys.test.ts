// The hand-written DER pieces and the fast P-256 key encoding, checked byte for
// byte against Node's OpenSSL encoders and known encodings.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { children, decodeOid, oid, parseDer, time, unsignedInteger } from '../der.ts';
import { ipBytes, keyUsage, KEY_USAGE } from '../extensions.ts';
import { generateLeafKeyMaterial } from '../keys.ts';
import { normalizeSerialHex, randomSerial } from '../serial.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('DER encoding', () => {
  it('encodes OIDs, integers and times as X.690 requires', () => {
    expect(hex(oid('1.2.840.10045.4.3.2'))).toBe('06082a8648ce3d040302');
    expect(decodeOid(oid('2.5.29.37').subarray(2))).toBe('2.5.29.37');
    expect(hex(unsignedInteger(Uint8Array.of(0x00, 0x00, 0x7f)))).toBe('02017f');
    expect(hex(unsignedInteger(Uint8Array.of(0x80)))).toBe('02020080');
    expect(Buffer.from(time(new Date('2049-12-31T23:59:59Z'))).toString('latin1')).toBe('\x17\x0d491231235959Z');
    expect(Buffer.from(time(new Date('2050-01-01T00:00:00Z'))).toString('latin1')).toBe('\x18\x0f20500101000000Z');
  });

  it('encodes key usage bits minimally', () => {
    // ... OCTET STRING { BIT STRING (7 unused bits) 0x80 } for digitalSignature alone.
    expect(hex(keyUsage([KEY_USAGE.digitalSignature]))).toMatch(/03020780$/);
    expect(hex(keyUsage([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]))).toMatch(/03020106$/);
  });

  it('reads nested structures and rejects truncation', () => {
    const node = parseDer(Uint8Array.from(Buffer.from('300602010502017f', 'hex')));
    expect(children(node).map((c) => hex(c.value))).toEqual(['05', '7f']);
    expect(() => parseDer(Uint8Array.from(Buffer.from('3006020105', 'hex')))).toThrow(expect.objectContaining({ code: 'certs.der.malformed' }));
  });

  it('parses IPv4 and IPv6 addresses for SANs', () => {
    expect(hex(ipBytes('192.0.2.10'))).toBe('c000020a');
    expect(hex(ipBytes('2001:db8::1'))).toBe('20010db8000000000000000000000001');
    expect(hex(ipBytes('::1'))).toBe('00000000000000000000000000000001');
  });
});

describe('serials', () => {
  it('are always 16 bytes and positive', () => {
    expect(hex(randomSerial(() => new Uint8Array(16).fill(0xff)))).toBe('7f' + 'ff'.repeat(15));
    expect(hex(randomSerial(() => new Uint8Array(16)))).toBe('40' + '00'.repeat(15));
    expect(normalizeSerialHex('0xAB:CD')).toBe('abcd');
    expect(normalizeSerialHex('xyz')).toBeUndefined();
  });
});

describe('leaf key material', () => {
  it('matches what OpenSSL encodes for the same key', () => {
    for (let i = 0; i < 20; i++) {
      const { spki, privateKeyPem } = generateLeafKeyMaterial();
      const key = createPrivateKey(privateKeyPem);
      expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
      expect(hex(key.export({ type: 'pkcs8', format: 'der' }))).toBe(hex(Buffer.from(privateKeyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64')));
      expect(hex(createPublicKey(key).export({ type: 'spki', format: 'der' }))).toBe(hex(spki));
    }
  });
});
