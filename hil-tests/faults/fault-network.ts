// A virtual board's TCP stack with a fault switch: the host's own connections, remembered by
// destination port, so a fault point can reset the board's connection to the broker (MQTT
// over TLS) or to the firmware server (the HTTPS download) at the moment it chooses. A reset
// is a TCP RST under the TLS session, as a NAT timeout or a flaky access point gives.
import type { Socket } from 'node:net';
import { hostNetwork } from '../virtual-esp32/host-defaults.ts';
import type { Network } from '../virtual-esp32/firmware-host.ts';

export interface FaultNetwork extends Network {
  /** Resets every open connection to `port`; returns how many there were. */
  reset(port: number): number;
}

export function faultNetwork(): FaultNetwork {
  const open = new Map<number, Set<Socket>>();
  return {
    connect(o) {
      const socket = hostNetwork.connect(o) as Socket;
      const set = open.get(o.port) ?? new Set<Socket>();
      open.set(o.port, set);
      set.add(socket);
      socket.once('close', () => set.delete(socket));
      return socket;
    },
    reset(port) {
      const set = open.get(port) ?? new Set<Socket>();
      const n = set.size;
      for (const s of set) s.resetAndDestroy();
      set.clear();
      return n;
    },
  };
}
