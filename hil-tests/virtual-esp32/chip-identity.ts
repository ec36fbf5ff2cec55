// The factory-burned part of a new ESP32's BLK0 (spec esp32-rom-efuse-crypto.md §2): MAC with
// its CRC-8, revision bits, package and the CLK8M value that keeps esptool's baud correction at 1.
import { CLK8M_FREQ_EFUSE, REVISIONS } from './targets/esp32.ts';
import { SimError } from './errors.ts';

/** CRC-8, reflected polynomial 0x8C (Dallas/Maxim), init 0, over the MAC in printed order. */
export function macCrc8(mac: Uint8Array): number {
  let crc = 0;
  for (const byte of mac) {
    let b = byte;
    for (let i = 0; i < 8; i++) {
      const mix = (crc ^ b) & 1;
      crc >>= 1;
      if (mix) crc ^= 0x8c;
      b >>= 1;
    }
  }
  return crc;
}

export function parseMac(text: string): Uint8Array {
  const m = /^([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})$/i.exec(text.trim());
  if (!m) throw new SimError('sim.bad_mac', `not a MAC address: ${JSON.stringify(text)}`, { hint: 'use the form 24:0a:c4:12:34:56' });
  const mac = Uint8Array.from(m.slice(1, 7).map((h) => parseInt(h, 16)));
  if ((mac[0] ?? 0) & 1) throw new SimError('sim.bad_mac', `${text} is a multicast address; a factory MAC is unicast`);
  return mac;
}

export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** BLK0 words 1 and 2 for a factory MAC (§2: big-endian across the 48 bits, CRC in w2[23:16]). */
export function macWords(mac: Uint8Array): [number, number] {
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0] = mac;
  const w1 = ((c << 24) | (d << 16) | (e << 8) | f) >>> 0;
  const w2 = ((macCrc8(mac) << 16) | (a << 8) | b) >>> 0;
  return [w1, w2];
}

export interface IdentityOptions {
  mac: Uint8Array;
  revision: 1 | 3;
  /** CHIP_PACKAGE (0 = D0WDQ6). */
  package?: number;
}

/** The seven BLK0 words a fresh chip leaves the factory with. */
export function factoryBlk0(opts: IdentityOptions): number[] {
  const rev = REVISIONS[opts.revision];
  const [w1, w2] = macWords(opts.mac);
  const pkg = opts.package ?? 0;
  const word3 = ((rev.word3Rev1 ? 1 << 15 : 0) | ((pkg & 7) << 9) | (pkg & 8 ? 1 << 2 : 0)) >>> 0;
  // ADC_VREF gets a typical factory trim so the chip does not look blank in espefuse summary.
  const word4 = (CLK8M_FREQ_EFUSE | (0x11 << 8)) >>> 0;
  const word5 = rev.word5Rev2 ? 1 << 20 : 0;
  return [0, w1, w2, word3, word4, word5 >>> 0, 0];
}

/** A deterministic Espressif-OUI MAC for a board name, so `sim://board1` keeps its identity. */
export function macForName(name: string): Uint8Array {
  let h = 0x811c9dc5;
  for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return Uint8Array.from([0x24, 0x0a, 0xc4, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff]);
}
