// Saves and loads a virtual ESP32's persistent state (flash, eFuse bits, options) as one file:
// a small JSON header, then only the flash sectors that are not blank (0xFF).
import { mkdirSync, readFileSync } from 'node:fs';
import { writeFileDurable } from '../../certs/durable-file.ts';
import { dirname } from 'node:path';
import { FLASH_SECTOR } from './targets/esp32.ts';
import { formatMac } from './chip-identity.ts';
import { VirtualEsp32 } from './virtual-esp32.ts';
import type { VirtualEsp32Options } from './chip-options.ts';
import { SimError } from './errors.ts';

const MAGIC = 'ESPFLEET-SIM-1\n';

interface Header {
  options: { name: string; mac: string; revision: 1 | 3; flashSize: number; chipMagic: number; xtalMhz: 40 | 26 };
  efuse: number[][];
  /** Indices of the sectors stored after the header, in order. */
  sectors: number[];
}

export function encodeState(chip: VirtualEsp32): Uint8Array {
  const o = chip.options;
  const sectors: number[] = [];
  const bytes = chip.flash.bytes;
  for (let s = 0; s < chip.flash.size / FLASH_SECTOR; s++) {
    const sector = bytes.subarray(s * FLASH_SECTOR, (s + 1) * FLASH_SECTOR);
    if (!sector.every((b) => b === 0xff)) sectors.push(s);
  }
  const header: Header = {
    options: { name: o.name, mac: formatMac(o.mac), revision: o.revision, flashSize: o.flashSize, chipMagic: o.chipMagic, xtalMhz: o.xtalMhz },
    efuse: chip.efuse.fuses.map((w) => Array.from(w)),
    sectors,
  };
  const head = Buffer.from(`${MAGIC}${JSON.stringify(header)}\n`, 'utf8');
  const out = Buffer.alloc(head.length + sectors.length * FLASH_SECTOR);
  head.copy(out);
  sectors.forEach((s, i) => out.set(bytes.subarray(s * FLASH_SECTOR, (s + 1) * FLASH_SECTOR), head.length + i * FLASH_SECTOR));
  return out;
}

/** Rebuilds a chip; `extra` adds runtime-only options (throttle, faults) that are not saved. */
export function decodeState(file: Uint8Array, extra: VirtualEsp32Options = {}, where = 'state'): VirtualEsp32 {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const nl = buf.indexOf(0x0a, MAGIC.length);
  if (buf.subarray(0, MAGIC.length).toString('utf8') !== MAGIC || nl < 0) {
    throw new SimError('sim.state.bad_format', `${where} is not a virtual ESP32 state file`, { hint: 'give a new path to create one' });
  }
  let header: Header;
  try {
    header = JSON.parse(buf.subarray(MAGIC.length, nl).toString('utf8')) as Header;
  } catch (e) {
    throw new SimError('sim.state.bad_format', `${where}: header is not valid JSON`, { cause: e });
  }
  const body = buf.subarray(nl + 1);
  if (body.length !== header.sectors.length * FLASH_SECTOR) {
    throw new SimError('sim.state.truncated', `${where}: expected ${header.sectors.length} sectors, found ${body.length} bytes`);
  }
  const flash = new Uint8Array(header.options.flashSize).fill(0xff);
  header.sectors.forEach((s, i) => flash.set(body.subarray(i * FLASH_SECTOR, (i + 1) * FLASH_SECTOR), s * FLASH_SECTOR));
  return new VirtualEsp32({ ...header.options, ...extra, mac: header.options.mac }, { flash, efuse: header.efuse });
}

/** Writes durably (the project's one crash-safe writer), so a crash never leaves half a state file. */
export function saveState(chip: VirtualEsp32, path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileDurable(path, encodeState(chip));
}

export function loadState(path: string, extra: VirtualEsp32Options = {}): VirtualEsp32 {
  let file: Buffer;
  try {
    file = readFileSync(path);
  } catch (e) {
    throw new SimError('sim.state.unreadable', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  return decodeState(file, extra, path);
}
