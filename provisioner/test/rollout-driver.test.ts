// The rollout driver in-process: the contract's messages mapped to the planner's statuses,
// and the loop over a real registry and audit log with an in-memory bus and a virtual
// clock (time jumps to the next scheduled board message or wake-up), so every test is exact.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../station/audit-log.ts';
import { openRegistry, type SqliteRegistry } from '../station/registry-sqlite.ts';
import type { AuditEntry } from '../station/records.ts';
import type { RolloutBus } from '../fleet/fleet-watch.ts';
import { otaCommand, parseDeviceStatus, reportFromEvent, reportFromOtaStatus } from '../fleet/ota-messages.ts';
import { driveRollout, type DriverClock, type DriverEvent } from '../fleet/rollout-driver.ts';
import { createRolloutFromFleet } from '../fleet/rollout-create.ts';
import { setPaused } from '../fleet/rollout-plan.ts';
import { parsePolicy, type PolicyText } from '../fleet/rollout-policy.ts';
import { loadRollout, updateRollout } from '../fleet/rollout-store.ts';
import { deviceRecord } from './device-record.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-rollout-driver-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const t0 = Date.parse('2026-12-02T10:00:00Z');
const ids = (n: number) => Array.from({ length: n }, (_, i) => `esp32_${String(i).padStart(2, '0')}`);

describe('the contract, read back (docs/ota-protocol.md §2)', () => {
  const msg = (o: Record<string, unknown>) => JSON.stringify({ rollout: 'r1', cmd: 'ota-r1', version: '1.1.0', running: '1.0.0', ...o });
  it.each([
    ['downloading', 'downloading'],
    ['applied', 'downloading'],
    ['verifying', 'downloading'],
    ['committed', 'committed'],
    ['reverted', 'reverted'],
    ['failed', 'failed'],
    ['refused', 'failed'],
  ])('ota/status %s is %s for the planner', (state, status) => {
    expect(reportFromOtaStatus('b', msg({ state, reason: 'why' }), 'r1', 5)).toMatchObject({ id: 'b', status, at: 5, state, reason: 'why', running: '1.0.0' });
  });

  it('only messages tagged with this rollout (and its command id) count', () => {
    expect(reportFromOtaStatus('b', msg({ state: 'committed', rollout: 'r0', cmd: 'ota-r0' }), 'r1', 0)).toBeUndefined();
    expect(reportFromOtaStatus('b', msg({ state: 'committed', cmd: 'ota-other' }), 'r1', 0)).toBeUndefined();
    expect(reportFromOtaStatus('b', msg({ state: 'exploded' }), 'r1', 0)).toBeUndefined();
    expect(reportFromOtaStatus('b', 'not json', 'r1', 0)).toBeUndefined();
  });

  it('a cmd_result refusal of this rollout command fails the board; ok is "started"', () => {
    const ev = (o: Record<string, unknown>) => JSON.stringify({ event: 'cmd_result', id: 'ota-r1', cmd: 'ota', ...o });
    expect(reportFromEvent('b', ev({ ok: false, reason: 'version 1.1.0 is not newer than 1.1.0' }), 'r1', 1)).toMatchObject({ status: 'failed', reason: 'refused: version 1.1.0 is not newer than 1.1.0' });
    expect(reportFromEvent('b', ev({ ok: true }), 'r1', 1)).toMatchObject({ status: 'downloading' });
    expect(reportFromEvent('b', ev({ ok: false, id: 'c-17' }), 'r1', 1)).toBeUndefined();
    expect(reportFromEvent('b', JSON.stringify({ event: 'renew', id: 'ota-r1' }), 'r1', 1)).toBeUndefined();
  });

  it('status: online unless the will says otherwise; the command is §1 exactly', () => {
    expect(parseDeviceStatus('{"online":true,"fw_version":"1.0.0","ota":"idle"}')).toEqual({ online: true, version: '1.0.0' });
    expect(parseDeviceStatus('{"online":false}')).toEqual({ online: false });
    expect(parseDeviceStatus('')).toEqual({ online: false });
    const policy = parsePolicy({ allowDowngrade: true });
    const spec = { bundle: { path: 'fw.zip', version: '1.3.0', sha256: 'ab'.repeat(32), signedBy: ['sig0'] }, url: 'https://ota.example.com:8443/fw-1.3.0.zip', select: 'all', policy, commitTimeout: 300 };
    expect(otaCommand('r42', spec)).toEqual({ id: 'ota-r42', rollout: 'r42', url: 'https://ota.example.com:8443/fw-1.3.0.zip', version: '1.3.0', sha256: 'ab'.repeat(32), commit_timeout: 300, allow_downgrade: true });
  });
});

