// Starts a virtual ESP32 behind an in-process RFC 2217 server on a free loopback port, and
// runs Espressif's tools (the test oracles) against it.
import { esptool, espefuse, type RunOptions, type RunResult } from '../../../scripts/lib/oracles.ts';
import { Rfc2217Server, VirtualEsp32, type VirtualEsp32Options } from '../../index.ts';

export interface ServedBoard {
  chip: VirtualEsp32;
  server: Rfc2217Server;
  url: string;
  esptool(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  espefuse(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  close(): Promise<void>;
}

export async function serveBoard(opts: VirtualEsp32Options = {}): Promise<ServedBoard> {
  const chip = new VirtualEsp32(opts);
  chip.powerOn();
  const server = new Rfc2217Server(chip);
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  return {
    chip,
    server,
    url,
    esptool: (args, o) => esptool(['--port', url, ...args], { timeoutMs: 170_000, ...o }),
    espefuse: (args, o) => espefuse(['--port', url, ...args], { timeoutMs: 170_000, ...o }),
    close: () => server.close(),
  };
}

/** Tool output without progress bars and pyserial's VID/PID notes, for readable failures. */
export function clean(r: RunResult): string {
  return `${r.stdout}\n${r.stderr}`
    .split('\n')
    .filter((l) => !l.includes('━') && !l.includes('VID/PID'))
    .join('\n');
}
