// Options that describe one virtual ESP32 board, resolved to plain values (spec
// esp32-rom-efuse-crypto.md §2): identity, flash size, crystal, pre-burned eFuses, faults.
import { BLK0_FIELDS, ESP32_MAGIC, FLASH_SIZES, fieldMask, type FlashSizeName, type OpcodeName } from './targets/esp32.ts';
import { factoryBlk0, macForName, parseMac } from './chip-identity.ts';
import type { LineFaults } from './uart-link.ts';
import type { Clock, Firmware, Network } from './firmware-host.ts';
import { SimError } from './errors.ts';

/** Power is cut after the chip received N bytes, or when a named command arrives. */
export interface PowerLossFault {
  afterRxBytes?: number;
  atCommand?: OpcodeName;
  /** Which occurrence of `atCommand` (1 = the first). */
  occurrence?: number;
}

export interface VirtualEsp32Options {
  /** Board name (used for `sim://name` and to derive a stable MAC). */
  name?: string;
  mac?: string | Uint8Array;
  revision?: 1 | 3;
  flashSize?: FlashSizeName | number;
  /** A different CHIP_DETECT_MAGIC value makes tools refuse the chip (not an ESP32). */
  chipMagic?: number;
  xtalMhz?: 40 | 26;
  /** BLK0 fields burned at the factory, by espefuse name, e.g. `{ JTAG_DISABLE: 1 }`. */
  efuseFields?: Record<string, number>;
  /** Raw eFuse words per block (BLK0..BLK3), ORed over the factory values. */
  efuseBlocks?: readonly (readonly number[])[];
  /** Pace the UART at the current baud (bytes/s = baud / 10). */
  throttle?: boolean;
  lineFaults?: LineFaults;
  powerLoss?: PowerLossFault;
  /** How long EN must stay high before the straps are latched (the EN RC delay), ms. */
  strapLatchMs?: number;
  /** Firmware double run after a flash boot passes the boot check (e.g. Mongoose OS). */
  firmware?: Firmware;
  /** The firmware's clock (default: the host's). */
  clock?: Clock;
  /** The firmware's IP stack (default: the host's TCP). */
  network?: Network;
}

export interface ResolvedOptions {
  name: string;
  mac: Uint8Array;
  revision: 1 | 3;
  flashSize: number;
  chipMagic: number;
  xtalMhz: 40 | 26;
  strapLatchMs: number;
}

export function resolveOptions(opts: VirtualEsp32Options): ResolvedOptions {
  const name = opts.name ?? 'esp32';
  const mac = typeof opts.mac === 'string' ? parseMac(opts.mac) : (opts.mac ?? macForName(name));
  const flashSize = typeof opts.flashSize === 'number' ? opts.flashSize : FLASH_SIZES[opts.flashSize ?? '4MB'];
  if (!Object.values(FLASH_SIZES).includes(flashSize as 4194304)) {
    throw new SimError('sim.bad_flash_size', `flash size ${flashSize} is not 4, 8 or 16 MB`, { hint: 'use 4MB, 8MB or 16MB' });
  }
  const revision = opts.revision ?? 3;
  if (revision !== 1 && revision !== 3) throw new SimError('sim.bad_revision', `revision ${String(revision)} is not 1 or 3`);
  return {
    name,
    mac,
    revision,
    flashSize,
    chipMagic: (opts.chipMagic ?? ESP32_MAGIC) >>> 0,
    xtalMhz: opts.xtalMhz ?? 40,
    strapLatchMs: opts.strapLatchMs ?? 5,
  };
}

/** The eFuse words of a new chip: factory BLK0, then the requested pre-burned bits ORed in. */
export function initialEfuses(resolved: ResolvedOptions, opts: VirtualEsp32Options): number[][] {
  const blocks = [factoryBlk0({ mac: resolved.mac, revision: resolved.revision }), new Array<number>(8).fill(0), new Array<number>(8).fill(0), new Array<number>(8).fill(0)];
  for (const [name, value] of Object.entries(opts.efuseFields ?? {})) {
    const f = BLK0_FIELDS.find((x) => x.name === name);
    if (!f) throw new SimError('sim.unknown_efuse', `unknown eFuse field ${name}`, { hint: `known: ${BLK0_FIELDS.map((x) => x.name).join(', ')}` });
    const w = blocks[0] as number[];
    w[f.word] = ((w[f.word] ?? 0) | ((value << f.lsb) & fieldMask(f))) >>> 0;
  }
  opts.efuseBlocks?.forEach((words, b) =>
    words.forEach((v, i) => {
      const blk = blocks[b];
      if (blk && i < blk.length) blk[i] = ((blk[i] ?? 0) | v) >>> 0;
    }),
  );
  return blocks;
}
