// The pure parts of enablement: key byte order against the spec's verified BLK1 table
// (§3.6), what each mode burns (§5.3/§5.4), and reading key evidence from a raw sector.
import { describe, expect, it } from 'vitest';
import { encryptFlash } from '../../firmware-js/flash-encryption/index.ts';
import { makeBootloaderImage } from '../../firmware-js/testgen/images.ts';
import { blockWordsToKey, configTargets, counterTarget, judgeBootloaderSector, keyToBlockWords, protectionTargets } from '../encryption/index.ts';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

describe('key byte order (spec §3.6)', () => {
  it('puts the verified 256bit_key.bin into RDATA0..7 exactly as espefuse burn_key does', () => {
    const key = hex('e63e5c272ae7e59bc31838258ede071e712bdd3812c0c24c6d2abb4587a299df');
    expect(keyToBlockWords(key)).toEqual([0x87a299df, 0x6d2abb45, 0x12c0c24c, 0x712bdd38, 0x8ede071e, 0xc3183825, 0x2ae7e59b, 0xe63e5c27]);
    expect(blockWordsToKey(keyToBlockWords(key))).toEqual(key);
  });

  it('a 24-byte (3/4 coding) key: six words, last key bytes first, and back', () => {
    const key = hex('000102030405060708090a0b0c0d0e0f1011121314151617');
    expect(keyToBlockWords(key)).toEqual([0x14151617, 0x10111213, 0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203]);
    expect(blockWordsToKey(keyToBlockWords(key))).toEqual(key);
    expect(() => keyToBlockWords(new Uint8Array(16))).toThrow(/32 or 24 bytes, got 16/);
  });
});

describe('modes (spec §5.3, §5.4)', () => {
  it('development: config only, one more counter bit; release: disables, DIS_CACHE lock, counter 0x7F', () => {
    expect(configTargets('development')).toEqual({ FLASH_CRYPT_CONFIG: 0xf });
    expect(configTargets('release')).toEqual({ FLASH_CRYPT_CONFIG: 0xf, DISABLE_DL_ENCRYPT: 1, DISABLE_DL_DECRYPT: 1, DISABLE_DL_CACHE: 1, JTAG_DISABLE: 1, CONSOLE_DEBUG_DISABLE: 1 });
    expect(protectionTargets('development')).toEqual({ RD_DIS: 0b1, WR_DIS: 0x80 });
    expect(protectionTargets('release')).toEqual({ RD_DIS: 0b1, WR_DIS: 0x88 });
    expect([0, 1, 0b11, 0b1011, 0b0111111].map((c) => counterTarget('development', c))).toEqual([1, 1, 0b111, 0b1011, 0b1111111]);
    expect([0, 1, 0b11].map((c) => counterTarget('release', c))).toEqual([0x7f, 0x7f, 0x7f]);
  });
});

describe('key evidence from the raw bootloader sector', () => {
  it('match, plaintext, blank and mismatch', () => {
    const key = hex('00'.repeat(31) + '01');
    const other = hex('00'.repeat(31) + '02');
    const boot = makeBootloaderImage().subarray(0, 32);
    const cipher = encryptFlash(boot, 0x1000, key, 0xf);
    expect(judgeBootloaderSector(cipher, key, 0xf)).toBe('match');
    expect(judgeBootloaderSector(cipher, other, 0xf)).toBe('mismatch');
    // The address is part of the key tweak: ciphertext made for another offset does not match.
    expect(judgeBootloaderSector(encryptFlash(boot, 0x2000, key, 0xf), key, 0xf)).toBe('mismatch');
    expect(judgeBootloaderSector(boot, key, 0xf)).toBe('plaintext');
    expect(judgeBootloaderSector(new Uint8Array(32).fill(0xff), key, 0xf)).toBe('blank');
  });
});
