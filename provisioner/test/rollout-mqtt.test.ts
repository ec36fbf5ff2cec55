// `espfleet ota rollout` against a real mosquitto with the generated profile (mTLS, ACL) and
// a scripted board simulator written here: each board is an MQTT client with its own device
// certificate that answers `cmd/ota` with the contract's `ota/status` sequences
// (docs/ota-protocol.md §2) — committed, reverted, failed, refused, held, or offline. A
// tapping operator client records every `cmd/ota` the broker carried, so "commanded once"
// and "never commanded" are counted on the wire, not taken from the driver's word.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, mosquittoAvailable, MOSQUITTO } from '../../certs/test/mosquitto-harness.ts';
import { generateSigningKey, signBundle } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { startFleetBroker, type FleetBroker } from '../../hil-tests/test/helpers/fleet-broker.ts';
import { repoRoot } from '../../scripts/lib/oracles.ts';
import { loadRollout, type RolloutRecord } from '../fleet/rollout-store.ts';
import type { AuditEntry } from '../station/records.ts';
import { openRegistry } from '../station/registry-sqlite.ts';
import { espfleet } from './cli-harness.ts';
import { deviceRecord } from './device-record.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-rollout-mqtt-'));
const bin = join(repoRoot, 'provisioner/cli/espfleet.mjs');
let fleet: FleetBroker;
let tap: MqttClient;
/** Every cmd/ota the broker delivered, in order. */
const seen: { board: string; cmd: Record<string, unknown> }[] = [];
const boards: SimBoard[] = [];
const simErrors: string[] = [];
let stopping = false;
const URL_ = 'https://ota.example.com:8443/fw.zip';

type Behaviour = 'commit' | 'revert' | 'fail' | 'refuse' | 'hold';

/** One board: its certificate, its retained status, and a scripted answer to cmd/ota. */
class SimBoard {
  client: MqttClient | undefined;
  readonly commands: Record<string, unknown>[] = [];
  private seenIds = new Set<string>();
  private release: (() => void) | undefined;
  private held: Promise<void>;
  constructor(
    readonly id: string,
    public behaviour: Behaviour,
    public version = '1.0.0',
  ) {
    this.held = new Promise((r) => (this.release = r));
  }
  async connect(): Promise<void> {
    const cert = await fleet.device(this.id);
    this.client = await connectClient(fleet.port, fleet.caPem, { cert: cert.chainPem, key: cert.privateKeyPem }, {
      will: { topic: `devices/${this.id}/status`, payload: Buffer.from('{"online":false}'), qos: 1, retain: true },
    });
    this.client.on('message', (_t, p) =>
      // A board still updating when the test ends is cut off there; anything else is a simulator bug.
      this.onCommand(JSON.parse(p.toString()) as Record<string, unknown>).catch((e: Error) => void (stopping || simErrors.push(`${this.id}: ${e.message}`))),
    );
    await this.client.subscribeAsync(`devices/${this.id}/cmd/ota`, { qos: 1 });
    await this.status();
  }
  /** Lets a held board go on (it then commits). */
  go(): void {
    this.release?.();
  }
  private pub(sub: string, body: unknown, retain: boolean) {
    return this.client!.publishAsync(`devices/${this.id}/${sub}`, JSON.stringify(body), { qos: 1, retain });
  }
  private status() {
    return this.pub('status', { online: true, fw_version: this.version, uptime: 1, ota: 'idle' }, true);
  }
  private async onCommand(cmd: Record<string, unknown>): Promise<void> {
    const id = String(cmd.id);
    if (this.seenIds.has(id)) return; // the agent's replay guard
    this.seenIds.add(id);
    this.commands.push(cmd);
    const ota = (state: string, extra: Record<string, unknown> = {}) =>
      this.pub('ota/status', { rollout: cmd.rollout, cmd: id, version: cmd.version, running: this.version, state, uptime: 2, ...extra }, true);
    const older = String(cmd.version) <= this.version;
    if (this.behaviour === 'refuse' || (older && cmd.allow_downgrade !== true)) {
      await this.pub('events', { event: 'cmd_result', id, cmd: 'ota', ok: false, reason: 'version not newer' }, false);
      await ota('refused', { reason: 'version not newer' });
      return;
    }
    await this.pub('events', { event: 'cmd_result', id, cmd: 'ota', ok: true, result: 'started' }, false);
    await ota('downloading', { progress: 0 });
    if (this.behaviour === 'fail') return void (await ota('failed', { reason: 'OTA.Update: bad signature' }));
    if (this.behaviour === 'hold') await this.held;
    await ota('downloading', { progress: 100 });
    await ota('applied');
    await ota('verifying');
    if (this.behaviour === 'revert') return void (await ota('reverted', { reason: 'health check failed' }));
    this.version = String(cmd.version);
    await ota('committed');
    await this.status();
  }
}

