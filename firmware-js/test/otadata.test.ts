// otadata (spec esp32-rom-efuse-crypto.md §6.4): CRC vectors, build/parse round
// trips, and the bootloader's copy and slot selection rules. Python's binascii.crc32
// in the oracle venv cross-checks the zlib-seed CRC.
import { describe, expect, it } from 'vitest';
import { python, expectOk } from '../../scripts/lib/oracles.ts';
import { hex, view } from '../bytes.ts';
import { OTA_STATES, buildOtadata, otadataCrc, parseOtadata } from '../partition/index.ts';
import { makeOtadataImage } from '../testgen/images.ts';
import { codeOf } from './error-codes.ts';

/** Writes one esp_ota_select_entry_t into copy `k` of an otadata image. */
function setCopy(img: Uint8Array, k: 0 | 1, seq: number, state: number = OTA_STATES.UNDEFINED, crc = otadataCrc(seq)): void {
  const v = view(img);
  img.fill(0xff, k * 0x1000, k * 0x1000 + 32);
  v.setUint32(k * 0x1000, seq, true);
  v.setUint32(k * 0x1000 + 24, state, true);
  v.setUint32(k * 0x1000 + 28, crc, true);
}

const erased = () => new Uint8Array(0x2000).fill(0xff);

describe('otadataCrc', () => {
  it('matches the spec vectors (zlib-style seed 0xFFFFFFFF)', () => {
    expect(otadataCrc(1)).toBe(0x4743989a);
    expect(otadataCrc(2)).toBe(0x55f63774);
    expect(otadataCrc(3)).toBe(0xed4a5011);
  });

  it('matches Python binascii.crc32(seq_le, 0xFFFFFFFF) for many seqs', async () => {
    const seqs = [0, 1, 2, 3, 4, 5, 100, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 123456789];
    const out = expectOk(
      await python('import binascii,struct,sys\nfor s in sys.argv[1:]: print(binascii.crc32(struct.pack("<I", int(s)), 0xFFFFFFFF))', seqs.map(String)),
      'python crc32',
    );
    expect(out.trim().split('\n').map(Number)).toEqual(seqs.map(otadataCrc));
  });
});

describe('buildOtadata / parseOtadata', () => {
  it('seq 1: copy 0 holds the spec example entry, copy 1 stays erased', () => {
    const img = buildOtadata({ seq: 1 });
    expect(img.length).toBe(0x2000);
    expect(hex(img.subarray(0, 32))).toBe('01000000' + 'ff'.repeat(20) + 'ffffffff' + '9a984347');
    expect(img.subarray(32).every((b) => b === 0xff)).toBe(true);
    expect(makeOtadataImage()).toEqual(img);
    const o = parseOtadata(img);
    expect(o.copies[0]).toMatchObject({ copy: 0, seq: 1, valid: true, crcOk: true, stateName: 'UNDEFINED', problem: null });
    expect(o.copies[1]).toMatchObject({ copy: 1, seq: 0xffffffff, valid: false, problem: 'erased' });
    expect(o.active?.copy).toBe(0);
    expect(o.bootSlot(2)).toEqual({ kind: 'ota', index: 0, seq: 1, copy: 0 });
  });

  it('later seqs alternate copies as esp_ota_set_boot_partition writes them', () => {
    for (let seq = 1; seq <= 6; seq++) {
      const o = parseOtadata(buildOtadata({ seq }));
      expect(o.active).toMatchObject({ seq, copy: (seq - 1) % 2 });
      expect(o.bootSlot(2)).toMatchObject({ kind: 'ota', index: (seq - 1) % 2 });
      expect(o.bootSlot(3)).toMatchObject({ kind: 'ota', index: (seq - 1) % 3 });
    }
  });

  it("otherCopy 'previous' keeps seq−1 in the other copy; the higher seq still wins", () => {
    const o = parseOtadata(buildOtadata({ seq: 4, otherCopy: 'previous' }));
    expect(o.copies.map((c) => c.seq)).toEqual([3, 4]);
    expect(o.copies.every((c) => c.valid)).toBe(true);
    expect(o.active?.seq).toBe(4);
  });

  it('stores the state and round-trips every named state', () => {
    for (const [name, value] of Object.entries(OTA_STATES)) {
      const o = parseOtadata(buildOtadata({ seq: 2, state: name as keyof typeof OTA_STATES }));
      expect(o.copies[1]).toMatchObject({ seq: 2, state: value, stateName: name });
      expect(o.copies[1].valid).toBe(value !== OTA_STATES.INVALID && value !== OTA_STATES.ABORTED);
    }
  });

  it('rejects bad sizes, seqs and states', () => {
    expect(codeOf(() => parseOtadata(new Uint8Array(0x1000)))).toBe('firmware.otadata.bad_size');
    expect(codeOf(() => parseOtadata(new Uint8Array(0x2001)))).toBe('firmware.otadata.bad_size');
    expect(codeOf(() => buildOtadata({ seq: 0 }))).toBe('firmware.otadata.bad_seq');
    expect(codeOf(() => buildOtadata({ seq: 0xffffffff }))).toBe('firmware.otadata.bad_seq');
    expect(codeOf(() => buildOtadata({ seq: 1, state: 'BOGUS' as never }))).toBe('firmware.otadata.bad_state');
  });
});

