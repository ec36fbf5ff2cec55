// A headless fleet of virtual boards in one process (issue 17): each board is a virtual ESP32
// with its own flash, eFuses, key and certificate, running the Mongoose OS double with the real
// agent and its own MQTT/TLS connection. Boards are provisioned by the station's own pipeline
// over the direct session (direct-session.ts: no ROM protocol, no UART traffic), and boards
// without flash encryption share identical flash sectors copy-on-write (nor-flash.ts).
import { randomBytes } from 'node:crypto';
import { agentFirmware } from '../../agent/test/agent-firmware.ts';
import type { OpenStation } from '../../provisioner/station/open-station.ts';
import { BOOT_FAILED, BOOT_LOADED, BOOT_OK, type BootVerdict, type BoardOutcome, type PipelineContext } from '../../provisioner/station/pipeline.ts';
import { runStation } from '../../provisioner/station/runner.ts';
import type { Firmware } from '../virtual-esp32/firmware-host.ts';
import { SectorStore, type FlashFootprint } from '../virtual-esp32/nor-flash.ts';
import { VirtualEsp32 } from '../virtual-esp32/virtual-esp32.ts';
import { DirectBoardSession, asBoardSession } from './direct-session.ts';

export interface HeadlessFleetOptions {
  /** The station whose pipeline provisions the boards (openStation). */
  station: OpenStation;
  count: number;
  /** Of `count`, how many (the last ones) are provisioned with flash encryption off whatever the station's mode; default none. */
  plaintext?: number;
  /** Board names are `<prefix>-<n>`; default the station id. */
  prefix?: string;
  /** Boards provisioned at the same time; default 16. */
  concurrency?: number;
  /** Share identical sectors of plaintext boards (default true). */
  shareSectors?: boolean;
  /** The firmware every board runs; default the agent firmware (agent/test/agent-firmware.ts). */
  firmware?: () => Firmware;
  /** Progress lines from the pipeline, `[port] step…`. */
  onLine?: (line: string) => void;
  /** Stops provisioning at the pipeline's safe points (runStation). */
  signal?: AbortSignal;
  /** How long the boot check waits for the console; default 20 s (a loaded machine). */
  bootTimeoutMs?: number;
}

export interface HeadlessBoard {
  name: string;
  /** `sim://<name>`: the port the station's records and audit entries name. */
  url: string;
  chip: VirtualEsp32;
  encrypted: boolean;
  outcome: BoardOutcome;
  /** Null when provisioning failed before the id was known. */
  deviceId: string | null;
}

export interface FleetMemory {
  boards: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** ArrayBuffer memory (flash sectors, TLS and socket buffers): what boards hold outside the JS heap. */
  arrayBufferBytes: number;
  /** Summed over boards: sectors only that board holds, sectors shared, erased. */
  flash: { ownSectors: number; sharedSectors: number; erasedSectors: number; ownBytes: number; distinctSharedSectors: number };
}

export interface HeadlessFleet {
  boards: readonly HeadlessBoard[];
  /** The boards that were provisioned (and run). */
  provisioned(): HeadlessBoard[];
  /** Pools the sectors plaintext boards wrote since the last call (also done every few seconds). */
  shareSectors(): void;
  /** Boards whose agent holds an MQTT connection now (from each board's console). */
  online(): number;
  memory(): FleetMemory;
  /** Powers every board off (their connections close); the station stays open. */
  stop(): void;
}

/** How often plaintext boards' new sectors are pooled. */
const SHARE_EVERY_MS = 3000;

