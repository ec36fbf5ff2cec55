// Flash encryption against the spec's vectors and, byte for byte, against
// Espressif's espsecure on seeded random vectors.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromHex, hex } from '../bytes.ts';
import {
  blk1WordsToKeyFile,
  decryptFlash,
  encryptFlash,
  keyFileToBlk1Words,
  tweakKey,
} from '../flash-encryption/index.ts';
import { expectOk, python } from '../../scripts/lib/oracles.ts';
import { codeOf } from './error-codes.ts';
import { SeededRandom } from './seeded-random.ts';

const SPEC_KEY = fromHex('e63e5c272ae7e59bc31838258ede071e712bdd3812c0c24c6d2abb4587a299df');
const SPEC_PLAIN = fromHex(
  'e90402106c070840ee0000000000000000000000000000011000ff3f04000000ffffffff1400ff3fb01700000000000000000080000000a0000000c0000000e0',
);

describe('flash encryption: spec vectors (esp32-rom-efuse-crypto.md §4.1)', () => {
  it('matches espsecure bootloader-encrypted.bin at 0x1000, conf 0xF', () => {
    expect(hex(encryptFlash(SPEC_PLAIN, 0x1000, SPEC_KEY, 0xf))).toBe(
      '99fcd8382836069196b26b0ad54583c6844e30ac781437af8f5e9220da4245dabe62167ecbe8e33720cae4095b95eb0719675ae0b076ef71fc4a3630d6fa1d36',
    );
  });

  it('matches bootloader-encrypted-conf0.bin (no tweak)', () => {
    expect(hex(encryptFlash(SPEC_PLAIN, 0x1000, SPEC_KEY, 0x0))).toBe(
      'f0c669a85acf0cdc62ed8803794098873366ee2ccbd194517c3f549197e28f868b869693474f7ef19895489aaf40b03a1acbc1e3129f1bbe77afe57ff4955175',
    );
  });

  it('derives the documented tweaked keys', () => {
    expect(hex(tweakKey(SPEC_KEY, 0x1000, 0xf))).toBe('e62e5c252ae7a58bc31a3825cede0f16712add3832c0c64c6d28bb45c7a291df');
    expect(hex(tweakKey(SPEC_KEY, 0x1020, 0xf))).toBe('e62e7c252ee7a50be31a3c25ce5e0f06612adf383280c6444d28bf45c72291ce');
  });

  it.each([
    ['zero key @0x0', new Uint8Array(32), 0x0, 'b431b566b3bb8f0febdd91fae11c6767'],
    ['zero key @0x1000', new Uint8Array(32), 0x1000, '15998590102c8d1309305a7f5603181b'],
    ['zero key @0x10000', new Uint8Array(32), 0x10000, '4f8c79437e9b0ceaebf376aaa197deca'],
    ['counting key @0x20000', Uint8Array.from({ length: 32 }, (_, i) => i), 0x20000, 'c8c20511fa8e42b5189f5013b6c726a1'],
  ])('synthetic vector: %s', (_name, key, address, half) => {
    expect(hex(encryptFlash(new Uint8Array(32), address, key))).toBe(half + half);
  });

  it('decrypt inverts encrypt at any 16-aligned address and config', () => {
    const rnd = new SeededRandom(7);
    for (let i = 0; i < 50; i++) {
      const key = rnd.bytes(32);
      const address = rnd.int(0, 0x3fff) * 16;
      const data = rnd.bytes(rnd.int(1, 64) * 16);
      const conf = rnd.int(0, 15);
      const encrypted = encryptFlash(data, address, key, conf);
      expect(hex(encrypted)).not.toBe(hex(data));
      expect(hex(decryptFlash(encrypted, address, key, conf))).toBe(hex(data));
    }
  });

  it('uses key || key[8:16] for a 24-byte 3/4-coding key, as espsecure does', () => {
    const key24 = Uint8Array.from({ length: 24 }, (_, i) => 0x40 + i);
    const key32 = Uint8Array.from([...key24, ...key24.subarray(8, 16)]);
    const data = new SeededRandom(3).bytes(64);
    expect(hex(encryptFlash(data, 0x8000, key24))).toBe(hex(encryptFlash(data, 0x8000, key32)));
  });

  it('rejects bad keys, addresses, lengths and configs with typed errors', () => {
    expect(codeOf(() => encryptFlash(new Uint8Array(32), 0, new Uint8Array(16)))).toBe('firmware.flash_encryption.bad_key_length');
    expect(codeOf(() => encryptFlash(new Uint8Array(32), 8, SPEC_KEY))).toBe('firmware.flash_encryption.bad_address');
    expect(codeOf(() => encryptFlash(new Uint8Array(31), 0, SPEC_KEY))).toBe('firmware.flash_encryption.bad_length');
    expect(codeOf(() => encryptFlash(new Uint8Array(32), 0, SPEC_KEY, 16))).toBe('firmware.flash_encryption.bad_config');
    expect(codeOf(() => encryptFlash(new Uint8Array(32), 0xfffff0, SPEC_KEY))).toBe(
      'firmware.flash_encryption.address_out_of_range',
    );
  });
});

