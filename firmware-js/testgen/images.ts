// Generators of valid ESP32 images for tests, demos and benchmarks, because real
// IDF/Mongoose OS builds cannot be produced here: a plausible 2nd-stage bootloader,
// an app whose first DROM segment carries esp_app_desc_t, the default partition
// table and otadata (spec esp32-rom-efuse-crypto.md §6, mongoose-os.md §7).
import { createHash } from 'node:crypto';
import { FirmwareError } from '../errors.ts';
import { buildAppDesc, buildBootloaderDesc, buildImage, type FlashFreq, type FlashMode, type FlashSize } from '../image/index.ts';
import { MGOS_ESP32_PARTITIONS, buildOtadata, buildPartitionTable, type PartitionEntry } from '../partition/index.ts';

export interface FlashHeaderOptions {
  flashMode?: FlashMode;
  flashSize?: FlashSize;
  flashFreq?: FlashFreq;
}

// Mongoose OS flashes ESP32 boards as dio / 80 MHz on 4 MB by default (mongoose-os.md §7).
const DEFAULT_FLASH = { flashMode: 'dio', flashSize: '4MB', flashFreq: '80m' } as const;
/** ESP32 images built by IDF ≥ 5 declare support up to chip revision v3.99. */
const MAX_CHIP_REV_FULL = 399;
const TESTGEN_IDF_VER = 'espfleet-testgen';

/** Small deterministic PRNG (xorshift32) so content depends on the seed alone. */
class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed >>> 0) ^ 0x9e3779b9 || 1;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
}

/**
 * Fills `out` with machine-code-like bytes: mostly words drawn (with a skew) from a
 * seed-dependent vocabulary, some fresh random words. Real ESP32 apps deflate to
 * roughly 60% of their size; this data compresses similarly, so flash benchmarks
 * that use compressed writes see realistic volumes.
 */
function fillCodeLike(out: Uint8Array, rng: Prng): void {
  const vocab = new Uint32Array(1024);
  for (let i = 0; i < vocab.length; i++) vocab[i] = rng.next();
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let i = 0;
  for (; i + 4 <= out.length; i += 4) {
    const r = rng.next();
    // 3 words in 16 are fresh random; the rest come from the vocabulary, the product of two indices skewing towards common words.
    const word = (r & 15) < 3 ? rng.next() : (vocab[((r >>> 3) & 1023) * ((r >>> 13) & 1023) >>> 10] as number);
    dv.setUint32(i, word, true);
  }
  for (; i < out.length; i++) out[i] = rng.next() & 0xff;
}

function region(length: number, rng: Prng, prefix?: Uint8Array): Uint8Array {
  const out = new Uint8Array(length);
  fillCodeLike(out, rng);
  if (prefix) out.set(prefix);
  return out;
}

/** "Jan  1 2026" / "00:00:00", the C __DATE__/__TIME__ forms IDF stores. */
function cDateTime(d: Date): { date: string; time: string } {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number) => String(n).padStart(2, '0');
  return {
    date: `${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${d.getUTCFullYear()}`,
    time: `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`,
  };
}

export interface BootloaderImageOptions extends FlashHeaderOptions {
  seed?: number;
  buildTime?: Date;
}

/** Segment addresses an ESP32 IDF bootloader uses: DRAM at 0x3FFF0030, IRAM loader code in the APP cache region and at 0x40080400. */
export const BOOTLOADER_SEGMENTS = Object.freeze({ dram: 0x3fff0030, iramLoader: 0x40078000, iram: 0x40080400 });

export function makeBootloaderImage(opts: BootloaderImageOptions = {}): Uint8Array {
  const rng = new Prng(opts.seed ?? 0xb007);
  const { date, time } = cDateTime(opts.buildTime ?? new Date(Date.UTC(2026, 0, 1)));
  const desc = buildBootloaderDesc({ version: 1, idfVer: TESTGEN_IDF_VER, dateTime: `${date} ${time}` });
  const iram = region(0x2000, rng);
  return buildImage({
    segments: [
      { loadAddr: BOOTLOADER_SEGMENTS.dram, data: region(0xc00, rng, desc) },
      { loadAddr: BOOTLOADER_SEGMENTS.iramLoader, data: region(0x1800, rng) },
      { loadAddr: BOOTLOADER_SEGMENTS.iram, data: iram },
    ],
    // call_start_cpu0 sits inside the IRAM text, as in real bootloaders (e.g. 0x40080650).
    entry: BOOTLOADER_SEGMENTS.iram + 0x250,
    ...DEFAULT_FLASH,
    ...definedFlash(opts),
    maxChipRevFull: MAX_CHIP_REV_FULL,
    hashAppended: true,
  });
}

