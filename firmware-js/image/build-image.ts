// Builds ESP32 images (spec esp32-rom-efuse-crypto.md §6.1): header, segments laid
// out the way esptool's elf2image does (flash-mapped segments on their 64 KiB MMU
// offset, padding taken from RAM segments), XOR checksum and appended SHA-256.
import { createHash } from 'node:crypto';
import { hex32, view } from '../bytes.ts';
import { FirmwareError } from '../errors.ts';
import {
  CHECKSUM_SEED,
  ESP32_CHIP_ID,
  FLASH_FREQS,
  FLASH_MODES,
  FLASH_SIZES,
  IMAGE_HEADER_LENGTH,
  IMAGE_MAGIC,
  MAX_SEGMENTS,
  MMU_PAGE_SIZE,
  SEGMENT_HEADER_LENGTH,
  WP_PIN_DISABLED,
  encodeSpiDrive,
  isFlashMapped,
  type FlashFreq,
  type FlashMode,
  type FlashSize,
  type SpiDrive,
} from './header.ts';

export interface SegmentSpec {
  loadAddr: number;
  data: Uint8Array;
}

export interface ImageSpec {
  segments: readonly SegmentSpec[];
  entry: number;
  flashMode?: FlashMode;
  flashSize?: FlashSize;
  flashFreq?: FlashFreq;
  wpPin?: number;
  spiDrive?: SpiDrive;
  chipId?: number;
  minRev?: number;
  minChipRevFull?: number;
  /** Default 0xFFFF (unset), as esptool elf2image writes it; IDF builds pass 399 for ESP32. */
  maxChipRevFull?: number;
  /** Append the SHA-256 of the image (IDF default). Default true. */
  hashAppended?: boolean;
  /**
   * 'esptool' (default): sort and pad like `esptool elf2image` so flash-mapped
   * segments land on their MMU offset. 'as-given': write segments verbatim in order.
   */
  layout?: 'esptool' | 'as-given';
}

const MAX_SEGMENT_LENGTH = 0x1000000;
// The ESP32's old 2nd-stage bootloader failed to map the last MMU page when a flash
// segment ended fewer than 0x24 bytes past a page boundary; esptool pads around it.
const MMU_TAIL_MIN = 0x24;

/** Pads to a multiple of 4 with zeros, as esptool does for every non-padding segment. */
function padTo4(data: Uint8Array): Uint8Array {
  if (data.length % 4 === 0) return data;
  const out = new Uint8Array(data.length + (4 - (data.length % 4)));
  out.set(data);
  return out;
}

/** Orders and pads segments exactly like esptool's ESP32FirmwareImage.save (non-RAM-only header). */
export function layoutSegments(segments: readonly SegmentSpec[]): SegmentSpec[] {
  const byAddr = [...segments].sort((a, b) => a.loadAddr - b.loadAddr).map((s) => ({ loadAddr: s.loadAddr, data: padTo4(s.data) }));
  const flash = byAddr.filter((s) => isFlashMapped(s.loadAddr));
  const ram = byAddr.filter((s) => !isFlashMapped(s.loadAddr));
  for (let i = 1; i < flash.length; i++) {
    const prev = flash[i - 1] as SegmentSpec;
    const cur = flash[i] as SegmentSpec;
    if (Math.floor(cur.loadAddr / MMU_PAGE_SIZE) === Math.floor(prev.loadAddr / MMU_PAGE_SIZE)) {
      throw new FirmwareError(
        'firmware.image.segment_mapping_conflict',
        `segments at ${hex32(prev.loadAddr)} and ${hex32(cur.loadAddr)} fall in the same 64 KiB flash mapping page`,
        { hint: 'merge them into one segment' },
      );
    }
  }
  const out: SegmentSpec[] = [];
  let pos = IMAGE_HEADER_LENGTH;
  const emit = (s: SegmentSpec) => {
    out.push(s);
    pos += SEGMENT_HEADER_LENGTH + s.data.length;
  };
  for (const seg of flash) {
    // As esptool: fill the gap from the front of the lowest RAM segment (moving its
    // load address on), repeating while RAM is left, else with a zero segment at 0.
    for (let pad = paddingNeeded(pos, seg.loadAddr); pad > 0; pad = paddingNeeded(pos, seg.loadAddr)) {
      const head = ram[0];
      if (head && pad > SEGMENT_HEADER_LENGTH) {
        const take = Math.min(pad, head.data.length);
        emit({ loadAddr: head.loadAddr, data: head.data.subarray(0, take) });
        head.data = head.data.subarray(take);
        head.loadAddr += take;
        if (head.data.length === 0) ram.shift();
      } else {
        emit({ loadAddr: 0, data: new Uint8Array(pad) });
      }
    }
    emit({ loadAddr: seg.loadAddr, data: withMmuTail(pos, seg.data) });
  }
  for (const seg of ram) emit(seg);
  return out;
}

