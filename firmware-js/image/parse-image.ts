// Parses and verifies ESP32 app/bootloader images (spec esp32-rom-efuse-crypto.md
// §6.1). Structure errors throw; checksum/hash mismatches are reported so that an
// inspector can still show a damaged image, and verifyImage turns them into errors.
import { createHash } from 'node:crypto';
import { hex, hex32, view } from '../bytes.ts';
import { FirmwareError } from '../errors.ts';
import { hasAppDesc, parseAppDesc, parseBootloaderDesc, type AppDesc, type BootloaderDesc } from './app-desc.ts';
import {
  CHECKSUM_SEED,
  IMAGE_HEADER_LENGTH,
  IMAGE_MAGIC,
  MAX_SEGMENTS,
  MMU_PAGE_SIZE,
  SEGMENT_HEADER_LENGTH,
  SHA256_LENGTH,
  decodeSpiDrive,
  flashFreqName,
  flashModeName,
  flashSizeBytes,
  flashSizeName,
  isDramAddr,
  isDromAddr,
  isFlashMapped,
  memoryTypes,
  type FlashFreq,
  type FlashMode,
  type FlashSize,
  type SpiDrive,
} from './header.ts';

export interface ImageSegment {
  loadAddr: number;
  length: number;
  /** Offset of the segment's 8-byte header in the file (what esptool prints as "File offs"). */
  fileOffset: number;
  /** Offset of the segment's first data byte: fileOffset + 8. */
  dataOffset: number;
  data: Uint8Array;
  /** esptool's memory-map names for the load address (e.g. ["DROM"], ["BYTE_ACCESSIBLE","DRAM"]). */
  memory: string[];
}

export interface EspImage {
  magic: number;
  /** The header's count, which includes esptool's padding segments. */
  segmentCount: number;
  flashMode: { value: number; name: FlashMode | null };
  flashSize: { nibble: number; name: FlashSize | null; bytes: number | null };
  flashFreq: { nibble: number; name: FlashFreq | null };
  entry: number;
  wpPin: number;
  spiDrive: SpiDrive;
  chipId: number;
  /** Legacy major-only minimum revision (header byte 14). */
  minRev: number;
  /** major×100+minor. */
  minChipRevFull: number;
  /** major×100+minor; 0 or 0xFFFF mean "unset". */
  maxChipRevFull: number;
  hashAppended: boolean;
  segments: ImageSegment[];
  checksum: { stored: number; computed: number; ok: boolean; offset: number };
  /** Hex digests; null when the header says no hash is appended. */
  sha256: { stored: string; computed: string; ok: boolean } | null;
  /** Bytes the image occupies: header, segments, checksum padding and byte, appended hash. */
  length: number;
  appDesc: AppDesc | null;
  bootloaderDesc: BootloaderDesc | null;
  /** Non-fatal oddities, e.g. a flash-mapped segment off its MMU page alignment. */
  warnings: string[];
}

// esptool refuses segments of 16 MiB or more; anything that large is a corrupt length, not a short file.
const MAX_SEGMENT_LENGTH = 0x1000000;

function truncated(what: string, need: number, have: number): FirmwareError {
  return new FirmwareError('firmware.image.truncated', `image truncated: ${what} needs ${need} bytes, the input has ${have}`, {
    hint: 'the file is incomplete (interrupted download or read) or its segment table is corrupt; fetch or rebuild it',
  });
}

