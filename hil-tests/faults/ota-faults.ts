// The OTA flow of the fault matrix (fault-matrix.ts): one `espfleet ota rollout` of a signed
// 1.1.0 to station-provisioned, encrypted virtual boards running the real agent against a
// real mosquitto (agent-fleet.ts), each board hit at its own named point of its update —
// power cut at a flash write or console line (back 300 ms later), or its TCP connection to
// the broker or the firmware server reset. The recovery the product prescribes is nothing
// but the board rebooting by itself (and the rollout going on). Then every board must boot a
// firmware the boot check accepts, come back online (the broker accepted its certificate),
// agree with the rollout record and the registry, and take the next update: a 1.2.0 rollout
// whose driver is SIGKILLed mid-wave and resumed — itself one more point.
import { findPartition } from '../../firmware-js/partition/table.ts';
import { MGOS_ESP32_PARTITIONS } from '../../firmware-js/partition/mgos-layout.ts';
import { waitUntil } from '../../certs/test/mosquitto-harness.ts';
import { startAgentFleet, type AgentFleet } from '../../provisioner/test/agent-fleet.ts';
import { spawnCli } from '../../provisioner/test/cli-child.ts';
import { espfleet } from '../../provisioner/test/cli-harness.ts';
import type { VirtualEsp32 } from '../virtual-esp32/index.ts';
import { faultNetwork, type FaultNetwork } from './fault-network.ts';
import { check, verdictFor, type FaultPoint, type PointVerdict } from './fault-matrix.ts';

const part = (label: string) => findPartition(MGOS_ESP32_PARTITIONS, label)!;
const APP_1 = part('app_1');
const FS_1 = part('fs_1');
const OTADATA = part('otadata');
const NVS = part('nvs');
const inside = (o: number, p: { offset: number; size: number }) => o >= p.offset && o < p.offset + p.size;
const lastSector = (len: number) => Math.floor((len - 1) / 0x1000) * 0x1000;

export interface OtaFlashContext {
  appLen: number;
  fsLen: number;
  /** True from the updater's "First boot of slot" line on: otadata/NVS writes are then the commit's. */
  firstBoot: boolean;
}

export interface OtaPoint extends FaultPoint {
  /** Fires inside a flash write/erase of the firmware (`APP_FLASH_WRITE 0x…`) at this offset. */
  flash?: (offset: number, ctx: OtaFlashContext) => boolean;
  /** Fires right after a console line of the board (before anything the network brings). */
  line?: RegExp;
  /** What firing does; default: the power goes, back 300 ms later. */
  action?: 'reset-broker' | 'reset-download';
  /** For power cuts: how the board's update ends (rollout-power-loss.test.ts holds the product to it). */
  ends?: 'failed' | 'reverted' | 'committed';
}