/** Virtual time: sleeping jumps to the next scheduled message or to the wake-up time. */
class VirtualClock implements DriverClock {
  t = t0;
  private events: { at: number; fn: () => void }[] = [];
  now = () => this.t;
  at(time: number, fn: () => void): void {
    this.events.push({ at: time, fn });
    this.events.sort((a, b) => a.at - b.at);
  }
  async sleep(ms: number): Promise<void> {
    await new Promise((r) => setImmediate(r));
    if (this.t > t0 + 7 * 86_400_000) throw new Error('virtual clock ran a week: the driver never ended');
    const until = this.t + ms;
    const next = this.events[0];
    if (next && next.at <= until) {
      this.events.shift();
      this.t = Math.max(this.t, next.at);
      next.fn();
    } else this.t = until;
  }
}

type Behaviour = 'commit' | 'revert' | 'fail' | 'refuse' | 'silent';

/** An in-memory broker with scripted boards: retained status and ota/status, commands answered after `delay` ms. */
class FakeFleet implements RolloutBus {
  readonly commands: { board: string; payload: Record<string, unknown>; at: number }[] = [];
  private handler: ((topic: string, payload: Uint8Array) => void) | undefined;
  private retained = new Map<string, string>();
  constructor(
    private clock: VirtualClock,
    private behave: (board: string) => Behaviour,
    private delay = 60_000,
  ) {}
  async subscribe(_filters: readonly string[], onMessage: (topic: string, payload: Uint8Array) => void): Promise<void> {
    this.handler = onMessage;
    for (const [t, p] of this.retained) onMessage(t, Buffer.from(p));
  }
  /** A board's message now (retained ones are replayed to a later subscriber). */
  send(topic: string, payload: unknown, retain = true): void {
    const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
    if (retain) this.retained.set(topic, text);
    this.handler?.(topic, Buffer.from(text));
  }
  online(board: string, version = '1.0.0'): void {
    this.send(`devices/${board}/status`, { online: true, fw_version: version, ota: 'idle' });
  }
  async publish(topic: string, payload: string): Promise<void> {
    const board = /^devices\/([^/]+)\/cmd\/ota$/.exec(topic)?.[1];
    if (!board) throw new Error(`unexpected publish ${topic}`);
    const cmd = JSON.parse(payload) as Record<string, unknown>;
    this.commands.push({ board, payload: cmd, at: this.clock.now() });
    const b = this.behave(board);
    const status = (state: string, extra: Record<string, unknown> = {}) => this.send(`devices/${board}/ota/status`, { rollout: cmd.rollout, cmd: cmd.id, version: cmd.version, running: '1.0.0', state, ...extra });
    if (b === 'silent') return;
    if (b === 'refuse') {
      this.clock.at(this.clock.now() + 10, () => this.send(`devices/${board}/events`, { event: 'cmd_result', id: cmd.id, cmd: 'ota', ok: false, reason: 'update in progress' }, false));
      return;
    }
    this.clock.at(this.clock.now() + 10, () => status('downloading', { progress: 0 }));
    const end = this.clock.now() + this.delay;
    if (b === 'commit') this.clock.at(end, () => (status('committed', { running: cmd.version }), this.online(board, String(cmd.version))));
    if (b === 'revert') this.clock.at(end, () => status('reverted', { reason: 'health check failed' }));
    if (b === 'fail') this.clock.at(end, () => status('failed', { reason: 'bad signature' }));
  }
}

