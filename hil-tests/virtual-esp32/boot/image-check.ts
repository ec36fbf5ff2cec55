// What the ROM and the 2nd-stage bootloader check in an app or bootloader image (spec
// esp32-rom-efuse-crypto.md §6.1–§6.2): magic, segments, XOR checksum, appended SHA-256,
// and the esp_app_desc_t that names the version the chip would run.
import { createHash } from 'node:crypto';
import type { FlashView } from './flash-view.ts';

export const IMAGE_MAGIC = 0xe9;
const APP_DESC_MAGIC = 0xabcd5432;
const DROM = [0x3f400000, 0x3f800000] as const;

export interface AppDescription {
  version: string;
  projectName: string;
  idfVersion: string;
  secureVersion: number;
}

export type ImageCheck =
  | { ok: true; length: number; segments: number; entry: number; hashAppended: boolean; app: AppDescription | undefined }
  | { ok: false; code: string; message: string };

function cstr(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder('latin1').decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** Verifies the image at `offset` (inside a region of `limit` bytes) as the bootloader does. */
export function checkImage(view: FlashView, offset: number, limit: number): ImageCheck {
  const header = view.read(offset, 24);
  const hx = (n: number) => `0x${n.toString(16)}`;
  if (header[0] !== IMAGE_MAGIC) {
    const blank = header.every((b) => b === 0xff);
    return {
      ok: false,
      code: blank ? 'empty' : 'bad_magic',
      message: blank
        ? `image at ${hx(offset)} is empty (erased flash)`
        : `image at ${hx(offset)} has invalid magic byte ${hx(header[0] ?? 0)} (expected 0xe9)`,
    };
  }
  const dv = new DataView(header.buffer, header.byteOffset, 24);
  const segCount = header[1] ?? 0;
  if (segCount === 0 || segCount > 16) return { ok: false, code: 'bad_segments', message: `image at ${hx(offset)} has ${segCount} segments (1..16 allowed)` };
  const entry = dv.getUint32(4, true);
  const hashAppended = header[23] === 1;
  let pos = 24;
  let checksum = 0xef;
  let app: AppDescription | undefined;
  for (let s = 0; s < segCount; s++) {
    if (pos + 8 > limit) return { ok: false, code: 'truncated', message: `image at ${hx(offset)}: segment ${s} header is beyond the ${hx(limit)}-byte region` };
    const sh = new DataView(view.read(offset + pos, 8).buffer);
    const load = sh.getUint32(0, true);
    const len = sh.getUint32(4, true);
    if (len % 4 !== 0 || pos + 8 + len > limit) {
      return { ok: false, code: 'bad_segment_length', message: `image at ${hx(offset)}: segment ${s} length ${hx(len)} is invalid or runs past the region` };
    }
    const data = view.read(offset + pos + 8, len);
    for (const b of data) checksum ^= b;
    if (!app && load >= DROM[0] && load < DROM[1] && len >= 256) app = appDescription(data);
    pos += 8 + len;
  }
  // Pad so the checksum byte is the last of a 16-byte row.
  pos += 15 - (pos % 16);
  const stored = view.read(offset + pos, 1)[0] ?? 0;
  if (stored !== checksum) {
    return { ok: false, code: 'bad_checksum', message: `Checksum failed. Calculated ${hx(checksum)} read ${hx(stored)} (image at ${hx(offset)})` };
  }
  let length = pos + 1;
  if (hashAppended) {
    if (length + 32 > limit) return { ok: false, code: 'truncated', message: `image at ${hx(offset)}: appended SHA-256 is beyond the region` };
    const body = view.read(offset, length);
    const digest = createHash('sha256').update(body).digest();
    const storedHash = view.read(offset + length, 32);
    if (!digest.equals(storedHash)) {
      return { ok: false, code: 'bad_sha256', message: `image at ${hx(offset)}: SHA-256 of the image does not match the appended digest (image corrupt)` };
    }
    length += 32;
  }
  return { ok: true, length, segments: segCount, entry, hashAppended, app };
}

function appDescription(seg: Uint8Array): AppDescription | undefined {
  const dv = new DataView(seg.buffer, seg.byteOffset, seg.byteLength);
  if (dv.getUint32(0, true) !== APP_DESC_MAGIC) return undefined;
  return {
    secureVersion: dv.getUint32(4, true),
    version: cstr(seg.subarray(16, 48)),
    projectName: cstr(seg.subarray(48, 80)),
    idfVersion: cstr(seg.subarray(112, 144)),
  };
}