/** Bytes of padding segment data needed so the next header ends at vaddr's offset within its page. */
function paddingNeeded(pos: number, loadAddr: number): number {
  const alignPast = (loadAddr % MMU_PAGE_SIZE) - SEGMENT_HEADER_LENGTH;
  let pad = MMU_PAGE_SIZE - (pos % MMU_PAGE_SIZE) + alignPast;
  if (pad === 0 || pad === MMU_PAGE_SIZE) return 0;
  pad -= SEGMENT_HEADER_LENGTH; // the padding segment has a header of its own
  if (pad < 0) pad += MMU_PAGE_SIZE;
  return pad;
}

function withMmuTail(pos: number, data: Uint8Array): Uint8Array {
  const tail = (pos + SEGMENT_HEADER_LENGTH + data.length) % MMU_PAGE_SIZE;
  if (tail >= MMU_TAIL_MIN) return data;
  const out = new Uint8Array(data.length + (MMU_TAIL_MIN - tail));
  out.set(data);
  return out;
}

function checkRange(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new FirmwareError('firmware.image.bad_spec', `${name} is ${value}, expected an integer 0…${max}`);
  }
}

export function buildImage(spec: ImageSpec): Uint8Array {
  const segments = spec.layout === 'as-given' ? spec.segments.map((s) => ({ loadAddr: s.loadAddr, data: padTo4(s.data) })) : layoutSegments(spec.segments);
  if (segments.length > MAX_SEGMENTS) {
    throw new FirmwareError('firmware.image.too_many_segments', `the image would have ${segments.length} segments (incl. padding), the maximum is ${MAX_SEGMENTS}`, {
      hint: 'merge adjacent segments',
    });
  }
  for (const s of segments) {
    checkRange('segment load address', s.loadAddr, 0xffffffff);
    if (s.data.length >= MAX_SEGMENT_LENGTH) {
      throw new FirmwareError('firmware.image.bad_spec', `segment at ${hex32(s.loadAddr)} is ${s.data.length} bytes; segments must be under 16 MiB`);
    }
  }
  checkRange('entry', spec.entry, 0xffffffff);
  const mode = FLASH_MODES.indexOf(spec.flashMode ?? 'dio');
  const size = FLASH_SIZES.indexOf(spec.flashSize ?? '4MB');
  const freq = FLASH_FREQS[spec.flashFreq ?? '40m'] as number | undefined;
  if (mode < 0 || size < 0 || freq === undefined) {
    throw new FirmwareError('firmware.image.bad_flash_params', `unknown flash parameters mode=${spec.flashMode} size=${spec.flashSize} freq=${spec.flashFreq}`, {
      hint: `modes ${FLASH_MODES.join('/')}, sizes ${FLASH_SIZES.join('/')}, freqs ${Object.keys(FLASH_FREQS).join('/')}`,
    });
  }
  const hashAppended = spec.hashAppended ?? true;

  const body = segments.reduce((n, s) => n + SEGMENT_HEADER_LENGTH + s.data.length, IMAGE_HEADER_LENGTH);
  const checksumOffset = body + (15 - (body % 16));
  const length = checksumOffset + 1 + (hashAppended ? 32 : 0);
  const out = new Uint8Array(length);
  const v = view(out);
  out[0] = IMAGE_MAGIC;
  out[1] = segments.length;
  out[2] = mode;
  out[3] = (size << 4) | freq;
  v.setUint32(4, spec.entry, true);
  out[8] = spec.wpPin ?? WP_PIN_DISABLED;
  out.set(encodeSpiDrive(spec.spiDrive ?? { clk: 0, q: 0, d: 0, cs: 0, hd: 0, wp: 0 }), 9);
  v.setUint16(12, spec.chipId ?? ESP32_CHIP_ID, true);
  out[14] = spec.minRev ?? 0;
  v.setUint16(15, spec.minChipRevFull ?? 0, true);
  // esptool elf2image writes 0xFFFF ("no maximum") unless told otherwise.
  v.setUint16(17, spec.maxChipRevFull ?? 0xffff, true);
  out[23] = hashAppended ? 1 : 0;

  let pos = IMAGE_HEADER_LENGTH;
  let checksum = CHECKSUM_SEED;
  for (const s of segments) {
    v.setUint32(pos, s.loadAddr, true);
    v.setUint32(pos + 4, s.data.length, true);
    out.set(s.data, pos + SEGMENT_HEADER_LENGTH);
    for (let i = 0; i < s.data.length; i++) checksum ^= s.data[i] as number;
    pos += SEGMENT_HEADER_LENGTH + s.data.length;
  }
  out[checksumOffset] = checksum;
  if (hashAppended) out.set(createHash('sha256').update(out.subarray(0, checksumOffset + 1)).digest(), checksumOffset + 1);
  return out;
}
