// The dashboard's server without a browser: the device API pages and filters exactly as the
// registry's own records say, a read-only dashboard refuses control and changes nothing,
// a token guards everything when given (and is required off loopback), a foreign Host is
// refused, and the event stream carries what other processes write — a rollout created,
// a pause from the CLI, a station's port progress — as it happens.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialState } from '../../fleet/rollout-plan.ts';
import { parsePolicy } from '../../fleet/rollout-policy.ts';
import { createRollout, loadRollout, type RolloutSpec } from '../../fleet/rollout-store.ts';
import { openAuditLog } from '../../station/audit-log.ts';
import { LivePortsWriter } from '../../station/live-ports.ts';
import { openRegistry } from '../../station/registry-sqlite.ts';
import type { Registry } from '../../station/open-registry.ts';
import type { DeviceRecord } from '../../station/records.ts';
import { espfleet } from '../../test/cli-harness.ts';
import { DashboardData } from '../data.ts';
import { LiveFeed } from '../live.ts';
import { startDashboardServer, type DashboardServer } from '../server.ts';
import { seedRegistry } from './seed-registry.ts';
import { openEventStream } from './event-stream.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-dashboard-server-'));
const registryPath = join(dir, 'registry.sqlite');
const auditPath = join(dir, 'audit.jsonl');
const portsPath = join(dir, 'line1.ports.json');
const NOW = new Date('2026-12-02T10:00:00Z');
const N = 300;
const policy = parsePolicy({ waves: '1,50%,100%', rate: '60/min', maxFailures: '2', minSample: 0, deviceTimeout: '10m' });
const spec: RolloutSpec = { bundle: { path: 'fw.zip', version: '1.4.0', sha256: 'ab'.repeat(32), signedBy: ['k1'] }, url: 'https://ota.example/fw.zip', select: 'status=provisioned', policy };

let records: DeviceRecord[];
let registry: Registry;
let server: DashboardServer;

async function start(extra: { token?: string; host?: string } = {}): Promise<DashboardServer> {
  const data = new DashboardData({ registry, auditPath, portsFiles: [portsPath], clock: () => NOW });
  return startDashboardServer({ data, feed: new LiveFeed({ data, intervalMs: 100 }), host: extra.host ?? '127.0.0.1', port: 0, ...(extra.token ? { token: extra.token } : {}), readOnlyReason: 'test' });
}