export async function startHeadlessFleet(opts: HeadlessFleetOptions): Promise<HeadlessFleet> {
  const { station } = opts;
  const prefix = opts.prefix ?? station.ctx.station;
  const plaintext = Math.min(opts.count, Math.max(0, opts.plaintext ?? 0));
  const stationEncrypts = station.ctx.encryptionMode !== 'off';
  const firmware = opts.firmware ?? (() => agentFirmware());
  const store = new SectorStore();
  const share = opts.shareSectors ?? true;
  // Consecutive MACs from a random start: distinct within the fleet (no {mac6} clash), new per run.
  const macBase = randomBytes(3).readUIntBE(0, 3);
  const chips = new Map<string, { chip: VirtualEsp32; encrypted: boolean }>();
  for (let i = 0; i < opts.count; i++) {
    const name = `${prefix}-${i}`;
    const n = (macBase + i) % 0x1000000;
    const chip = new VirtualEsp32({ name, mac: Uint8Array.of(0x24, 0x0a, 0xc4, n >>> 16, (n >>> 8) & 0xff, n & 0xff), firmware: firmware() });
    // A board with a fault of the double halts visibly (state faulted); the fleet goes on.
    chip.onFault(() => {});
    chip.powerOn();
    chips.set(`sim://${name}`, { chip, encrypted: stationEncrypts && i < opts.count - plaintext });
  }
  const chipAt = (url: string) => {
    const c = chips.get(url);
    if (!c) throw new Error(`bug: no headless board ${url}`);
    return c.chip;
  };
  const ctx = (encrypted: boolean): PipelineContext => ({
    ...station.ctx,
    ...(encrypted ? {} : { encryptionMode: 'off' as const }),
    connect: async (url) => asBoardSession(await DirectBoardSession.open(url, chipAt(url))),
    bootCheck: (url) => consoleVerdict(chipAt(url), opts.bootTimeoutMs ?? 20_000),
  });
  const run = (encrypted: boolean) => {
    const urls = [...chips].filter(([, c]) => c.encrypted === encrypted).map(([url]) => url);
    if (urls.length === 0) return Promise.resolve([]);
    return runStation(ctx(encrypted), urls, { concurrency: opts.concurrency ?? 16, ...(opts.onLine ? { onLine: opts.onLine } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  };
  const outcomes = new Map<string, BoardOutcome>();
  // One after the other: a registry and an audit log take one writer at a time anyway.
  for (const o of [...(await run(true)), ...(await run(false))]) outcomes.set(o.portUrl, o);

  const boards: HeadlessBoard[] = [...chips].map(([url, c]) => {
    const outcome = outcomes.get(url);
    if (!outcome) throw new Error(`bug: no outcome for ${url}`);
    return { name: c.chip.options.name, url, chip: c.chip, encrypted: c.encrypted, outcome, deviceId: outcome.deviceId };
  });
  const plain = boards.filter((b) => !b.encrypted);
  const shareSectors = () => {
    if (share) for (const b of plain) b.chip.flash.shareSectors(store);
  };
  shareSectors();
  const timer = setInterval(shareSectors, SHARE_EVERY_MS);
  timer.unref();
  return {
    boards,
    provisioned: () => boards.filter((b) => b.outcome.ok),
    shareSectors,
    online: () => boards.filter((b) => mqttConnected(b.chip)).length,
    memory: () => fleetMemory(boards, store),
    stop() {
      clearInterval(timer);
      for (const b of boards) b.chip.powerOff();
    },
  };
}

/**
 * The boot verdict from the board's console, by the rules the station applies to a real
 * board's serial output (steps/boot-check.ts): a failure line fails, an app-up line passes,
 * the bootloader's hand-over passes when no failure follows within the grace period.
 */
export async function consoleVerdict(chip: VirtualEsp32, timeoutMs: number, graceMs = 1500): Promise<BootVerdict> {
  let loadedAt: number | undefined;
  for (let waited = 0; waited <= timeoutMs + (loadedAt === undefined ? 0 : graceMs); waited += 20) {
    for (const line of chip.bootLog().split(/\r?\n/)) {
      if (BOOT_FAILED.test(line)) return { ok: false, line: line.trim() };
      if (BOOT_OK.test(line)) return { ok: true, line: line.trim() };
      if (loadedAt === undefined && BOOT_LOADED.test(line)) loadedAt = waited;
    }
    if (loadedAt !== undefined && waited - loadedAt >= graceMs) {
      return { ok: true, line: chip.bootLog().split(/\r?\n/).find((l) => BOOT_LOADED.test(l))?.trim() ?? 'loaded' };
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { ok: false, line: `no boot verdict on the console within ${timeoutMs} ms` };
}

/** The double's MQTT log lines since the last boot: connected when the last event was a CONNACK. */
export function mqttConnected(chip: VirtualEsp32): boolean {
  if (chip.state !== 'app') return false;
  const log = chip.bootLog();
  return log.lastIndexOf('MQTT CONNACK 0') > log.lastIndexOf('MQTT Disconnect');
}

function fleetMemory(boards: readonly HeadlessBoard[], store: SectorStore): FleetMemory {
  const m = process.memoryUsage();
  const flash = { ownSectors: 0, sharedSectors: 0, erasedSectors: 0, ownBytes: 0, distinctSharedSectors: store.size };
  for (const b of boards) {
    const f: FlashFootprint = b.chip.flash.footprint();
    flash.ownSectors += f.ownSectors;
    flash.sharedSectors += f.sharedSectors;
    flash.erasedSectors += f.erasedSectors;
    flash.ownBytes += f.ownBytes;
  }
  return { boards: boards.length, rssBytes: m.rss, heapUsedBytes: m.heapUsed, arrayBufferBytes: m.arrayBuffers, flash };
}
