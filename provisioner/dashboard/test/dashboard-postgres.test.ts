// `espfleet dashboard --registry postgres://…`, run in-process over a throw-away PostgreSQL
// cluster: the device table is the database's devices, the audit view is the chain kept in
// `audit_entries` (verified against its anchor, failure reasons and versions taken from it),
// the page in headless Chromium shows both, an entry appended by another writer reaches the
// event stream, and the URL's password is never printed. Without initdb (or chromium, for
// the page) it is skipped locally and fails under CI=true.
import { randomBytes } from 'node:crypto';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oracleAvailable } from '../../../scripts/lib/oracles.ts';
import { runCli } from '../../cli/program.ts';
import { initialState } from '../../fleet/rollout-plan.ts';
import { parsePolicy } from '../../fleet/rollout-policy.ts';
import { createRollout, type RolloutSpec } from '../../fleet/rollout-store.ts';
import { openStationAudit } from '../../station/audit-sql.ts';
import { openRegistryAt, type Registry } from '../../station/open-registry.ts';
import type { AuditLog, DeviceRecord } from '../../station/records.ts';
import { startPostgresCluster, type PostgresCluster } from '../../test/postgres-cluster.ts';
import type { AuditView, DevicePage, RolloutView } from '../data.ts';
import { launchChromium } from './browser.ts';
import { seedRegistry } from './seed-registry.ts';
import { openEventStream } from './event-stream.ts';

const available = oracleAvailable('initdb');
const withBrowser = available && oracleAvailable('chromium');
const N = 60;
const REASON = 'firmware.bundle.bad_signature: signed by an untrusted key';
const policy = parsePolicy({ waves: '1,100%', rate: '60/min', maxFailures: '2', minSample: 0, deviceTimeout: '10m' });
const spec: RolloutSpec = { bundle: { path: 'fw.zip', version: '1.4.0', sha256: 'cd'.repeat(32), signedBy: ['k1'] }, url: 'https://ota.example/fw.zip', select: 'status=provisioned', policy };

let cluster: PostgresCluster | undefined;
let records: DeviceRecord[];
let writer: Registry;
let audit: AuditLog;
let base: string;
let stderr = '';
let dashboard: Promise<number> | undefined;
const stop = new AbortController();
// Trust authentication never asks for it: it only has to stay out of everything printed.
const password = randomBytes(12).toString('hex');

async function get<T>(path: string): Promise<T> {
  const res = await fetch(`${base}${path}`);
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
}

