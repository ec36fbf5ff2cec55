// The board under test as a scenario sees it: a port URL, its console, and a reset. Two
// backends: the virtual ESP32 (its UART tapped like a logic analyser on the cable) and a real
// board on a serial port (a monitor that holds the port between CLI commands).
import { join } from 'node:path';
import { createTransport } from '../../provisioner/transport/open-transport.ts';
import type { Transport } from '../../provisioner/transport/transport.ts';
import type { Firmware } from '../virtual-esp32/index.ts';
import { VirtualEsp32, registerSimBoard } from '../index.ts';
import { ConsoleLog } from './console-log.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Board {
  readonly kind: 'virtual' | 'real';
  /** What the CLI is given as `--port`. */
  readonly portUrl: string;
  readonly console: ConsoleLog;
  /** Waits for `pattern` on the console after the previous match (see ConsoleLog.expect). */
  expect(pattern: RegExp | string, timeoutMs: number): Promise<RegExpExecArray>;
  /** What the auto-reset circuit does for esptool's hard reset: EN pulsed with IO0 high, so the board boots its app. */
  reset(): Promise<void>;
  /** Runs `fn` (a CLI command) with the port free: a real board's monitor lets go of it meanwhile. */
  withPort<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * The virtual ESP32. `firmware` is what its CPU runs once its flash holds an app (the
 * Mongoose OS double with the agent); it is attached at the first reset after provisioning,
 * as a real board starts running what was flashed.
 */
export class VirtualBoard implements Board {
  readonly kind = 'virtual';
  readonly chip: VirtualEsp32;
  readonly portUrl: string;
  readonly console: ConsoleLog;
  private readonly offs: Array<() => void> = [];
  private readonly firmware: () => Firmware;
  private attached = false;

  constructor(opts: { name: string; logDir: string; firmware: () => Firmware }) {
    this.chip = new VirtualEsp32({ name: opts.name });
    this.console = new ConsoleLog(join(opts.logDir, `${opts.name}.log`));
    this.offs.push(this.chip.onTransmit((b) => this.console.feed(b)));
    this.offs.push(registerSimBoard(opts.name, this.chip));
    this.portUrl = `sim://${opts.name}`;
    this.firmware = opts.firmware;
    this.chip.powerOn();
  }

  expect(pattern: RegExp | string, timeoutMs: number): Promise<RegExpExecArray> {
    return this.console.expect(pattern, timeoutMs);
  }

  async reset(): Promise<void> {
    if (!this.attached) {
      this.chip.attachFirmware(this.firmware());
      this.attached = true;
    }
    this.console.note('reset (EN pulse, IO0 high)');
    this.chip.setSignals({ dtr: false, rts: true });
    await sleep(5);
    this.chip.setSignals({ dtr: false, rts: false });
    await sleep(30);
  }

  withPort<T>(fn: () => Promise<T>): Promise<T> {
    return fn(); // the tap holds no port
  }

  async close(): Promise<void> {
    for (const off of this.offs.splice(0)) off();
    this.chip.powerOff();
  }
}

/**
 * A real ESP32 on `portUrl` (/dev/ttyUSB0, serial://…, rfc2217://…). The monitor opens the
 * port with DTR and RTS released (no reset) and closes it around each CLI command, which
 * needs the port to itself; output while the CLI holds the port is the CLI's, not logged.
 */
export class SerialBoard implements Board {
  readonly kind = 'real';
  readonly console: ConsoleLog;
  private transport: Transport | undefined;
  private off: (() => void) | undefined;

  constructor(
    readonly portUrl: string,
    logDir: string,
  ) {
    this.console = new ConsoleLog(join(logDir, `${portUrl.replace(/[^A-Za-z0-9]+/g, '_')}.log`));
  }

  async open(): Promise<void> {
    if (this.transport) return;
    const t = createTransport(this.portUrl);
    await t.open();
    await t.setSignals({ dtr: false, rts: false });
    this.off = t.onData((b) => this.console.feed(b));
    this.transport = t;
  }

  expect(pattern: RegExp | string, timeoutMs: number): Promise<RegExpExecArray> {
    return this.console.expect(pattern, timeoutMs);
  }

  async reset(): Promise<void> {
    await this.open();
    this.console.note('reset (RTS → EN low 100 ms, DTR released: IO0 high)');
    await this.transport!.setSignals({ dtr: false, rts: true });
    await sleep(100);
    await this.transport!.setSignals({ dtr: false, rts: false });
  }

  async withPort<T>(fn: () => Promise<T>): Promise<T> {
    await this.close();
    try {
      return await fn();
    } finally {
      await this.open();
    }
  }

  async close(): Promise<void> {
    this.off?.();
    this.off = undefined;
    const t = this.transport;
    this.transport = undefined;
    await t?.close();
  }
}
