// Picks the transport from a port URL (DESIGN.md "Transport"): device paths and
// serial:// → node serialport, rfc2217:// → network serial, sim:// → an
// in-process virtual board registered by the rig.
import { TransportError } from './errors.ts';
import { NodeSerialTransport } from './node-serial-transport.ts';
import { Rfc2217Transport } from './rfc2217-transport.ts';
import type { Transport } from './transport.ts';

export type SimTransportFactory = (name: string, url: string) => Transport;

const simBoards = new Map<string, SimTransportFactory>();

/** Makes `sim://<name>` resolvable; the virtual-board rig registers its boards here. */
export function registerSimBoard(name: string, factory: SimTransportFactory): () => void {
  simBoards.set(name, factory);
  return () => void simBoards.delete(name);
}

export function createTransport(url: string): Transport {
  if (url.startsWith('rfc2217://')) return new Rfc2217Transport(url);
  if (url.startsWith('sim://')) {
    const name = url.slice('sim://'.length);
    const factory = simBoards.get(name);
    if (!factory) {
      throw new TransportError('transport.not_found', `no virtual board named "${name}" in this process`, {
        hint: `boards: ${[...simBoards.keys()].join(', ') || 'none'}; start one with \`espfleet sim\` and use its rfc2217:// URL`,
      });
    }
    return factory(name, url);
  }
  if (url.startsWith('serial://')) return new NodeSerialTransport(url.slice('serial://'.length), url);
  if (url.startsWith('/') || /^COM\d+$/i.test(url)) return new NodeSerialTransport(url);
  throw new TransportError('transport.bad_url', `cannot tell what kind of port "${url}" is`, {
    hint: 'use a device path (/dev/ttyUSB0), serial:///dev/ttyUSB0, rfc2217://host:port or sim://name',
  });
}