describe.skipIf(!available)('dashboard over a PostgreSQL registry (needs initdb)', () => {
  beforeAll(async () => {
    cluster = await startPostgresCluster();
    const url = cluster.createDatabase('dashboard');
    records = await seedRegistry(url, N);
    writer = await openRegistryAt(url);
    audit = await openStationAudit(writer, '');
    for (const r of records.slice(0, 3)) await audit.append({ action: 'provision.flash', actor: 'station:line1', subject: { deviceId: r.deviceId }, details: { firmwareVersion: '0.9.0' } });
    const state = initialState([[records[0]!.deviceId], [records[1]!.deviceId]]);
    state.boards[records[1]!.deviceId]!.status = 'failed';
    await createRollout(writer, { id: 'r-pg', actor: 'operator:alice', createdAt: new Date().toISOString(), spec, state });
    await audit.append({ action: 'rollout', actor: 'operator:alice', subject: { rollout: 'r-pg', device: records[1]!.deviceId }, details: { status: 'failed', reason: REASON } });

    const withPassword = url.replace('//espfleet@', `//espfleet:${password}@`);
    let stdout = '';
    dashboard = runCli(['dashboard', '--registry', withPassword, '--listen', '127.0.0.1:0', '--json'], {
      stdout: { write: (c: string | Uint8Array) => ((stdout += String(c)), true) },
      stderr: { write: (c: string | Uint8Array) => ((stderr += String(c)), true) },
      env: {},
      cwd: process.cwd(),
      interrupt: { signal: stop.signal, hold: () => () => {} },
    });
    for (let i = 0; i < 600 && !stdout.includes('\n'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(stdout, stderr).toContain('\n');
    base = (JSON.parse(stdout.split('\n')[0]!) as { url: string }).url;
  }, 180_000);

  afterAll(async () => {
    stop.abort();
    await dashboard;
    await writer?.close();
    cluster?.stop();
  });

  it('the device table is the database’s devices: all of them, and filtered by status', { timeout: 60_000 }, async () => {
    const page = await get<DevicePage>('api/devices?limit=500');
    expect(page).toMatchObject({ total: N, all: N });
    expect(page.rows.map((r) => r.deviceId)).toEqual(records.map((r) => r.deviceId));
    const failed = await get<DevicePage>('api/devices?status=failed&limit=500');
    expect(failed.rows.map((r) => r.deviceId)).toEqual(records.filter((r) => r.status === 'failed').map((r) => r.deviceId));
  });

  it('the audit view is the chain in the registry, verified against its anchor; reasons and versions come from it', { timeout: 60_000 }, async () => {
    const view = await get<AuditView>('api/audit');
    expect(view.verify).toMatchObject({ ok: true, entries: 4, anchored: true });
    expect(view.tail.map((e) => [e.seq, e.action])).toEqual([[3, 'rollout'], [2, 'provision.flash'], [1, 'provision.flash'], [0, 'provision.flash']]);
    expect(view.path).toContain('/dashboard');
    expect(view.path).not.toContain(password);

    const rollout = await get<RolloutView>('api/rollouts/r-pg');
    expect(rollout.failed).toEqual([{ id: records[1]!.deviceId, wave: 2, status: 'failed', reason: REASON }]);
    const charts = await get<{ versionsOverTime: { versions: string[]; points: Array<{ counts: Record<string, number> }> } }>('api/charts');
    expect(charts.versionsOverTime.versions).toContain('0.9.0');
    expect(charts.versionsOverTime.points.slice(0, 3).map((p) => p.counts['0.9.0'])).toEqual([1, 2, 3]);
  });

  it.skipIf(!withBrowser)('the page (headless chromium; needs chromium) shows the devices and the chain as intact and anchored', { timeout: 120_000 }, async () => {
    let browser: Browser | undefined;
    try {
      browser = await launchChromium();
      const page = await browser.newPage();
      await page.goto(`${base}#devices`);
      await page.waitForSelector('body[data-ready="true"]');
      await page.waitForFunction(`document.querySelectorAll('#devices tbody tr').length === 50`, { timeout: 30_000 });
      const ids = (await page.$$eval('#devices tbody tr', (rows) => rows.map((r) => r.getAttribute('data-id')))) as string[];
      expect(ids).toEqual(records.slice(0, 50).map((r) => r.deviceId));
      await page.goto(`${base}#audit`);
      await page.waitForSelector('#audit-state[data-ok="true"]', { timeout: 30_000 });
      expect(await page.$eval('#audit-state', (e) => e.textContent)).toBe('intact: 4 entries, matches the registry anchor');
      expect((await page.$$eval('#audit tbody tr', (rows) => rows.map((r) => r.getAttribute('data-seq'))))).toEqual(['3', '2', '1', '0']);
    } finally {
      await browser?.close();
    }
  });

  it('an entry appended by another writer reaches the event stream', { timeout: 60_000 }, async () => {
    const stream = await openEventStream(`${base}events`);
    const { events } = stream;
    const until = (what: string, ok: () => boolean) => stream.until(what, ok, 400);
    await until('hello', () => events.some((e) => e.type === 'hello'));
    await audit.append({ action: 'certificate.revoke', actor: 'operator:alice', subject: { deviceId: records[5]!.deviceId }, details: { reason: 'lost' } });
    await until('the new entry', () =>
      events.some((e) => {
        const v = e.data as unknown as AuditView;
        return e.type === 'audit' && v.entries === 5 && v.verify?.ok === true && v.tail[0]?.action === 'certificate.revoke';
      }),
    );
    await stream.close();
  });

  it('prints where it reads without the URL’s password', () => {
    expect(stderr).toMatch(/dashboard of postgres:\/\/espfleet:\*\*\*@127\.0\.0\.1:\d+\/dashboard: read-only/);
    expect(stderr).not.toContain(password);
  });
});