async function makeBoards(prefix: string, behaviours: Behaviour[], opts: { connect?: (i: number) => boolean } = {}): Promise<SimBoard[]> {
  const list = behaviours.map((b, i) => new SimBoard(`esp32_${prefix}${String(i).padStart(2, '0')}`, b));
  boards.push(...list);
  await Promise.all(list.filter((_, i) => opts.connect?.(i) ?? true).map((b) => b.connect()));
  return list;
}

/** A registry holding the boards (provisioned, on 1.0.0) and the paths a command needs. */
async function station(name: string, list: SimBoard[]): Promise<{ registry: string; audit: string; args: string[] }> {
  const registry = join(dir, `${name}.sqlite`);
  const audit = join(dir, `${name}.audit.jsonl`);
  const reg = await openRegistry(registry);
  for (const [i, b] of list.entries()) await reg.upsert(deviceRecord({ deviceId: b.id, mac: `24:0a:c4:00:00:${i.toString(16).padStart(2, '0')}`, firmwareVersion: '1.0.0' }));
  await reg.close();
  return { registry, audit, args: ['--registry', registry, '--audit-log', audit] };
}

const broker = (who: 'alice' | 'bob') => ['--broker', `mqtts://127.0.0.1:${fleet.port}`, '--client-cert', join(dir, `${who}.pem`), '--client-key', join(dir, `${who}.key`), '--broker-ca', join(dir, 'ca.pem')];
const commandsTo = (list: SimBoard[]) => list.map((b) => seen.filter((s) => s.board === b.id).length);
const auditOf = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
async function record(registry: string, id: string): Promise<RolloutRecord> {
  const reg = await openRegistry(registry, { readOnly: true });
  try {
    return (await loadRollout(reg, id))!;
  } finally {
    await reg.close();
  }
}
/** Waits for a condition the test is about; the test's own timeout bounds it. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 25));
}

describe.skipIf(!mosquittoAvailable())(`ota rollout over a real broker (needs ${MOSQUITTO})`, () => {
  beforeAll(async () => {
    fleet = await startFleetBroker({ clients: [{ role: 'operator', name: 'alice' }, { role: 'operator', name: 'bob' }] });
    for (const who of ['alice', 'bob'] as const) {
      const c = fleet.clients.get(`operator:${who}`)!;
      writeFileSync(join(dir, `${who}.pem`), c.chainPem);
      writeFileSync(join(dir, `${who}.key`), c.privateKeyPem, { mode: 0o600 });
    }
    writeFileSync(join(dir, 'ca.pem'), fleet.caPem);
    const key = generateSigningKey().privateKeyPem;
    writeFileSync(join(dir, 'fw-1.1.0.zip'), signBundle(makeDemoFirmware({ version: '1.1.0' }).bundle, key, 0));
    writeFileSync(join(dir, 'fw-1.0.0.zip'), signBundle(makeDemoFirmware({ version: '1.0.0' }).bundle, key, 0));
    writeFileSync(join(dir, 'unsigned.zip'), makeDemoFirmware({ version: '1.1.0' }).bundle);
    tap = await fleet.operator(0);
    tap.on('message', (topic, p) => {
      const board = /^devices\/([^/]+)\/cmd\/ota$/.exec(topic)?.[1];
      if (board) seen.push({ board, cmd: JSON.parse(p.toString()) as Record<string, unknown> });
    });
    await tap.subscribeAsync('devices/+/cmd/ota', { qos: 1 });
  }, 120_000);

  afterAll(async () => {
    stopping = true;
    await Promise.all(boards.map((b) => b.client?.endAsync(true).catch(() => undefined)));
    await fleet?.stop();
    rmSync(dir, { recursive: true, force: true });
    expect(simErrors).toEqual([]);
  });

  it('20 boards in 3 waves all commit; status --watch follows it; rollback takes them back to 1.0.0', async () => {
    const list = await makeBoards('a', Array(20).fill('commit'));
    const st = await station('all', list);
    const start = ['ota', 'rollout', 'start', ...st.args, ...broker('alice'), '--bundle', join(dir, 'fw-1.1.0.zip'), '--url', URL_, '--select', 'all', '--id', 'r-all', '--waves', '2,50%,100%', '--rate', '100/s', '--max-failures', '0', '--progress', 'lines'];
    let watching: Promise<{ stdout: string; code: number }> | undefined;
    const run = await espfleet([...start, '--json'], {
      onStderr: (t) => {
        if (!watching && /wave 1 of 3 started/.test(t)) watching = espfleet(['ota', 'rollout', 'status', '--registry', st.registry, '--id', 'r-all', '--watch']);
      },
    });
    expect(run.code, run.stderr).toBe(0);
    const rec = JSON.parse(run.stdout) as RolloutRecord;
    expect(rec.state.status).toBe('done');
    expect(Object.values(rec.state.boards).map((b) => b.status)).toEqual(Array(20).fill('committed'));
    expect(Object.values(rec.state.boards).map((b) => b.wave).sort()).toEqual([...Array(2).fill(0), ...Array(8).fill(1), ...Array(10).fill(2)]);
    expect(commandsTo(list)).toEqual(Array(20).fill(1));
    expect(seen.find((s) => s.board === 'esp32_a00')?.cmd).toMatchObject({ id: 'ota-r-all', rollout: 'r-all', url: URL_, version: '1.1.0', allow_downgrade: false, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(run.stderr).toMatch(/^rollout r-all: 1\.1\.0 to 20 of 20 selected boards in 3 waves \(2, 8, 10\)$/m);
    expect(run.stderr).toMatch(/^wave 3 of 3 passed$/m);
    expect(run.stderr).toMatch(/^esp32_a13: committed \(now 1\.1\.0\)$/m);
    expect(run.stderr).toMatch(/^rollout r-all done: all 20 boards committed 1\.1\.0$/m);
    // The watcher printed lines as the rollout went and stopped when it was done.
    const watched = await watching!;
    expect(watched.code).toBe(0);
    const lines = watched.stdout.trim().split('\n');
    expect(lines.at(-1)).toMatch(/ r-all done wave 3\/3: 20 committed$/);
    expect(lines.length).toBeGreaterThan(1);
    // The audit log: who, which boards, every outcome.
    const log = auditOf(st.audit);
    expect(new Set(log.map((e) => e.actor))).toEqual(new Set(['operator:alice']));
    expect(log[0]).toMatchObject({ action: 'rollout.start', subject: { rollout: 'r-all' }, details: { version: '1.1.0', url: URL_ } });
    expect(log.filter((e) => e.action === 'rollout.command' && e.details?.step === 'command').flatMap((e) => e.details?.ids as string[]).sort()).toEqual(list.map((b) => b.id));
    expect(log.filter((e) => e.action === 'rollout' && e.details?.status === 'committed').map((e) => e.subject.device).sort()).toEqual(list.map((b) => b.id));
    expect(log.at(-1)).toMatchObject({ action: 'rollout.done' });
    const reg = await openRegistry(st.registry, { readOnly: true });
    expect((await reg.get('esp32_a19'))?.firmwareVersion).toBe('1.1.0');
    await reg.close();

    // Rollback: the boards r-all committed, back to 1.0.0 with allow_downgrade.
    const back = await espfleet(['ota', 'rollout', 'rollback', ...st.args, ...broker('bob'), '--id', 'r-all', '--bundle', join(dir, 'fw-1.0.0.zip'), '--url', URL_, '--waves', '100%', '--rate', '100/s']);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toMatch(/^rollout r-all-rollback \(rollback of r-all\): done, wave 1 of 1, version 1\.0\.0/m);
    expect(commandsTo(list)).toEqual(Array(20).fill(2));
    expect(seen.filter((s) => s.cmd.rollout === 'r-all-rollback').every((s) => s.cmd.allow_downgrade === true && s.cmd.version === '1.0.0')).toBe(true);
    expect(list.every((b) => b.version === '1.0.0')).toBe(true);
    expect(auditOf(st.audit).find((e) => e.action === 'rollout.start' && e.subject.rollout === 'r-all-rollback')).toMatchObject({ actor: 'operator:bob', details: { rollbackOf: 'r-all', allowDowngrade: true } });
  }, 180_000);

  it('failures in wave 1 abort the rollout at once: later waves are never commanded', async () => {
    const list = await makeBoards('b', ['revert', 'fail', 'refuse', ...Array(9).fill('commit')]);
    const st = await station('abort', list);
    const run = await espfleet(['ota', 'rollout', 'start', ...st.args, ...broker('alice'), '--bundle', join(dir, 'fw-1.1.0.zip'), '--url', URL_, '--select', 'all', '--id', 'r-abort', '--waves', '3,100%', '--rate', '100/s', '--max-failures', '1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^rollout r-abort aborted: [23] of [23] finished boards failed \(more than 1; 12 targeted\)$/m);
    expect(run.stdout).toMatch(/^rollout r-abort: aborted, wave 1 of 2/m);
    expect(run.stdout).toMatch(/^esp32_b01 +1 +failed /m);
    const rec = await record(st.registry, 'r-abort');
    expect(rec.state.status).toBe('aborted');
    expect(commandsTo(list)).toEqual([1, 1, 1, ...Array(9).fill(0)]);
    expect(auditOf(st.audit).find((e) => e.action === 'rollout' && e.subject.device === 'esp32_b02')).toMatchObject({ details: { status: 'failed', reason: expect.stringMatching(/version not newer/) } });
    // An unsigned bundle is refused before anything is written or sent.
    const unsigned = await espfleet(['ota', 'rollout', 'start', ...st.args, ...broker('alice'), '--bundle', join(dir, 'unsigned.zip'), '--url', URL_, '--select', 'all', '--id', 'r-unsigned', '--json']);
    expect(unsigned.code).toBe(1);
    expect(JSON.parse(unsigned.stdout).error.code).toBe('fleet.rollout.refused');
    expect(await record(st.registry, 'r-unsigned')).toBeUndefined();
  }, 120_000);

  it('start killed with SIGKILL mid-wave, then resume: the same final state, every board commanded exactly once', async () => {
    const list = await makeBoards('c', ['commit', 'commit', ...Array(10).fill('hold')]);
    const st = await station('kill', list);
    const child = spawn(
      process.execPath,
      [bin, 'ota', 'rollout', 'start', ...st.args, ...broker('alice'), '--bundle', join(dir, 'fw-1.1.0.zip'), '--url', URL_, '--select', 'all', '--id', 'r-kill', '--waves', '2,100%', '--rate', '1/500ms', '--progress', 'lines'],
      { cwd: repoRoot, env: { ...process.env, ESPFLEET_FROM_SOURCE: '1' } },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
    const wave2 = list.slice(2);
    // Killed once three boards of wave 2 were commanded (the rate keeps the next one 500 ms off).
    await until(() => seen.filter((s) => wave2.some((b) => b.id === s.board)).length >= 3);
    child.kill('SIGKILL');
    const end = await exited;
    expect(end.signal, stderr).toBe('SIGKILL');
    const killed = await record(st.registry, 'r-kill');
    expect(killed.state.status).toBe('running');
    const commandedAtKill = Object.values(killed.state.boards).filter((b) => b.commandedAt !== undefined).map((b) => b.id).sort();
    expect(commandedAtKill).toEqual(seen.filter((s) => s.cmd.rollout === 'r-kill').map((s) => s.board).sort());
    // The held boards finish while no driver runs; their retained ota/status says so.
    for (const b of wave2) b.go();
    const resumed = await espfleet(['ota', 'rollout', 'resume', ...st.args, ...broker('alice'), '--id', 'r-kill', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const rec = JSON.parse(resumed.stdout) as RolloutRecord;
    expect(rec.state.status).toBe('done');
    expect(Object.values(rec.state.boards).map((b) => b.status)).toEqual(Array(12).fill('committed'));
    expect(commandsTo(list)).toEqual(Array(12).fill(1));
    expect(list.map((b) => b.commands.length)).toEqual(Array(12).fill(1));
    expect(auditOf(st.audit).filter((e) => e.action === 'rollout.resume')).toMatchObject([{ actor: 'operator:alice', details: { was: 'running' } }]);
  }, 180_000);

  it('pause stops a running start at its next step; resume goes on from there', async () => {
    const list = await makeBoards('d', ['hold', 'hold', 'commit', 'commit', 'commit', 'commit']);
    const st = await station('pause', list);
    let paused: Promise<{ code: number; stdout: string }> | undefined;
    const startArgs = ['ota', 'rollout', 'start', ...st.args, ...broker('alice'), '--bundle', join(dir, 'fw-1.1.0.zip'), '--url', URL_, '--select', 'all', '--id', 'r-pause', '--waves', '2,100%', '--rate', '100/s', '--progress', 'lines'];
    const started = espfleet(startArgs, {
      onStderr: (t) => {
        if (!paused && /^commanded esp32_d00 esp32_d01$/m.test(t)) paused = espfleet(['ota', 'rollout', 'pause', ...st.args, '--id', 'r-pause', '--client-cert', join(dir, 'bob.pem')]);
      },
    });
    await until(() => paused !== undefined);
    const p = await paused!;
    expect(p.code).toBe(0);
    expect(p.stdout).toMatch(/^rollout r-pause paused \(was running\)/);
    list[0]!.go();
    list[1]!.go();
    const run = await started;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/^rollout r-pause paused; `espfleet ota rollout resume --id r-pause` continues it$/m);
    expect(commandsTo(list)).toEqual([1, 1, 0, 0, 0, 0]);
    const resumed = await espfleet(['ota', 'rollout', 'resume', ...st.args, ...broker('alice'), '--id', 'r-pause']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(commandsTo(list)).toEqual(Array(6).fill(1));
    expect((await record(st.registry, 'r-pause')).state.status).toBe('done');
    const log = auditOf(st.audit);
    expect(log.find((e) => e.action === 'rollout.pause')).toMatchObject({ actor: 'operator:bob', subject: { rollout: 'r-pause' }, details: { step: 'operator', was: 'running' } });
    expect(log.find((e) => e.action === 'rollout.resume')).toMatchObject({ actor: 'operator:alice', details: { was: 'paused' } });
    // Abort is for good: resume refuses afterwards.
    const again = await espfleet(['ota', 'rollout', 'abort', ...st.args, '--id', 'r-pause', '--json']);
    expect(JSON.parse(again.stdout).error.code).toBe('fleet.rollout.ended');
  }, 120_000);

  it('a board offline when its wave starts is commanded when it comes online', async () => {
    const list = await makeBoards('e', ['commit', 'commit', 'commit'], { connect: (i) => i !== 2 });
    const st = await station('offline', list);
    let late: Promise<void> | undefined;
    const run = await espfleet(['ota', 'rollout', 'start', ...st.args, ...broker('alice'), '--bundle', join(dir, 'fw-1.1.0.zip'), '--url', URL_, '--select', 'all', '--id', 'r-offline', '--waves', '100%', '--rate', '100/s', '--device-timeout', '10m', '--progress', 'lines'], {
      onStderr: (t) => {
        if (!late && /^esp32_e01: committed/m.test(t)) late = list[2]!.connect();
      },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/^commanded esp32_e00 esp32_e01$/m);
    expect(run.stderr).toMatch(/^commanded esp32_e02$/m);
    expect(commandsTo(list)).toEqual([1, 1, 1]);
    expect((await record(st.registry, 'r-offline')).state.boards.esp32_e02?.status).toBe('committed');
  }, 120_000);
});