describe('active copy and boot slot selection (bootloader rules)', () => {
  it('the valid copy with the larger seq wins; a tie goes to copy 0', () => {
    const img = erased();
    setCopy(img, 0, 7);
    setCopy(img, 1, 4);
    expect(parseOtadata(img).active).toMatchObject({ copy: 0, seq: 7 });
    setCopy(img, 1, 9);
    expect(parseOtadata(img).active).toMatchObject({ copy: 1, seq: 9 });
    setCopy(img, 1, 7);
    expect(parseOtadata(img).active?.copy).toBe(0);
  });

  it('seqs compare unsigned (0x80000001 beats 5)', () => {
    const img = erased();
    setCopy(img, 0, 5);
    setCopy(img, 1, 0x80000001);
    expect(parseOtadata(img).active?.copy).toBe(1);
  });

  it('a copy with a bad CRC, INVALID or ABORTED state is skipped', () => {
    const img = erased();
    setCopy(img, 0, 3);
    setCopy(img, 1, 4, OTA_STATES.UNDEFINED, 0x12345678);
    let o = parseOtadata(img);
    expect(o.copies[1]).toMatchObject({ valid: false, crcOk: false, problem: 'bad_crc' });
    expect(o.active?.seq).toBe(3);
    for (const state of [OTA_STATES.INVALID, OTA_STATES.ABORTED]) {
      setCopy(img, 1, 4, state);
      o = parseOtadata(img);
      expect(o.copies[1]).toMatchObject({ valid: false, problem: 'invalid_state' });
      expect(o.bootSlot(2)).toMatchObject({ kind: 'ota', index: 0, seq: 3 });
    }
    // NEW, PENDING_VERIFY and VALID copies count.
    setCopy(img, 1, 4, OTA_STATES.PENDING_VERIFY);
    expect(parseOtadata(img).bootSlot(2)).toMatchObject({ kind: 'ota', index: 1, seq: 4 });
  });

  it('both invalid: factory if the table has one, else OTA 0; no OTA apps: factory', () => {
    const o = parseOtadata(erased());
    expect(o.active).toBeNull();
    expect(o.bootSlot(2, true)).toEqual({ kind: 'factory' });
    expect(o.bootSlot(2)).toEqual({ kind: 'ota-fallback', index: 0 });
    expect(parseOtadata(buildOtadata({ seq: 2 })).bootSlot(0)).toEqual({ kind: 'factory' });
    expect(codeOf(() => o.bootSlot(17))).toBe('firmware.otadata.bad_slot_count');
  });

  it('encrypted-looking (random) sectors are treated as invalid, not as errors', () => {
    const img = new Uint8Array(0x2000);
    for (let i = 0; i < img.length; i++) img[i] = (i * 131 + 7) & 0xff;
    const o = parseOtadata(img);
    expect(o.copies.every((c) => !c.valid)).toBe(true);
  });
});
