// Writing regions the fast way (DESIGN.md "Board session"): compare 4 KiB sectors by MD5
// on the board against the host's bytes, write only runs of sectors that differ
// (compressed), then verify every region by MD5. Spec esp32-rom-efuse-crypto.md §1.10.
import { createHash } from 'node:crypto';
import { hex32, sessionError } from './errors.ts';
import { checkRegionsChip } from '../../firmware-js/flash-plan.ts';
import { ESP32 } from './targets/esp32.ts';

export interface WriteRegion {
  address: number;
  bytes: Uint8Array;
  /** Optional label for messages (a bundle part name). */
  name?: string;
  /** The chip a bundle region is built for (FlashRegion.platform); the session refuses another chip before writing. */
  platform?: string;
}

export type WritePhase = 'compare' | 'write' | 'verify';

export interface WriteProgress {
  /** Index into the regions passed in. */
  region: number;
  address: number;
  phase: WritePhase;
  /** Bytes of this region done in this phase, and the phase's total. */
  done: number;
  total: number;
  sectorsWritten: number;
  sectorsSkipped: number;
}

export interface RegionResult {
  address: number;
  length: number;
  name?: string;
  sectors: number;
  sectorsWritten: number;
  sectorsSkipped: number;
  md5: string;
}

/** What the algorithm needs from a board; the session provides it over the stub. */
export interface FlashOps {
  md5(address: number, length: number): Promise<string>;
  write(address: number, bytes: Uint8Array, onDone: (done: number) => void): Promise<void>;
}

const SECTOR = ESP32.flashSector;
/** First compare 64 KiB blocks, then sectors inside the blocks that differ: fewer round trips. */
const BLOCK = 0x10000;