/** Power cuts at 11 points of an update (issue 15 acceptance; rollout-power-loss.test.ts). */
export const OTA_POWER_POINTS: readonly OtaPoint[] = [
  { name: 'ota/command/download-starting', kind: 'power-loss', what: 'power lost on the command, as the download starts', line: /mgos_ota_http_start  GET/, ends: 'failed' },
  { name: 'ota/download/first-app-sector', kind: 'power-loss', what: 'power lost inside the first write of the new app slot', flash: (o) => inside(o, APP_1), ends: 'failed' },
  { name: 'ota/download/middle-app-sector', kind: 'power-loss', what: 'power lost half-way through the app', flash: (o, c) => inside(o, APP_1) && o - APP_1.offset >= c.appLen / 2, ends: 'failed' },
  { name: 'ota/download/last-app-sector', kind: 'power-loss', what: 'power lost at the last sector of the app', flash: (o, c) => inside(o, APP_1) && o - APP_1.offset >= lastSector(c.appLen), ends: 'failed' },
  { name: 'ota/download/first-fs-sector', kind: 'power-loss', what: 'power lost at the first sector of the new fs slot', flash: (o) => inside(o, FS_1), ends: 'failed' },
  { name: 'ota/download/middle-fs-sector', kind: 'power-loss', what: 'power lost half-way through the fs', flash: (o, c) => inside(o, FS_1) && o - FS_1.offset >= c.fsLen / 2, ends: 'failed' },
  { name: 'ota/download/last-fs-sector', kind: 'power-loss', what: 'power lost at the last sector of the fs', flash: (o, c) => inside(o, FS_1) && o - FS_1.offset >= lastSector(c.fsLen), ends: 'failed' },
  { name: 'ota/finalize/after-applied', kind: 'power-loss', what: 'power lost after finalize (otadata names the new slot), before the reboot', line: /Update applied to slot/, ends: 'committed' },
  { name: 'ota/first-boot/before-commit', kind: 'power-loss', what: 'power lost on the first boot of the new slot, before it commits', line: /espfleet: verifying/, ends: 'reverted' },
  { name: 'ota/commit/otadata-write', kind: 'power-loss', what: "power lost inside the commit's otadata write", flash: (o, c) => c.firstBoot && inside(o, OTADATA), ends: 'reverted' },
  { name: 'ota/commit/nvs-write', kind: 'power-loss', what: "power lost inside the commit's NVS write (otadata already committed)", flash: (o, c) => c.firstBoot && inside(o, NVS), ends: 'committed' },
];

export const OTA_LINE_POINTS: readonly OtaPoint[] = [
  { name: 'ota/download/tls-reset-first-app-sector', kind: 'line-fault', what: 'the HTTPS download reset (TCP RST) at the first write of the app slot', flash: (o) => inside(o, APP_1), action: 'reset-download' },
  { name: 'ota/download/tls-reset-middle-fs-sector', kind: 'line-fault', what: 'the HTTPS download reset half-way through the fs', flash: (o, c) => inside(o, FS_1) && o - FS_1.offset >= c.fsLen / 2, action: 'reset-download' },
  { name: 'ota/mqtt/broker-reset-on-command', kind: 'line-fault', what: 'the broker connection reset as the download starts (the command taken, no status sent yet)', line: /mgos_ota_http_start  GET/, action: 'reset-broker' },
  { name: 'ota/mqtt/broker-reset-at-verifying', kind: 'line-fault', what: 'the broker connection reset on the first boot of the new slot, while it verifies', line: /espfleet: verifying/, action: 'reset-broker' },
  { name: 'ota/mqtt/broker-reset-after-commit', kind: 'line-fault', what: 'the broker connection reset right after the commit, before the committed report is out', line: /espfleet: committed/, action: 'reset-broker' },
];

export const OTA_DRIVER_KILL: FaultPoint = {
  name: 'ota/driver-killed-mid-rollout',
  kind: 'process-kill',
  what: 'the next rollout (1.2.0, to every board above) has its driver SIGKILLed once boards are downloading; `ota rollout resume` finishes it',
};

/**
 * Watches one board for its point; calls `fire` once, at the point. Returns the unsubscribe.
 * Shared by the matrix and rollout-power-loss.test.ts.
 */
export function armOtaPoint(chip: VirtualEsp32, point: OtaPoint, sizes: { appLen: number; fsLen: number }, fire: () => void): () => void {
  let fired = false;
  const once = () => {
    if (fired) return;
    fired = true;
    fire();
  };
  let firstBoot = false;
  let console = '';
  const offs = [
    chip.onTransmit((bytes) => {
      console = (console + Buffer.from(bytes).toString('latin1')).slice(-400);
      if (/First boot of slot/.test(console)) firstBoot = true;
      if (point.line && point.line.test(console)) {
        console = '';
        setImmediate(once);
      }
    }),
  ];
  if (point.flash) {
    offs.push(
      chip.onCommit((w) => {
        const m = /^APP_FLASH_(?:WRITE|ERASE) 0x([0-9a-f]+)$/.exec(w);
        if (m && point.flash!(parseInt(m[1]!, 16), { ...sizes, firstBoot })) once();
      }),
    );
  }
  return () => offs.forEach((off) => off());
}