export function parseImage(bytes: Uint8Array): EspImage {
  if (bytes.length < 1) throw truncated('the header', IMAGE_HEADER_LENGTH, 0);
  if (bytes[0] !== IMAGE_MAGIC) {
    throw new FirmwareError('firmware.image.bad_magic', `not an ESP32 image: first byte is 0x${(bytes[0] as number).toString(16).padStart(2, '0')}, expected 0xe9`, {
      hint: 'is this an encrypted image, a bundle, a partition table or a filesystem image rather than a .bin app/bootloader?',
    });
  }
  if (bytes.length < IMAGE_HEADER_LENGTH) throw truncated('the 24-byte header', IMAGE_HEADER_LENGTH, bytes.length);
  const v = view(bytes);
  const segmentCount = bytes[1] as number;
  if (segmentCount > MAX_SEGMENTS) {
    throw new FirmwareError('firmware.image.too_many_segments', `image header declares ${segmentCount} segments, the bootloader allows at most ${MAX_SEGMENTS}`, {
      hint: 'the header is corrupt or this is not an ESP32 image',
    });
  }
  const hashByte = bytes[23] as number;
  if (hashByte > 1) {
    throw new FirmwareError('firmware.image.bad_header', `hash_appended byte (offset 23) is ${hashByte}, expected 0 or 1`, {
      hint: 'the header is corrupt or the image is for a different chip family',
    });
  }

  const segments: ImageSegment[] = [];
  const warnings: string[] = [];
  let pos = IMAGE_HEADER_LENGTH;
  let checksum = CHECKSUM_SEED;
  for (let i = 0; i < segmentCount; i++) {
    if (pos + SEGMENT_HEADER_LENGTH > bytes.length) throw truncated(`segment ${i}'s header at offset ${hex32(pos)}`, pos + SEGMENT_HEADER_LENGTH, bytes.length);
    const loadAddr = v.getUint32(pos, true);
    const length = v.getUint32(pos + 4, true);
    const dataOffset = pos + SEGMENT_HEADER_LENGTH;
    if (length >= MAX_SEGMENT_LENGTH) {
      throw new FirmwareError(
        'firmware.image.segment_out_of_bounds',
        `segment ${i} at file offset ${hex32(pos)} (load ${hex32(loadAddr)}) declares length ${length}, beyond the 16 MiB an image segment can have`,
        { hint: 'the segment table is corrupt; this is not a valid image' },
      );
    }
    if (dataOffset + length > bytes.length) {
      throw truncated(`segment ${i} (load ${hex32(loadAddr)}, length ${length}, data at ${hex32(dataOffset)})`, dataOffset + length, bytes.length);
    }
    if (length % 4 !== 0) {
      throw new FirmwareError('firmware.image.bad_segment_length', `segment ${i} (load ${hex32(loadAddr)}) has length ${length}, not a multiple of 4`, {
        hint: 'the bootloader rejects such segments; the image is corrupt',
      });
    }
    const data = bytes.subarray(dataOffset, dataOffset + length);
    for (let k = 0; k < data.length; k++) checksum ^= data[k] as number;
    // The 2nd-stage bootloader maps flash segments by page, so data must sit at vaddr's offset
    // in the page. It checks flash addresses; file offsets agree because app partitions are 64 KiB aligned.
    if (isFlashMapped(loadAddr) && dataOffset % MMU_PAGE_SIZE !== loadAddr % MMU_PAGE_SIZE) {
      warnings.push(
        `segment ${i} (load ${hex32(loadAddr)}) data at file offset ${hex32(dataOffset)} breaks the 64 KiB MMU alignment (${hex32(dataOffset % MMU_PAGE_SIZE)} ≠ ${hex32(loadAddr % MMU_PAGE_SIZE)})`,
      );
    }
    segments.push({ loadAddr, length, fileOffset: pos, dataOffset, data, memory: memoryTypes(loadAddr) });
    pos = dataOffset + length;
  }

  // Zero padding up to the last byte of a 16-byte line holds the checksum.
  const checksumOffset = pos + (15 - (pos % 16));
  if (checksumOffset >= bytes.length) throw truncated('the checksum byte', checksumOffset + 1, bytes.length);
  const stored = bytes[checksumOffset] as number;
  let length = checksumOffset + 1;
  const hashAppended = hashByte === 1;
  let sha256: EspImage['sha256'] = null;
  if (hashAppended) {
    if (length + SHA256_LENGTH > bytes.length) throw truncated('the appended SHA-256', length + SHA256_LENGTH, bytes.length);
    const computed = hex(createHash('sha256').update(bytes.subarray(0, length)).digest());
    const storedHash = hex(bytes.subarray(length, length + SHA256_LENGTH));
    sha256 = { stored: storedHash, computed, ok: storedHash === computed };
    length += SHA256_LENGTH;
  }

  const sizeNibble = (bytes[3] as number) >> 4;
  const freqNibble = (bytes[3] as number) & 0xf;
  const firstDrom = segments.find((s) => isDromAddr(s.loadAddr));
  const first = segments[0];
  return {
    magic: IMAGE_MAGIC,
    segmentCount,
    flashMode: { value: bytes[2] as number, name: flashModeName(bytes[2] as number) },
    flashSize: { nibble: sizeNibble, name: flashSizeName(sizeNibble), bytes: flashSizeBytes(sizeNibble) },
    flashFreq: { nibble: freqNibble, name: flashFreqName(freqNibble) },
    entry: v.getUint32(4, true),
    wpPin: bytes[8] as number,
    spiDrive: decodeSpiDrive(bytes[9] as number, bytes[10] as number, bytes[11] as number),
    chipId: v.getUint16(12, true),
    minRev: bytes[14] as number,
    minChipRevFull: v.getUint16(15, true),
    maxChipRevFull: v.getUint16(17, true),
    hashAppended,
    segments,
    checksum: { stored, computed: checksum, ok: stored === checksum, offset: checksumOffset },
    sha256,
    length,
    // esptool and IDF look for the app description at the start of the first DROM segment.
    appDesc: firstDrom && hasAppDesc(firstDrom.data) ? parseAppDesc(firstDrom.data) : null,
    bootloaderDesc: first && isDramAddr(first.loadAddr) ? parseBootloaderDesc(first.data) : null,
    warnings,
  };
}

/** Parses and insists the image is intact: checksum, appended hash and flash-segment alignment. */
export function verifyImage(bytes: Uint8Array): EspImage {
  const image = parseImage(bytes);
  if (!image.checksum.ok) {
    throw new FirmwareError(
      'firmware.image.bad_checksum',
      `image checksum byte at ${hex32(image.checksum.offset)} is 0x${image.checksum.stored.toString(16).padStart(2, '0')}, the segments give 0x${image.checksum.computed.toString(16).padStart(2, '0')}`,
      { hint: 'the segment data is corrupt; rebuild or re-download the image' },
    );
  }
  if (image.sha256 && !image.sha256.ok) {
    throw new FirmwareError(
      'firmware.image.bad_sha256',
      `appended SHA-256 ${image.sha256.stored} does not match the image's ${image.sha256.computed}`,
      { hint: 'the image was changed after it was built (a patched header needs its hash recomputed: setFlashParams does that)' },
    );
  }
  const misaligned = image.warnings.find((w) => w.includes('MMU alignment'));
  if (misaligned) {
    throw new FirmwareError('firmware.image.segment_misaligned', misaligned, {
      hint: 'flash-mapped segments need esptool-style padding segments; rebuild the image with elf2image/buildImage',
    });
  }
  return image;
}