const get = async (path: string, headers: Record<string, string> = {}) => {
  const res = await fetch(`${server.url}${path.replace(/^\//, '')}`, { headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

beforeAll(async () => {
  records = await seedRegistry(registryPath, N);
  const writer = await openRegistry(registryPath);
  const audit = await openAuditLog(auditPath, { anchor: writer });
  await audit.append({ action: 'provision.done', actor: 'station:line1', subject: { deviceId: records[0]!.deviceId } });
  await writer.close();
  registry = await openRegistry(registryPath, { readOnly: true });
  server = await start();
});
afterAll(async () => {
  await server?.close();
  await registry?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('dashboard server', () => {
  it('pages and filters the device table as the registry says: search, status, version, expiry within N days', async () => {
    const page = await get('/api/devices?limit=25&offset=50');
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ total: N, all: N, offset: 50, limit: 25 });
    expect((page.body.rows as DeviceRecord[]).map((r) => r.deviceId)).toEqual(records.slice(50, 75).map((r) => r.deviceId));

    const within = (r: DeviceRecord, days: number) => r.certNotAfter !== null && Date.parse(r.certNotAfter) <= NOW.getTime() + days * 86_400_000;
    const cases: Array<[string, (r: DeviceRecord) => boolean]> = [
      ['status=failed', (r) => r.status === 'failed'],
      ['version=1.2.0&status=provisioned', (r) => r.firmwareVersion === '1.2.0' && r.status === 'provisioned'],
      ['expires=30', (r) => within(r, 30)],
      ['q=line2&expires=90', (r) => r.station === 'line2' && within(r, 90)],
      [`q=${records[123]!.mac.toUpperCase()}`, (r) => r.mac === records[123]!.mac],
    ];
    for (const [query, keep] of cases) {
      const want = records.filter(keep).map((r) => r.deviceId);
      const got = await get(`/api/devices?${query}&limit=500`);
      expect(got.body.total, query).toBe(want.length);
      expect((got.body.rows as DeviceRecord[]).map((r) => r.deviceId), query).toEqual(want);
    }
    const facets = page.body.facets as { statuses: Record<string, number> };
    expect(facets.statuses.failed).toBe(records.filter((r) => r.status === 'failed').length);
  });

  it('refuses bad queries with a clear error', async () => {
    const r = await get('/api/devices?status=happy');
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'dashboard.bad_query', message: expect.stringContaining('provisioned') });
    expect((await get('/api/devices?limit=100000')).status).toBe(400);
  });

  it('the page carries no secret and forbids inline script; a foreign Host (DNS rebinding) is refused', async () => {
    const res = await fetch(server.url);
    const html = await res.text();
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const session = await get('/api/session');
    expect(html).not.toContain(session.body.csrf as string);
    expect(html).not.toMatch(/<script>[^<]/);
    const port = new URL(server.url).port;
    // fetch() will not send another Host: node:http does, as a rebound browser would.
    const status = await new Promise<number | undefined>((resolve, reject) =>
      request({ host: '127.0.0.1', port: Number(port), path: '/api/session', headers: { host: `evil.example:${port}` } }, (res) => (res.resume(), resolve(res.statusCode))).on('error', reject).end(),
    );
    expect(status).toBe(421);
  });

  it('read-only: a control request is refused and the rollout is untouched', async () => {
    const writer = await openRegistry(registryPath);
    await createRollout(writer, { id: 'r-ro', actor: 'operator:alice', createdAt: NOW.toISOString(), spec, state: initialState([[records[0]!.deviceId], [records[1]!.deviceId]]) });
    await writer.close();
    const session = await get('/api/session');
    expect(session.body).toMatchObject({ control: false, readOnlyReason: 'test' });
    const res = await fetch(`${server.url}api/rollouts/r-ro/pause`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-espfleet-csrf': session.body.csrf as string }, body: JSON.stringify({ confirm: 'r-ro' }) });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('dashboard.read_only');
    expect((await loadRollout(registry, 'r-ro'))?.state.status).toBe('running');
  });

  it('streams what other processes write: a new rollout, a pause from the CLI, a station port’s progress', async () => {
    const stream = await openEventStream(`${server.url}events`);
    expect(stream.contentType).toMatch(/^text\/event-stream/);
    const { events } = stream;
    const until = (what: string, ok: () => boolean) => stream.until(what, ok);
    await until('hello', () => events.some((e) => e.type === 'hello'));

    const writer = await openRegistry(registryPath);
    await createRollout(writer, { id: 'r-live', actor: 'operator:alice', createdAt: NOW.toISOString(), spec, state: initialState([[records[2]!.deviceId], [records[3]!.deviceId]]) });
    await writer.close();
    await until('the new rollout', () => events.some((e) => e.type === 'rollout' && e.data.id === 'r-live' && e.data.status === 'running'));

    const pause = await espfleet(['ota', 'rollout', 'pause', '--registry', registryPath, '--audit-log', auditPath, '--id', 'r-live']);
    expect(pause.code, pause.stderr).toBe(0);
    await until('the pause', () => events.some((e) => e.type === 'rollout' && e.data.id === 'r-live' && e.data.status === 'paused'));
    await until('the audit entry of the pause', () => events.some((e) => e.type === 'audit' && JSON.stringify(e.data).includes('rollout.pause')));

    const ports = new LivePortsWriter(portsPath, 'line1', 20);
    ports.line('[sim://b1] connecting');
    ports.line('[sim://b1] identity: certificate 1f for esp32_ABCDEF, key in memory only');
    ports.line('[sim://b1] flash: 6 regions encrypted, 40 sectors written, 0 already there');
    ports.close();
    await until('the port at its flash step', () =>
      events.some((e) => e.type === 'stations' && JSON.stringify(e.data).includes('"step":"flash"') && JSON.stringify(e.data).includes('esp32_ABCDEF')),
    );
    await stream.close();
  });

  it('never creates a registry file: a missing one, from --registry or $ESPFLEET_REGISTRY, is refused', async () => {
    const missing = join(dir, 'no-such-registry.sqlite');
    for (const [args, env] of [[['--registry', missing], {}], [[], { ESPFLEET_REGISTRY: missing }]] as const) {
      const cli = await espfleet(['dashboard', ...args, '--listen', '127.0.0.1:0'], { env, cwd: dir });
      expect(cli.code).not.toBe(0);
      expect(cli.stderr).toContain(`no registry at ${missing}`);
      expect(cli.stderr).toContain('[fleet.rollout.no_registry]');
      expect(existsSync(missing)).toBe(false);
    }
  });

  it('a token guards every request: 401 without it, Bearer or the /login cookie with it; off loopback it is required', async () => {
    const token = 'correct-horse-battery-staple-42';
    const guarded = await start({ token });
    try {
      const base = guarded.url;
      expect((await fetch(`${base}api/session`)).status).toBe(401);
      expect((await fetch(`${base}events`)).status).toBe(401);
      expect((await fetch(`${base}api/session`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
      expect((await fetch(`${base}api/session`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      const bad = await fetch(`${base}login`, { method: 'POST', body: new URLSearchParams({ token: 'nope' }), redirect: 'manual' });
      expect(bad.status).toBe(401);
      const login = await fetch(`${base}login`, { method: 'POST', body: new URLSearchParams({ token }), redirect: 'manual' });
      expect(login.status).toBe(303);
      const cookie = login.headers.get('set-cookie')!;
      expect(cookie).toMatch(/HttpOnly; SameSite=Strict/);
      expect(cookie).not.toContain(token);
      expect((await fetch(`${base}api/devices?limit=1`, { headers: { cookie: cookie.split(';')[0]! } })).status).toBe(200);
    } finally {
      await guarded.close();
    }
    await expect(start({ host: '0.0.0.0' })).rejects.toMatchObject({ code: 'dashboard.needs_token' });
    const cli = await espfleet(['dashboard', '--registry', registryPath, '--listen', '0.0.0.0:0']);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain('[dashboard.needs_token]');
  });
});
