// Picks the transport for a port URL (schemes: port-url.ts): node serialport, network
// serial, or an in-process virtual board registered by the rig.
import { TransportError } from './errors.ts';
import { NodeSerialTransport } from './node-serial-transport.ts';
import { Rfc2217Transport } from './rfc2217-transport.ts';
import type { Transport } from './transport.ts';
import { parsePortUrl } from './port-url.ts';

export type SimTransportFactory = (name: string, url: string) => Transport;

const simBoards = new Map<string, SimTransportFactory>();

/** Makes `sim://<name>` resolvable; the virtual-board rig registers its boards here. */
export function registerSimBoard(name: string, factory: SimTransportFactory): () => void {
  simBoards.set(name, factory);
  return () => void simBoards.delete(name);
}

export function createTransport(url: string): Transport {
  const port = parsePortUrl(url);
  switch (port.kind) {
    case 'rfc2217':
      return new Rfc2217Transport(url);
    case 'serial':
      return new NodeSerialTransport(port.path, url);
    case 'sim': {
      const factory = simBoards.get(port.name);
      if (!factory) {
        throw new TransportError('transport.not_found', `no virtual board named "${port.name}" in this process`, {
          hint: `boards: ${[...simBoards.keys()].join(', ') || 'none'}; start one with \`espfleet sim\` and use its rfc2217:// URL`,
        });
      }
      return factory(port.name, url);
    }
  }
}

/** A sim:// board is known in this process (opens nothing). */
export function simBoardExists(name: string): boolean {
  return simBoards.has(name);
}
