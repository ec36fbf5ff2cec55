// Which ports a station works on: --port, else ports.urls plus attached USB ports matching
// the config's [[ports.usb]] filters; and the check that every one exists before anything
// is unlocked or touched.
import { existsSync } from 'node:fs';
import { createTransport } from '../transport/open-transport.ts';
import { listPorts, type PortListing } from '../transport/port-list.ts';
import { parsePortUrl } from '../transport/port-url.ts';
import type { StationConfig, UsbFilter } from './config.ts';
import { StationError } from './pipeline.ts';

/** The port listing's hex VID/PID against the config's filters. */
export function matchesUsb(port: Pick<PortListing, 'vendorId' | 'productId'>, filters: readonly UsbFilter[]): boolean {
  if (port.vendorId === null) return false;
  const vid = parseInt(port.vendorId, 16);
  const pid = port.productId === null ? NaN : parseInt(port.productId, 16);
  return filters.some((f) => f.vid === vid && (f.pid === null || f.pid === pid));
}

/** --port wins; else ports.urls plus every attached port matching a ports.usb filter. */
export async function stationPorts(cfg: StationConfig, explicit: readonly string[], list: () => Promise<PortListing[]> = listPorts): Promise<string[]> {
  if (explicit.length > 0) return [...new Set(explicit)];
  const urls = [...cfg.ports.urls];
  if (cfg.ports.usb.length > 0) {
    for (const p of await list()) if (matchesUsb(p, cfg.ports.usb)) urls.push(p.path);
  }
  return [...new Set(urls)];
}

/** Every port must exist before the CA is unlocked or any board is opened. */
export function checkPorts(urls: readonly string[]): void {
  for (const url of urls) {
    const port = parsePortUrl(url);
    if (port.kind === 'sim') {
      createTransport(url); // throws transport.not_found for an unknown board; opens nothing
      continue;
    }
    if (port.kind === 'serial' && port.path.startsWith('/') && !existsSync(port.path)) {
      throw new StationError('station.port_missing', `port ${url} does not exist; no board was touched`, {
        hint: 'check the cable and `espfleet ports`, or fix --port / ports.urls in the station config',
      });
    }
  }
}

/** For --watch: the attached ports matching [[ports.usb]], or every likely ESP bridge without filters. */
export async function watchedPorts(cfg: StationConfig, list: () => Promise<PortListing[]> = listPorts): Promise<string[]> {
  const ports = await list();
  return ports.filter((p) => (cfg.ports.usb.length > 0 ? matchesUsb(p, cfg.ports.usb) : p.likelyEsp)).map((p) => p.path);
}
