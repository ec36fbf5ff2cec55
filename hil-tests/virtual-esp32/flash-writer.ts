// One FLASH_BEGIN…FLASH_END (or FLASH_DEFL_*) session (spec esp32-rom-efuse-crypto.md §1.7,
// §1.9, §1.10): the ROM erases everything up front and places block `seq` at offset + seq ×
// block size; the stubs take the exact size, erase sectors lazily just ahead of the data and
// write sequentially. Compressed sessions inflate across packets.
import { FLASH_SECTOR } from './targets/esp32.ts';
import type { NorFlash } from './nor-flash.ts';
import { Inflater } from './inflater.ts';

export type WriterMode = 'rom' | 'stub';

export interface WriterParams {
  mode: WriterMode;
  compressed: boolean;
  /** ROM: bytes to erase (uncompressed size rounded up for DEFL); stub: exact byte count. */
  size: number;
  numBlocks: number;
  blockSize: number;
  offset: number;
  /** Writes go through the flash-encryption engine (stub FLASH_BEGIN 5th word / FLASH_ENCRYPT_DATA). */
  encrypt: boolean;
}

export type WriteOutcome = { ok: true } | { ok: false; reason: 'range' | 'too_much' | 'inflate' | 'encrypt'; detail: string };

export class FlashWriter {
  /** Bytes still expected (stub) — FLASH_END fails while this is non-zero. */
  remaining: number;
  written = 0;
  private cursor: number;
  private erasedUpTo: number;
  private readonly inflater: Inflater | undefined;
  private carry: { address: number; bytes: Uint8Array } | undefined;

  constructor(
    readonly params: WriterParams,
    private readonly flash: NorFlash,
    private readonly encryptor?: (data: Uint8Array, address: number) => Uint8Array,
  ) {
    this.remaining = params.size;
    this.cursor = params.offset;
    this.erasedUpTo = Math.floor(params.offset / FLASH_SECTOR) * FLASH_SECTOR;
    if (params.compressed) this.inflater = new Inflater();
  }

  /** The ROM's FLASH_BEGIN erases the whole announced range before answering. */
  eraseUpFront(): WriteOutcome {
    if (this.params.mode !== 'rom' || this.params.size === 0) return { ok: true };
    const end = this.params.offset + this.params.size;
    if (!this.flash.contains(this.params.offset, Math.min(this.params.size, this.flash.size - this.params.offset)) || this.params.offset >= this.flash.size) {
      return { ok: false, reason: 'range', detail: `begin at 0x${this.params.offset.toString(16)} is outside the flash` };
    }
    this.flash.eraseCovering(this.params.offset, Math.min(end, this.flash.size) - this.params.offset);
    this.erasedUpTo = Math.ceil(Math.min(end, this.flash.size) / FLASH_SECTOR) * FLASH_SECTOR;
    return { ok: true };
  }

  /** One FLASH_DATA / FLASH_DEFL_DATA payload (already checksum-verified). */
  async block(seq: number, payload: Uint8Array): Promise<WriteOutcome> {
    if (this.inflater) {
      let plain: Uint8Array;
      try {
        plain = await this.inflater.push(payload);
      } catch (e) {
        return { ok: false, reason: 'inflate', detail: (e as Error).message };
      }
      return this.store(plain, this.cursor);
    }
    if (this.params.mode === 'rom') {
      // The ROM places blocks by sequence number, so a retried block lands in the same place.
      // Blocks larger than esptool's 0x400 (esptool-js sends 0x4000 even to the ROM) are taken
      // as they come: whether the ESP32 ROM accepts them is unconfirmed [U].
      return this.store(payload, this.params.offset + seq * this.params.blockSize, true);
    }
    return this.store(payload.subarray(0, Math.min(payload.length, this.remaining)), this.cursor);
  }

  private store(data: Uint8Array, address: number, romBlock = false): WriteOutcome {
    if (data.length === 0) return { ok: true };
    if (this.params.mode === 'stub' && data.length > this.remaining) {
      return { ok: false, reason: 'too_much', detail: `${data.length} bytes with only ${this.remaining} announced` };
    }
    if (!this.flash.contains(address, data.length)) {
      return { ok: false, reason: 'range', detail: `write 0x${address.toString(16)}+0x${data.length.toString(16)} is beyond the flash` };
    }
    this.eraseAhead(address + data.length);
    if (this.params.encrypt) {
      const done = this.storeEncrypted(data, address);
      if (!done.ok) return done;
    } else this.flash.program(address, data);
    this.written += data.length;
    if (!romBlock) this.cursor = address + data.length;
    this.remaining = Math.max(0, this.remaining - data.length);
    return { ok: true };
  }

  /**
   * The engine encrypts whole 32-byte blocks, and inflated chunks end anywhere, so bytes are
   * held back until their block is complete (the stubs buffer likewise); the tail is padded
   * with 0xFF when the announced size is reached (esptool pads encrypted images to 32 bytes).
   */
  private storeEncrypted(data: Uint8Array, address: number): WriteOutcome {
    if (!this.encryptor) return { ok: false, reason: 'encrypt', detail: 'no flash-encryption key available' };
    let start = address;
    let bytes = data;
    if (this.carry && this.carry.address + this.carry.bytes.length === address) {
      start = this.carry.address;
      bytes = new Uint8Array(this.carry.bytes.length + data.length);
      bytes.set(this.carry.bytes);
      bytes.set(data, this.carry.bytes.length);
    }
    this.carry = undefined;
    const last = data.length >= this.remaining;
    const whole = last ? bytes.length : bytes.length - ((start + bytes.length) & 31);
    if (whole > 0) this.flash.program(start, this.encryptor(bytes.subarray(0, whole), start));
    if (whole < bytes.length) this.carry = { address: start + whole, bytes: bytes.slice(whole) };
    return { ok: true };
  }

  /** Stubs erase lazily, one sector ahead of the data (covering whole sectors, §1.9). */
  private eraseAhead(end: number): void {
    while (this.erasedUpTo < end && this.erasedUpTo < this.flash.size) {
      this.flash.eraseSector(this.erasedUpTo);
      this.erasedUpTo += FLASH_SECTOR;
    }
  }

  close(): void {
    this.inflater?.close();
  }
}