export interface OtaFaultOptions {
  only?: (p: FaultPoint) => boolean;
  log?: (line: string) => void;
}

interface RolloutRecord {
  state: { status: string; boards: Record<string, { status: string }> };
}

export async function runOtaFaults(opts: OtaFaultOptions = {}): Promise<PointVerdict[]> {
  const only = opts.only ?? (() => true);
  const points = [...OTA_POWER_POINTS, ...OTA_LINE_POINTS].filter(only);
  const withKill = only(OTA_DRIVER_KILL);
  if (points.length === 0 && !withKill) return [];
  const nets: FaultNetwork[] = [];
  // The driver-kill point needs boards to update: with no other point it gets one of its own.
  const boards = Math.max(points.length, 1);
  const f = await startAgentFleet({ name: 'faults-ota', boards, operators: ['faults'], network: (i) => (nets[i] = faultNetwork()) });
  try {
    return await runOnFleet(f, points, nets, withKill, opts.log ?? (() => {}));
  } finally {
    await f.stop();
  }
}

async function runOnFleet(f: AgentFleet, points: readonly OtaPoint[], nets: readonly FaultNetwork[], withKill: boolean, log: (l: string) => void): Promise<PointVerdict[]> {
  const brokerArgs = f.operatorFlags('faults');
  const rollout = (bundle: { path: string; url: string }, id: string) => [
    'ota', 'rollout', 'start', '--station', f.station.stationPath, '--bundle', bundle.path, '--url', bundle.url, '--select', 'all', '--id', id,
    '--waves', '100%', '--rate', '6000/min', '--max-failures', String(f.boards.length + 1), '--min-sample', '1', '--device-timeout', '3m', ...brokerArgs, '--json',
  ];
  const verdicts = points.map((p) => verdictFor('ota', p));
  const b1 = f.publish('1.1.0');
  const offs = points.map((p, i) => {
    const board = f.boards[i]!;
    const v = verdicts[i]!;
    return armOtaPoint(board.chip, p, { appLen: b1.app.length, fsLen: b1.fs.length }, () => {
      v.fired = true;
      if (p.action === 'reset-broker') v.ending = `broker connection reset (${nets[i]!.reset(f.broker.port)} open)`;
      else if (p.action === 'reset-download') v.ending = `download reset (${nets[i]!.reset(f.server.port)} open)`;
      else {
        v.ending = 'power cut, back 300 ms later';
        board.chip.powerOff();
        setTimeout(() => board.chip.powerOn(), 300);
      }
    });
  });
  const first = await espfleet(rollout(b1, 'r-faults-1'));
  offs.forEach((off) => off());
  const rec1 = parseRecord(first.stdout);
  log(`ota: rollout 1.1.0 ${rec1?.state.status ?? `printed no record: ${first.stderr.slice(-300)}`}`);
  // Settle: every board back online on the version it now runs.
  for (const [i, v] of verdicts.entries()) {
    const board = f.boards[i]!;
    const final = rec1?.state.boards[board.deviceId]?.status ?? 'no record';
    v.ending = `${v.ending || 'did not fire'} → ${final}${points[i]!.ends && points[i]!.ends !== final ? ` (expected ${points[i]!.ends})` : ''}`;
    await check(v.bricked, 'back online', () => online(f, board, 60_000));
    const running = String(f.lastStatus(board.deviceId)?.fw_version ?? '?');
    await check(v.lost, 'rollout record vs the board', () => {
      if (final === 'committed' && running !== '1.1.0') return `the rollout says committed, the board runs ${running}`;
      if (final !== 'committed' && running !== '1.0.0') return `the rollout says ${final}, the board runs ${running}`;
      return new RegExp(`would run app 'app_[01]' at 0x[0-9a-f]+, version ${running.replace(/\./g, '\\.')}`).test(board.chip.bootLog()) ? undefined : `its status says ${running}, its boot log does not`;
    });
    await check(v.lost, 'registry vs the board', () => registryVersion(f, board.deviceId, running));
  }

  // Updatable again: 1.2.0 to every board, its driver killed mid-wave and resumed.
  const kill = verdictFor('ota', OTA_DRIVER_KILL);
  const b2 = f.publish('1.2.0');
  const child = spawnCli(rollout(b2, 'r-faults-2'));
  const downloading = () => f.seen.some((m) => m.topic.endsWith('/ota/status') && m.payload.includes('"r-faults-2"') && m.payload.includes('"downloading"'));
  await waitUntil(() => downloading() || !child.running(), 'a board downloading 1.2.0', 120_000).catch(() => undefined);
  if (child.running()) {
    child.child.kill('SIGKILL');
    kill.fired = true;
  }
  await child.exited;
  const resumed = await espfleet(['ota', 'rollout', 'resume', '--station', f.station.stationPath, '--id', 'r-faults-2', ...brokerArgs, '--json']);
  const rec2 = parseRecord(resumed.stdout);
  log(`ota: rollout 1.2.0 killed ${kill.fired ? 'mid-wave' : '(ended first)'}, resumed: ${rec2?.state.status ?? 'no record'}`);
  kill.ending = `${kill.fired ? 'driver SIGKILLed while boards downloaded' : 'the driver ended before the kill'} → resumed rollout ${rec2?.state.status ?? `failed: ${resumed.stderr.slice(-200)}`}`;
  if (rec2?.state.status !== 'done') kill.bricked.push(`the resumed rollout did not finish: ${rec2?.state.status ?? resumed.stderr.slice(-300)}`);
  for (const [i, board] of f.boards.entries()) {
    const v = verdicts[i];
    const status = rec2?.state.boards[board.deviceId]?.status ?? 'no record';
    const into = v ? v.bricked : kill.bricked;
    await check(into, 'the next update (1.2.0)', async () => {
      if (status !== 'committed') return `${board.deviceId} ended ${status}`;
      await online(f, board, 60_000);
      const running = f.lastStatus(board.deviceId)?.fw_version;
      return running === '1.2.0' ? undefined : `${board.deviceId} runs ${String(running)}`;
    });
    await check(kill.lost, `registry vs ${board.deviceId} after the resumed rollout`, () => registryVersion(f, board.deviceId, '1.2.0'));
  }
  const audit = await espfleet(['audit', 'verify', '--station', f.station.stationPath]);
  for (const v of [...verdicts, kill]) await check(v.lost, 'audit chain', () => (audit.code === 0 ? undefined : `${audit.stdout.trim()} ${audit.stderr.trim()}`));
  return withKill ? [...verdicts, kill] : verdicts;
}

/** The rollout record `--json` prints; undefined when the command printed none (its stderr says why). */
function parseRecord(stdout: string): RolloutRecord | undefined {
  try {
    return JSON.parse(stdout) as RolloutRecord;
  } catch {
    return undefined;
  }
}

async function online(f: AgentFleet, board: AgentFleet['boards'][number], ms: number): Promise<undefined> {
  await waitUntil(() => board.chip.state === 'app' && f.lastStatus(board.deviceId)?.online === true, `${board.deviceId} online (state ${board.chip.state})`, ms);
  return undefined;
}

async function registryVersion(f: AgentFleet, deviceId: string, want: string): Promise<string | undefined> {
  const r = await espfleet(['devices', 'show', deviceId, '--station', f.station.stationPath, '--json']);
  if (r.code !== 0) return `devices show: ${r.stderr.trim()}`;
  const rec = JSON.parse(r.stdout) as { firmwareVersion: string | null; status: string };
  return rec.firmwareVersion === want ? undefined : `the registry says ${rec.firmwareVersion}, the board runs ${want}`;
}