export interface AppImageOptions extends FlashHeaderOptions {
  version: string;
  projectName?: string;
  /** Approximate total image size in bytes; default 256 KiB. */
  appSize?: number;
  seed?: number;
  buildTime?: Date;
  secureVersion?: number;
  idfVer?: string;
}

/** Where an ESP32 app's segments load: app desc at the start of DROM, code in IROM (both flash-mapped). */
export const APP_SEGMENTS = Object.freeze({ drom: 0x3f400020, dram: 0x3ffb0000, iram: 0x40080000, irom: 0x400d0020 });
const MIN_APP_SIZE = 0x2000;
const MAX_APP_SIZE = 0x300000;

export function makeAppImage(opts: AppImageOptions): Uint8Array {
  const size = opts.appSize ?? 0x40000;
  if (!Number.isInteger(size) || size < MIN_APP_SIZE || size > MAX_APP_SIZE) {
    throw new FirmwareError('firmware.testgen.bad_size', `appSize ${size} is outside ${MIN_APP_SIZE}…${MAX_APP_SIZE}`, {
      hint: 'the Mongoose OS app slot is 0x180000 (1.5 MiB)',
    });
  }
  const seed = opts.seed ?? 1;
  const rng = new Prng(seed);
  const { date, time } = cDateTime(opts.buildTime ?? new Date(Date.UTC(2026, 0, 1)));
  const projectName = opts.projectName ?? 'espfleet-demo';
  const desc = buildAppDesc({
    version: opts.version,
    projectName,
    time,
    date,
    idfVer: opts.idfVer ?? TESTGEN_IDF_VER,
    secureVersion: opts.secureVersion ?? 0,
    // Stands in for the ELF hash esptool would patch in; deterministic from the inputs.
    appElfSha256: createHash('sha256').update(`${projectName}\0${opts.version}\0${seed}`).digest(),
  });
  // Proportions of a typical IDF app: mostly IROM code, a fifth rodata, a little RAM.
  const body = size - 0x200;
  const dram = align4(Math.min(0x8000, body * 0.03));
  const iram = align4(Math.min(0x10000, body * 0.06));
  const drom = align4(Math.max(0x400, body * 0.2));
  const irom = align4(Math.max(0x400, body - dram - iram - drom));
  return buildImage({
    segments: [
      { loadAddr: APP_SEGMENTS.drom, data: region(drom, rng, desc) },
      { loadAddr: APP_SEGMENTS.dram, data: region(dram, rng) },
      { loadAddr: APP_SEGMENTS.iram, data: region(iram, rng) },
      { loadAddr: APP_SEGMENTS.irom, data: region(irom, rng) },
    ],
    // call_start_cpu0 lives in IRAM.
    entry: APP_SEGMENTS.iram + 0x4f4,
    ...DEFAULT_FLASH,
    ...definedFlash(opts),
    maxChipRevFull: MAX_CHIP_REV_FULL,
    hashAppended: true,
    layout: 'esptool',
  });
}

function align4(n: number): number {
  return Math.floor(n / 4) * 4;
}

function definedFlash(o: FlashHeaderOptions): FlashHeaderOptions {
  const out: FlashHeaderOptions = {};
  if (o.flashMode !== undefined) out.flashMode = o.flashMode;
  if (o.flashSize !== undefined) out.flashSize = o.flashSize;
  if (o.flashFreq !== undefined) out.flashFreq = o.flashFreq;
  return out;
}

/** The partition table sector as flashed at 0x8000: the 0xC00-byte table padded with 0xFF to 4 KiB. */
export function makePartitionTableImage(entries: readonly PartitionEntry[] = MGOS_ESP32_PARTITIONS): Uint8Array {
  const out = new Uint8Array(0x1000).fill(0xff);
  out.set(buildPartitionTable(entries));
  return out;
}

/** otadata selecting slot (seq − 1) mod 2; seq 1 (ota_0) is what a fresh Mongoose OS flash ships. */
export function makeOtadataImage(seq = 1): Uint8Array {
  return buildOtadata({ seq });
}
