// The table-driven AES-256 against OpenSSL (node:crypto) and the FIPS-197 vector.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromHex, hex } from '../bytes.ts';
import { cryptBlock, expandDecryptKey, expandKey } from '../flash-encryption/aes256.ts';
import { SeededRandom } from './seeded-random.ts';

describe('AES-256 block primitives', () => {
  it('reproduces the FIPS-197 appendix C.3 vector both ways', () => {
    const key = fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
    const plain = fromHex('00112233445566778899aabbccddeeff');
    const out = new Uint8Array(16);
    cryptBlock(expandKey(key), plain, out, false);
    expect(hex(out)).toBe('8ea2b7ca516745bfeafc49904b496089');
    const back = new Uint8Array(16);
    cryptBlock(expandDecryptKey(key), out, back, true);
    expect(hex(back)).toBe(hex(plain));
  });

  it('agrees with OpenSSL on 500 seeded keys and blocks', () => {
    const rnd = new SeededRandom(99);
    for (let i = 0; i < 500; i++) {
      const key = rnd.bytes(32);
      const block = rnd.bytes(16);
      const enc = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false).update(block);
      const dec = createDecipheriv('aes-256-ecb', key, null).setAutoPadding(false).update(block);
      const ours = new Uint8Array(16);
      cryptBlock(expandKey(key), block, ours, false);
      expect(hex(ours)).toBe(hex(enc));
      cryptBlock(expandDecryptKey(key), block, ours, true);
      expect(hex(ours)).toBe(hex(dec));
    }
  });
});
