// Flash commands where esptool-js's own helpers are wrong or missing (spec
// esp32-rom-efuse-crypto.md §1.9–§1.11): SPI_FLASH_MD5 decoded for ROM (32 ASCII hex
// chars) and stub (16 raw bytes); stub READ_FLASH that also consumes and checks the
// trailing MD5 frame; ROM READ_FLASH_SLOW; compressed writes through the stub.
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import type { ESPLoader } from 'esptool-js';
import { hex32, sessionError } from './errors.ts';

export const OP = { FLASH_DEFL_DATA: 0x11, SPI_FLASH_MD5: 0x13, READ_FLASH_SLOW: 0x0e, READ_FLASH: 0xd2 } as const;

/** Stub READ_FLASH parameters; esptool's packet size and in-flight window (§1.11). */
const READ_PACKET = 0x1000;
const READ_IN_FLIGHT = 64;
const ROM_READ_CHUNK = 64;

/** Scales a timeout with the data size as esptool does (ms per MB), never under 3 s. */
export function timeoutFor(msPerMb: number, bytes: number): number {
  return Math.max(3000, Math.ceil((msPerMb * bytes) / 1e6));
}

/**
 * The MD5 reply's payload as hex. The ROM sends 32 lowercase ASCII hex characters; the
 * stub sends the 16 raw digest bytes. esptool-js hex-encodes the ROM's ASCII again (64
 * characters, never equal to a host digest), which is why this exists.
 */
export function decodeMd5Payload(payload: Uint8Array, mode: 'rom' | 'stub'): string {
  if (mode === 'stub') {
    if (payload.length < 16) throw sessionError('session.command_failed', `MD5 reply has ${payload.length} bytes, expected 16`);
    return Buffer.from(payload.subarray(0, 16)).toString('hex');
  }
  const text = new TextDecoder().decode(payload.subarray(0, 32));
  if (!/^[0-9a-fA-F]{32}$/.test(text)) {
    throw sessionError('session.command_failed', `ROM MD5 reply is not 32 hex characters: ${JSON.stringify(text)}`);
  }
  // esptool compares the ROM's text with a lowercase hexdigest, so it is lowercase on
  // real chips; accepting either case costs nothing.
  return text.toLowerCase();
}

export async function flashMd5(loader: ESPLoader, address: number, length: number): Promise<string> {
  const mode = loader.IS_STUB ? 'stub' : 'rom';
  const pkt = words(address, length, 0, 0);
  const reply = (await loader.checkCommand('calculate md5', OP.SPI_FLASH_MD5, pkt, 0, mode === 'stub' ? 16 : 32, timeoutFor(8000, length))) as Uint8Array;
  return decodeMd5Payload(reply, mode);
}

export type ReadProgress = (done: number, total: number) => void;

/** Stub READ_FLASH: data frames acked with the running count, then the 16-byte MD5 frame, checked. */
export async function readFlashStub(loader: ESPLoader, address: number, length: number, onProgress?: ReadProgress): Promise<Uint8Array> {
  await loader.checkCommand('read flash', OP.READ_FLASH, words(address, length, READ_PACKET, READ_IN_FLIGHT));
  const out = new Uint8Array(length);
  let received = 0;
  while (received < length) {
    const frame = await loader.transport.read(10_000);
    if (received + frame.length > length) {
      throw sessionError('session.command_failed', `READ_FLASH at ${hex32(address)} sent ${received + frame.length} bytes, ${length} were asked for`);
    }
    out.set(frame, received);
    received += frame.length;
    await loader.transport.write(words(received));
    onProgress?.(received, length);
  }
  // The digest frame esptool-js never reads; left in the buffer it would be flushed
  // silently — here it proves the bytes arrived intact.
  const digest = await loader.transport.read(3000);
  const host = createHash('md5').update(out).digest('hex');
  const board = Buffer.from(digest).toString('hex');
  if (digest.length !== 16 || board !== host) {
    throw sessionError('session.verify_failed', `READ_FLASH of ${length} bytes at ${hex32(address)}: board MD5 ${board}, received data MD5 ${host}`, {
      hint: 'the serial line corrupted data; retry, or use a lower --baud',
    });
  }
  return out;
}

/**
 * ROM READ_FLASH_SLOW: 64 bytes per command; the reply always carries 64 data bytes (§1.11).
 * Reads beyond the size given with SPI_SET_PARAMS fail with an error code the spec marks
 * [U]; romAttachFlash sets 16 MB so any address on a real part is in range either way,
 * and a failure of either kind surfaces as session.command_failed with the status bytes.
 */
export async function readFlashRom(loader: ESPLoader, address: number, length: number, onProgress?: ReadProgress): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  for (let at = 0; at < length; at += ROM_READ_CHUNK) {
    const n = Math.min(ROM_READ_CHUNK, length - at);
    const data = (await loader.checkCommand('read flash (ROM)', OP.READ_FLASH_SLOW, words(address + at, n), 0, ROM_READ_CHUNK)) as Uint8Array;
    out.set(data.subarray(0, n), at);
    onProgress?.(at + n, length);
  }
  return out;
}

/**
 * Writes `bytes` at `address` through the stub's FLASH_DEFL_* commands (zlib, level 9,
 * as esptool). The stub erases the 4 KiB sectors it writes into just ahead of the data.
 * `onBlock` reports uncompressed bytes done (estimated per compressed block).
 */
export async function writeCompressed(loader: ESPLoader, address: number, bytes: Uint8Array, onBlock?: (done: number) => void): Promise<void> {
  const packed = new Uint8Array(deflateSync(bytes, { level: 9 }));
  const blockSize = loader.FLASH_WRITE_SIZE;
  const blocks = await loader.flashDeflBegin(bytes.length, packed.length, address);
  // Roughly how many flash bytes one compressed block stands for: what the stub must
  // erase and program before it answers the next block.
  const perBlock = Math.ceil((blockSize * bytes.length) / packed.length);
  for (let seq = 0; seq < blocks; seq++) {
    const block = packed.subarray(seq * blockSize, Math.min(packed.length, (seq + 1) * blockSize));
    // One attempt only (esptool-js retries): a resent block after a lost reply would be
    // inflated twice by the stub. A failure ends the run; the next run re-compares.
    const header = words(block.length, seq, 0, 0);
    const pkt = new Uint8Array(header.length + block.length);
    pkt.set(header);
    pkt.set(block, header.length);
    await loader.checkCommand(`write compressed block ${seq} at ${hex32(address)}`, OP.FLASH_DEFL_DATA, pkt, loader.checksum(block), 0, timeoutFor(40_000, perBlock));
    onBlock?.(Math.min(bytes.length, (seq + 1) * perBlock));
  }
  // Value 1 = stay in the loader; the session decides when the board resets.
  await loader.flashDeflFinish(false, timeoutFor(40_000, perBlock));
  onBlock?.(bytes.length);
}

function words(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setUint32(i * 4, v >>> 0, true));
  return out;
}
