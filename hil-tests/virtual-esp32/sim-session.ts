// A served virtual board as `espfleet sim` runs it: state file created or loaded, RFC 2217
// server listening, state saved shortly after each completed write and once more on stop.
import { existsSync } from 'node:fs';
import { VirtualEsp32 } from './virtual-esp32.ts';
import { Rfc2217Server } from './rfc2217-server.ts';
import { loadState, saveState } from './state-file.ts';
import type { VirtualEsp32Options } from './chip-options.ts';
import { SimError } from './errors.ts';
import type { Clock, Firmware, Network } from './firmware-host.ts';

export interface SimSessionOptions {
  /** `host:port`; port 0 picks a free one. */
  listen: string;
  statePath: string;
  /** Used only when the state file does not exist yet (a new board). */
  create: VirtualEsp32Options;
  throttle?: boolean;
  /** Delay between a completed write and the save, to batch a burst of blocks (ms). */
  saveDelayMs?: number;
  /** Firmware double to run after each flash boot (e.g. Mongoose OS), with its clock and network. */
  firmware?: Firmware;
  clock?: Clock;
  network?: Network;
}

export interface SimSession {
  chip: VirtualEsp32;
  server: Rfc2217Server;
  url: string;
  created: boolean;
  /** Saves now and stops serving. */
  stop(): Promise<void>;
}

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    throw new SimError('sim.bad_listen', `--listen expects host:port, got ${JSON.stringify(text)}`, { hint: 'e.g. 127.0.0.1:4000 (0 picks a free port)' });
  }
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}

export async function startSimSession(opts: SimSessionOptions): Promise<SimSession> {
  const { host, port } = parseListen(opts.listen);
  const created = !existsSync(opts.statePath);
  const runtime: VirtualEsp32Options = { throttle: opts.throttle ?? false, firmware: opts.firmware, clock: opts.clock, network: opts.network };
  const chip = created ? new VirtualEsp32({ ...opts.create, ...runtime }) : loadState(opts.statePath, runtime);
  let timer: NodeJS.Timeout | undefined;
  const save = () => {
    timer = undefined;
    saveState(chip, opts.statePath);
  };
  chip.onCommit(() => {
    if (!timer) timer = setTimeout(save, opts.saveDelayMs ?? 250);
  });
  chip.powerOn();
  const server = new Rfc2217Server(chip);
  // Listen first: a port that is taken must leave no new state file behind.
  const url = await server.listen({ host, port });
  if (created) saveState(chip, opts.statePath);
  return {
    chip,
    server,
    url,
    created,
    async stop() {
      if (timer) clearTimeout(timer);
      await server.close();
      await chip.idle();
      save();
    },
  };
}
