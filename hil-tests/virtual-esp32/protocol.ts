// Request/response packets of the ESP32 serial loader (spec esp32-rom-efuse-crypto.md §1.2–§1.5):
// pure decode of host requests and encode of replies, for both the ROM (4 status bytes)
// and the flasher stubs (2 status bytes).

export interface Request {
  op: number;
  /** The header's checksum field (8-bit XOR, seeded 0xEF, of the data after a 16-byte data header). */
  checksum: number;
  data: Uint8Array;
  /** The `size` field disagreed with the bytes that arrived. */
  sizeMismatch: boolean;
}

export function decodeRequest(frame: Uint8Array): Request | undefined {
  if (frame.length < 8 || frame[0] !== 0x00) return undefined;
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const size = dv.getUint16(2, true);
  return {
    op: frame[1] ?? 0,
    checksum: dv.getUint32(4, true),
    data: frame.subarray(8),
    sizeMismatch: size !== frame.length - 8,
  };
}

export function dataChecksum(data: Uint8Array): number {
  let chk = 0xef;
  for (const b of data) chk ^= b;
  return chk;
}

export type StatusStyle = 'rom' | 'stub';

/**
 * A reply packet. ROM: payload + [status, error, 0, 0]; stubs: payload + [code, 0]
 * (the legacy stub's [error, status] and esp-flasher-stub's big-endian u16 code give
 * the same two bytes, e.g. C1 00 for a bad checksum).
 */
export function encodeResponse(
  op: number,
  value: number,
  payload: Uint8Array,
  style: StatusStyle,
  error: number,
): Uint8Array {
  const status =
    style === 'rom' ? Uint8Array.of(error ? 1 : 0, error & 0xff, 0, 0) : Uint8Array.of(error & 0xff, 0);
  const out = new Uint8Array(8 + payload.length + status.length);
  const dv = new DataView(out.buffer);
  out[0] = 0x01;
  out[1] = op & 0xff;
  dv.setUint16(2, payload.length + status.length, true);
  dv.setUint32(4, value >>> 0, true);
  out.set(payload, 8);
  out.set(status, 8 + payload.length);
  return out;
}

export function u32s(data: Uint8Array, count: number): number[] {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(i * 4 + 4 <= data.length ? dv.getUint32(i * 4, true) : 0);
  return out;
}

export function le32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}