export function md5Hex(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

const erasedMd5s = new Map<number, string>();

/** MD5 of `length` bytes of erased flash (0xFF). */
function erasedMd5(length: number): string {
  let md5 = erasedMd5s.get(length);
  if (md5 === undefined) {
    md5 = md5Hex(new Uint8Array(length).fill(0xff));
    erasedMd5s.set(length, md5);
  }
  return md5;
}

/** Contiguous runs of `true` as [first, count] pairs. */
export function changedRuns(changed: readonly boolean[]): Array<{ first: number; count: number }> {
  const runs: Array<{ first: number; count: number }> = [];
  for (let i = 0; i < changed.length; i++) {
    if (!changed[i]) continue;
    const last = runs[runs.length - 1];
    if (last && last.first + last.count === i) last.count++;
    else runs.push({ first: i, count: 1 });
  }
  return runs;
}

/** Sector-aligned, non-overlapping, inside the flash: anything else is refused before any write. */
export function checkRegions(regions: readonly WriteRegion[], flashSize: number | null, chip: string = ESP32.name): void {
  checkRegionsChip(regions, chip);
  const sorted = regions.map((r, i) => ({ ...r, i })).sort((a, b) => a.address - b.address);
  sorted.forEach((r, k) => {
    const label = r.name ?? `region ${r.i + 1}`;
    if (r.address % SECTOR !== 0) {
      throw sessionError('session.bad_region', `${label} starts at ${hex32(r.address)}, not on a 4 KiB sector boundary`, {
        hint: 'flash addresses must be multiples of 0x1000',
      });
    }
    if (r.bytes.length === 0) throw sessionError('session.bad_region', `${label} at ${hex32(r.address)} is empty`);
    if (flashSize !== null && r.address + r.bytes.length > flashSize) {
      throw sessionError('session.bad_region', `${label} ends at ${hex32(r.address + r.bytes.length)}, beyond the ${flashSize / 0x100000} MB flash`);
    }
    const next = sorted[k + 1];
    if (next && r.address + Math.ceil(r.bytes.length / SECTOR) * SECTOR > next.address) {
      throw sessionError('session.bad_region', `${label} (${hex32(r.address)}, ${r.bytes.length} bytes) overlaps ${next.name ?? `region ${next.i + 1}`} at ${hex32(next.address)}`);
    }
  });
}

/**
 * Compares and writes RAW flash. With flash encryption on, SPI_FLASH_MD5 and the stub's
 * writes are believed to see ciphertext ([U] in spec §5.5): either way the bytes given
 * here must be exactly what the flash should hold, so callers refuse plaintext on an
 * encrypted board instead of relying on the comparison.
 */
export async function writeRegions(ops: FlashOps, regions: readonly WriteRegion[], onProgress?: (p: WriteProgress) => void): Promise<RegionResult[]> {
  const results: RegionResult[] = [];
  for (const [index, region] of regions.entries()) results.push(await writeOne(ops, index, region, onProgress));
  return results;
}

async function writeOne(ops: FlashOps, index: number, region: WriteRegion, onProgress?: (p: WriteProgress) => void): Promise<RegionResult> {
  const { address, bytes } = region;
  const sectors = Math.ceil(bytes.length / SECTOR);
  let written = 0;
  let skipped = 0;
  const report = (phase: WritePhase, done: number, total: number) =>
    onProgress?.({ region: index, address, phase, done, total, sectorsWritten: written, sectorsSkipped: skipped });

  // Compare: the whole region first (one round trip when nothing changed), then 64 KiB
  // blocks, then sectors of the blocks that differ.
  const changed = new Array<boolean>(sectors).fill(false);
  report('compare', 0, bytes.length);
  const hostMd5 = md5Hex(bytes);
  if ((await ops.md5(address, bytes.length)) === hostMd5) {
    skipped = sectors;
  } else {
    let settled = 0;
    for (let b = 0; b < bytes.length; b += BLOCK) {
      const blockLen = Math.min(BLOCK, bytes.length - b);
      const boardMd5 = blockLen === bytes.length ? undefined : await ops.md5(address + b, blockLen);
      const same = boardMd5 === md5Hex(bytes.subarray(b, b + blockLen));
      // A blank block (a fresh or erased board) needs no per-sector questions: every
      // sector of ours that is not blank differs.
      const blank = boardMd5 !== undefined && boardMd5 === erasedMd5(blockLen);
      if (same) skipped += Math.ceil(blockLen / SECTOR);
      else {
        for (let s = b; s < b + blockLen; s += SECTOR) {
          const len = Math.min(SECTOR, bytes.length - s);
          const ours = bytes.subarray(s, s + len);
          // A one-sector block already compared unequal: no need to ask again.
          const differs = blank
            ? !ours.every((v) => v === 0xff)
            : blockLen <= SECTOR || (await ops.md5(address + s, len)) !== md5Hex(ours);
          changed[s / SECTOR] = differs;
          if (!differs) skipped++;
        }
      }
      settled += blockLen;
      report('compare', settled, bytes.length);
    }
  }
  if (skipped === sectors) report('compare', bytes.length, bytes.length);

  // Write only the runs of changed sectors; the stub erases exactly those sectors.
  const runs = changedRuns(changed);
  const toWrite = runs.reduce((n, r) => n + Math.min(r.count * SECTOR, bytes.length - r.first * SECTOR), 0);
  let doneBefore = 0;
  report('write', 0, toWrite);
  for (const run of runs) {
    const start = run.first * SECTOR;
    const chunk = bytes.subarray(start, Math.min(bytes.length, start + run.count * SECTOR));
    await ops.write(address + start, chunk, (done) => report('write', doneBefore + done, toWrite));
    doneBefore += chunk.length;
    written += run.count;
    report('write', doneBefore, toWrite);
  }

  // Verify the whole region, also when nothing was written: it is what we promise.
  report('verify', 0, bytes.length);
  const boardMd5 = written === 0 ? hostMd5 : await ops.md5(address, bytes.length);
  if (boardMd5 !== hostMd5) {
    throw sessionError(
      'session.verify_failed',
      `${region.name ?? `region ${index + 1}`} at ${hex32(address)} (${bytes.length} bytes) reads back with MD5 ${boardMd5}, expected ${hostMd5}`,
      { hint: 'flash again; if it keeps failing the flash chip may be worn or write-protected' },
    );
  }
  report('verify', bytes.length, bytes.length);
  return { address, length: bytes.length, ...(region.name ? { name: region.name } : {}), sectors, sectorsWritten: written, sectorsSkipped: skipped, md5: hostMd5 };
}
