// A Mongoose OS style flash set (bootloader, partition table, otadata, app slots) from the
// firmware-js test generators, plus helpers to place it on a virtual board.
import { encryptFlash, keyFileToBlk1Words, padForEncryption } from '../../../firmware-js/flash-encryption/index.ts';
import { makeAppImage, makeBootloaderImage, makeOtadataImage, makePartitionTableImage } from '../../../firmware-js/testgen/images.ts';
import type { VirtualEsp32, VirtualEsp32Options } from '../../index.ts';

export interface Region {
  address: number;
  data: Uint8Array;
}

export function firmwareSet(opts: { version: string; seq?: number; app1Version?: string; appSize?: number }): Region[] {
  const regions: Region[] = [
    { address: 0x1000, data: makeBootloaderImage() },
    { address: 0x8000, data: makePartitionTableImage() },
    { address: 0xd000, data: makeOtadataImage(opts.seq ?? 1) },
    { address: 0x10000, data: makeAppImage({ version: opts.version, projectName: 'espfleet-demo', appSize: opts.appSize ?? 0x8000 }) },
  ];
  if (opts.app1Version) {
    regions.push({ address: 0x1d0000, data: makeAppImage({ version: opts.app1Version, projectName: 'espfleet-demo', appSize: opts.appSize ?? 0x8000, seed: 2 }) });
  }
  return regions;
}

/** What a host-side pre-encryption (espsecure encrypt-flash-data) produces for each region. */
export function encryptRegions(regions: Region[], key: Uint8Array): Region[] {
  return regions.map((r) => ({ address: r.address, data: encryptFlash(padForEncryption(r.data), r.address, key, 0xf) }));
}

/** eFuses of a chip set up for development-mode flash encryption with `key` (spec §5.4). */
export function encryptedChipEfuses(key: Uint8Array): Pick<VirtualEsp32Options, 'efuseFields' | 'efuseBlocks'> {
  return {
    // WR_DIS bit 7 + RD_DIS bit 0: the key is write- and read-protected, as burn-key leaves it.
    efuseFields: { FLASH_CRYPT_CNT: 1, FLASH_CRYPT_CONFIG: 0xf, WR_DIS: 1 << 7, RD_DIS: 1 },
    efuseBlocks: [[], Array.from(keyFileToBlk1Words(key))],
  };
}

/** Writes regions straight into flash, as a factory programmer would (erase + program). */
export function place(chip: VirtualEsp32, regions: Region[]): void {
  for (const r of regions) {
    chip.flash.eraseCovering(r.address, r.data.length);
    chip.flash.program(r.address, r.data);
  }
}

/** Pulses EN with IO0 high (esptool's hard reset) and waits for the straps to latch. */
export async function hardReset(chip: VirtualEsp32): Promise<void> {
  if (chip.state === 'off') chip.powerOn();
  chip.setSignals({ dtr: false, rts: true });
  await new Promise((r) => setTimeout(r, 5));
  chip.setSignals({ dtr: false, rts: false });
  await new Promise((r) => setTimeout(r, 30));
}