async function setup(name: string, boards: string[], policy: PolicyText, online = boards): Promise<{ registry: SqliteRegistry; auditPath: string; audit: Awaited<ReturnType<typeof openAuditLog>> }> {
  const registry = await openRegistry(join(dir, `${name}.sqlite`));
  for (const [i, id] of boards.entries()) await registry.upsert(deviceRecord({ deviceId: id, mac: `24:0a:c4:00:00:${i.toString(16).padStart(2, '0')}`, firmwareVersion: '1.0.0' }));
  const auditPath = join(dir, `${name}.jsonl`);
  const audit = await openAuditLog(auditPath, { anchor: registry });
  await createRolloutFromFleet({
    registry,
    audit,
    id: 'r1',
    actor: 'operator:alice',
    bundle: { path: 'fw.zip', version: '1.1.0', sha256: 'cd'.repeat(32), size: 1, signedBy: ['sig0'] },
    url: 'https://ota.example.com:8443/fw.zip',
    select: 'all',
    records: await registry.list(),
    facts: new Map(online.map((id) => [id, { online: true, version: '1.0.0' }])),
    policy: parsePolicy({ rate: '100/min', minSample: 0, ...policy }),
    now: new Date(t0),
  });
  return { registry, auditPath, audit };
}

const entries = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);