describe('flash encryption: key file ↔ BLK1 words (spec §3.6)', () => {
  it('reproduces the espefuse register dump for 256bit_key.bin', () => {
    const words = Array.from(keyFileToBlk1Words(SPEC_KEY), (w) => w.toString(16).padStart(8, '0'));
    expect(words).toEqual(['87a299df', '6d2abb45', '12c0c24c', '712bdd38', '8ede071e', 'c3183825', '2ae7e59b', 'e63e5c27']);
    expect(hex(blk1WordsToKeyFile(keyFileToBlk1Words(SPEC_KEY)))).toBe(hex(SPEC_KEY));
  });
});

describe('flash encryption vs espsecure (PyPI esptool oracle)', () => {
  it('equals `espsecure encrypt-flash-data` on 60 seeded vectors, and espsecure decrypts ours', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'espfleet-fe-'));
    const rnd = new SeededRandom(20261123);
    const vectors = Array.from({ length: 60 }, (_, i) => {
      const key = rnd.bytes(32);
      const address = rnd.int(0, (1 << 19) - 1) * 32; // 32-byte aligned, within 16 MiB
      const data = rnd.bytes(rnd.int(1, 128) * 32);
      const conf = i < 10 ? 0xf : rnd.int(0, 15);
      writeFileSync(join(dir, `k${i}.bin`), key);
      writeFileSync(join(dir, `p${i}.bin`), data);
      writeFileSync(join(dir, `ours${i}.bin`), encryptFlash(data, address, key, conf));
      return { key, address, data, conf };
    });
    // One Python process runs espsecure's own command line for every vector.
    const script = `
import espsecure, json, sys, os
os.chdir(sys.argv[1])
for i, v in enumerate(json.loads(sys.argv[2])):
    a, c = hex(v['address']), str(v['conf'])
    espsecure.main(['encrypt-flash-data', '-k', f'k{i}.bin', '-a', a, '--flash-crypt-conf', c, '-o', f'theirs{i}.bin', f'p{i}.bin'])
    espsecure.main(['decrypt-flash-data', '-k', f'k{i}.bin', '-a', a, '--flash-crypt-conf', c, '-o', f'back{i}.bin', f'ours{i}.bin'])
`;
    const meta = JSON.stringify(vectors.map(({ address, conf }) => ({ address, conf })));
    expectOk(await python(script, [dir, meta]), 'espsecure');
    vectors.forEach(({ data, address, key, conf }, i) => {
      const theirs = new Uint8Array(readFileSync(join(dir, `theirs${i}.bin`)));
      expect(hex(theirs), `vector ${i} @0x${address.toString(16)} conf ${conf}`).toBe(
        hex(encryptFlash(data, address, key, conf)),
      );
      expect(hex(new Uint8Array(readFileSync(join(dir, `back${i}.bin`))))).toBe(hex(data));
    });
  });
});

describe('flash encryption: inputs are never changed', () => {
  it('leaves a Buffer key as it was (Buffer.slice is a view, so a copy must be a real copy)', () => {
    const key = Buffer.from(SPEC_KEY);
    const before = Buffer.from(key);
    const viaBuffer = encryptFlash(SPEC_PLAIN, 0x1000, key, 0xf);
    expect(key.equals(before)).toBe(true);
    expect(hex(viaBuffer)).toBe(hex(encryptFlash(SPEC_PLAIN, 0x1000, SPEC_KEY, 0xf)));
    tweakKey(key, 0x1234560, 0xf);
    expect(key.equals(before)).toBe(true);
  });
});
