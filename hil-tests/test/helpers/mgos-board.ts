// A virtual ESP32 with the Mongoose OS layout and a LittleFS fs_0 running the Mongoose OS
// double, plus a raw UART0 link for byte-level tests of its RPC channel.
import { randomBytes } from 'node:crypto';
import { buildLittlefs } from '../../../firmware-js/littlefs/index.ts';
import { mongooseOs, type MongooseOsOptions } from '../../mongoose-os/index.ts';
import { VirtualEsp32, type VirtualEsp32Options } from '../../index.ts';
import { encryptRegions, encryptedChipEfuses, firmwareSet, place, type Region } from './firmware-set.ts';

export const FS0 = { offset: 0x190000, size: 0x40000 };

export interface MgosBoardOptions {
  files?: Record<string, string | Uint8Array>;
  /** Flash-encryption key: the board is encrypted (development mode) with it. */
  key?: Uint8Array;
  mgos?: MongooseOsOptions;
  name?: string;
  /** More chip options (e.g. `throttle: true` to pace UART0 at its baud rate). */
  chip?: VirtualEsp32Options;
}

export function fsImage(files: Record<string, string | Uint8Array>): Uint8Array {
  return buildLittlefs({
    size: FS0.size,
    files: Object.entries(files).map(([path, d]) => ({ path, data: typeof d === 'string' ? new TextEncoder().encode(d) : d })),
  });
}

export async function mgosBoard(opts: MgosBoardOptions = {}): Promise<VirtualEsp32> {
  const name = opts.name ?? `mgos-${randomBytes(3).toString('hex')}`;
  const chip = new VirtualEsp32({ ...opts.chip, name, firmware: mongooseOs(opts.mgos), ...(opts.key ? encryptedChipEfuses(opts.key) : {}) });
  let regions: Region[] = [...firmwareSet({ version: '1.2.3' }), { address: FS0.offset, data: fsImage({ 'conf0.json': '{}', ...opts.files }) }];
  if (opts.key) regions = encryptRegions(regions, opts.key);
  place(chip, regions);
  chip.powerOn();
  await waitFor(() => chip.state === 'app' && chip.bootLog().includes('Init done'), 'the double to boot');
  return chip;
}

export async function waitFor(cond: () => boolean, what: string, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Bytes to and from UART0 as latin1 text, with a wait for what the board sends. */
export class RawUart {
  private rx = '';
  private readonly off: () => void;
  constructor(readonly chip: VirtualEsp32) {
    this.off = chip.onTransmit((b) => (this.rx += Buffer.from(b).toString('latin1')));
  }
  send(s: string | Uint8Array): void {
    this.chip.receive(typeof s === 'string' ? Uint8Array.from(Buffer.from(s, 'latin1')) : s);
  }
  peek(): string {
    return this.rx;
  }
  /** Everything received so far, and clears it. */
  take(): string {
    const s = this.rx;
    this.rx = '';
    return s;
  }
  async until(pred: (rx: string) => boolean, what: string, ms = 1_000): Promise<string> {
    await waitFor(() => pred(this.rx), `${what} (got ${JSON.stringify(this.rx.slice(-300))})`, ms);
    return this.take();
  }
  /** Waits a little and returns what arrived (for "nothing is answered" checks). */
  async quiet(ms = 40): Promise<string> {
    await new Promise((r) => setTimeout(r, ms));
    return this.take();
  }
  close(): void {
    this.off();
  }
}