describe('driveRollout', () => {
  it('drives every board through its wave once; reports go to the registry and the audit log with the actor', async () => {
    const boards = ids(12);
    const { registry, audit, auditPath } = await setup('all-commit', boards, { waves: '1,50%,100%' });
    const clock = new VirtualClock();
    const bus = new FakeFleet(clock, () => 'commit');
    boards.forEach((b) => bus.online(b));
    const events: DriverEvent[] = [];
    const res = await driveRollout({ registry, audit, client: bus, id: 'r1', actor: 'operator:alice', clock, onEvent: (e) => events.push(e) });
    expect(res.ended).toBe('done');
    expect(bus.commands.map((c) => c.board).sort()).toEqual(boards);
    expect(bus.commands[0]!.payload).toEqual({ id: 'ota-r1', rollout: 'r1', url: 'https://ota.example.com:8443/fw.zip', version: '1.1.0', sha256: 'cd'.repeat(32), allow_downgrade: false });
    // Waves in order: wave 2 only after wave 1's board committed, wave 3 after wave 2's.
    const firstOf = (b: string) => bus.commands.find((c) => c.board === b)!.at;
    expect(firstOf('esp32_01')).toBeGreaterThanOrEqual(t0 + 60_000);
    expect(firstOf('esp32_06')).toBeGreaterThan(firstOf('esp32_05') + 60_000 - 1);
    expect(Object.values(res.record.state.boards).every((b) => b.status === 'committed')).toBe(true);
    expect(events.filter((e) => e.type === 'wave-started').map((e) => (e as { wave: number }).wave)).toEqual([0, 1, 2]);
    expect((await registry.get('esp32_07'))?.firmwareVersion).toBe('1.1.0');
    const log = entries(auditPath);
    expect(log.every((e) => e.actor === 'operator:alice')).toBe(true);
    expect(log.filter((e) => e.action === 'rollout.command').flatMap((e) => e.details?.ids as string[]).sort()).toEqual(boards);
    expect(log.filter((e) => e.action === 'rollout' && e.details?.status === 'committed').map((e) => e.subject.device).sort()).toEqual(boards);
    expect(log.at(-1)).toMatchObject({ action: 'rollout.done' });
    await registry.close();
  });

  it('failures in wave 1 abort the rollout; later waves are never commanded', async () => {
    const boards = ids(10);
    const { registry, audit } = await setup('abort', boards, { waves: '3,100%', maxFailures: '1' });
    const clock = new VirtualClock();
    const bus = new FakeFleet(clock, (b) => (b === 'esp32_00' ? 'revert' : b === 'esp32_01' ? 'refuse' : 'commit'));
    boards.forEach((b) => bus.online(b));
    const res = await driveRollout({ registry, audit, client: bus, id: 'r1', actor: 'operator:alice', clock });
    expect(res.ended).toBe('aborted');
    expect(res.record.state.abortReason).toBe('2 of 2 finished boards failed (more than 1; 10 targeted)');
    expect(bus.commands.map((c) => c.board)).toEqual(['esp32_00', 'esp32_01', 'esp32_02']);
    expect(res.record.state.boards.esp32_01?.status).toBe('failed');
    await registry.close();
  });

  it('an offline board is commanded when it comes online; one that never answers times out', async () => {
    const boards = ids(4);
    const { registry, audit } = await setup('offline', boards, { waves: '100%', deviceTimeout: '15m', maxFailures: '1' }, ['esp32_00', 'esp32_01', 'esp32_03']);
    const clock = new VirtualClock();
    const bus = new FakeFleet(clock, (b) => (b === 'esp32_03' ? 'silent' : 'commit'));
    for (const b of ['esp32_00', 'esp32_01', 'esp32_03']) bus.online(b);
    bus.send('devices/esp32_02/status', { online: false });
    clock.at(t0 + 5 * 60_000, () => bus.online('esp32_02'));
    const res = await driveRollout({ registry, audit, client: bus, id: 'r1', actor: 'operator:alice', clock });
    expect(res.ended).toBe('done');
    expect(bus.commands.find((c) => c.board === 'esp32_02')?.at).toBe(t0 + 5 * 60_000);
    expect(Object.fromEntries(Object.values(res.record.state.boards).map((b) => [b.id, b.status]))).toEqual({ esp32_00: 'committed', esp32_01: 'committed', esp32_02: 'committed', esp32_03: 'timed-out' });
    expect(res.record.state.boards.esp32_03?.updatedAt).toBe(t0 + 15 * 60_000);
    await registry.close();
  });

  it('a pause from another process stops the driver at its next step; a new driver continues without commanding anyone twice', async () => {
    const boards = ids(6);
    const { registry, audit } = await setup('pause', boards, { waves: '2,100%' });
    const clock = new VirtualClock();
    const bus = new FakeFleet(clock, () => 'commit');
    boards.forEach((b) => bus.online(b));
    const other = await openRegistry(registry.path);
    // The operator pauses 30 s in, while wave 1's two boards are updating.
    clock.at(t0 + 30_000, () => void updateRollout(other, 'r1', new Date(clock.now()), (rec) => setPaused(rec.state, true)));
    const first = await driveRollout({ registry, audit, client: bus, id: 'r1', actor: 'operator:alice', clock, pollMs: 1000 });
    expect(first.ended).toBe('paused');
    expect(bus.commands.map((c) => c.board)).toEqual(['esp32_00', 'esp32_01']);
    await updateRollout(other, 'r1', new Date(clock.now()), (rec) => setPaused(rec.state, false));
    await other.close();
    // A later driver (resume) reads the boards' retained reports and goes on.
    const res = await driveRollout({ registry, audit, client: bus, id: 'r1', actor: 'operator:bob', clock });
    expect(res.ended).toBe('done');
    expect(bus.commands.map((c) => c.board).sort()).toEqual(boards);
    expect((await loadRollout(registry, 'r1'))?.state.status).toBe('done');
    await registry.close();
  });
  it('--pause-between manual ends the driver after a wave; an aborted signal stops it between steps', async () => {
    const boards = ids(4);
    const { registry, audit } = await setup('manual', boards, { waves: '1,100%', pauseBetween: 'manual' });
    const clock = new VirtualClock();
    const bus = new FakeFleet(clock, () => 'commit');
    boards.forEach((b) => bus.online(b));
    const first = await driveRollout({ registry, audit, client: bus, id: 'r1', actor: 'operator:alice', clock });
    expect(first.ended).toBe('paused');
    expect(bus.commands.map((c) => c.board)).toEqual(['esp32_00']);
    await updateRollout(registry, 'r1', new Date(clock.now()), (rec) => setPaused(rec.state, false));
    const stop = new AbortController();
    const events: DriverEvent[] = [];
    const onEvent = (e: DriverEvent) => {
      events.push(e);
      if (e.type === 'commanded') stop.abort();
    };
    const second = await driveRollout({ registry, audit, client: bus, id: 'r1', actor: 'operator:alice', clock, signal: stop.signal, onEvent });
    expect(second.ended).toBe('stopped');
    expect(second.record.state.status).toBe('running');
    expect(events.filter((e) => e.type === 'commanded')).toEqual([{ type: 'commanded', ids: ['esp32_01', 'esp32_02', 'esp32_03'] }]);
    // Stopped right after publishing, before any board spoke: the next driver cannot know the
    // commands arrived, so it sends the same ones again (same id: a board that had it ignores it).
    const third = await driveRollout({ registry, audit, client: bus, id: 'r1', actor: 'operator:alice', clock });
    expect(third.ended).toBe('done');
    expect(bus.commands.map((c) => c.board)).toEqual([...boards, 'esp32_01', 'esp32_02', 'esp32_03']);
    expect(new Set(bus.commands.map((c) => c.payload.id))).toEqual(new Set(['ota-r1']));
    await registry.close();
  });
});
