// Issue 19 acceptance: the dashboard in a real headless Chromium (Debian's, through
// puppeteer-core) watches a rollout of 20 station-provisioned virtual boards — each running
// the Mongoose OS double with the real agent, through a real mosquitto, fetching the bundle
// over HTTPS — fill its wave bars; a pause clicked on the page (after its confirmation)
// pauses the rollout as `espfleet ota rollout status` reports it; a resume from the page
// drives it to the end, and the page's counts are the registry's. Screenshots of the station
// view, the rollout view and the expiry chart go to hil-tests/logs/dashboard/.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOSQUITTO, mosquittoAvailable, waitUntil } from '../../../certs/test/mosquitto-harness.ts';
import { oracleAvailable, repoRoot } from '../../../scripts/lib/oracles.ts';
import { startAgentFleet, type AgentFleet } from '../../test/agent-fleet.ts';
import { spawnCli, type CliChild } from '../../test/cli-child.ts';
import { espfleet } from '../../test/cli-harness.ts';
import { launchChromium } from './browser.ts';
import { VirtualEsp32, registerSimBoard } from '../../../hil-tests/index.ts';

const available = mosquittoAvailable() && oracleAvailable('chromium');
const BOARDS = 20;
const ARTIFACTS = join(repoRoot, 'hil-tests', 'logs', 'dashboard');
const ID = 'r-dash-110';

let f: AgentFleet;
let browser: Browser;
let dashboard: CliChild;
let url: string;
let page: Page;

interface StatusJson {
  status: string;
  counts: Record<string, number>;
  waves: Array<{ wave: number; counts: Record<string, number> }>;
}

async function rolloutStatus(): Promise<StatusJson> {
  const r = await espfleet(['ota', 'rollout', 'status', '--station', f.station.stationPath, '--id', ID, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as StatusJson;
}

/** The page's numbers for the rollout shown: totals and per wave, from the data-* the view renders. */
async function pageCounts(p: Page) {
  return p.evaluate(`(() => {
    const num = (el, k) => Number(el.getAttribute('data-' + k));
    const totals = document.querySelector('#rollout-totals');
    const statuses = ['pending', 'commanded', 'downloading', 'committed', 'reverted', 'failed', 'timed-out'];
    return {
      status: document.querySelector('.rollout-head').getAttribute('data-status'),
      boards: num(totals, 'boards'),
      totals: Object.fromEntries(statuses.map((s) => [s, num(totals, s)])),
      waves: [...document.querySelectorAll('.wave')].map((w) => ({ wave: num(w, 'wave'), boards: num(w, 'boards'), committed: num(w, 'committed') })),
    };
  })()`) as Promise<{ status: string; boards: number; totals: Record<string, number>; waves: Array<{ wave: number; boards: number; committed: number }> }>;
}

/** Clicks a rollout button, confirms in the page's dialog, and checks the server's answer. */
async function clickAndConfirm(p: Page, verb: 'pause' | 'resume'): Promise<void> {
  // Found and clicked in one step inside the page: the live feed re-renders the rollout
  // card as boards report, so a handle taken a moment earlier may be detached by the click.
  await p.waitForFunction(`(() => { const b = document.querySelector('#btn-${verb}:not([disabled])'); b?.click(); return b !== null; })()`, { timeout: 120_000 });
  await p.waitForSelector('#confirm[open]');
  await p.click('#confirm-ok');
  // The page logs the server's answer (or its error) in the driver log ("HH:MM:SS line"):
  // wait for it and fail with it, not with a later timeout that says nothing of why.
  const answer = await p.waitForFunction(
    `(document.querySelector('#driver-log')?.textContent ?? '').split('\\n').map((l) => l.slice(9)).reverse().find((l) => l.startsWith('${verb}: ') || l.startsWith('error: '))`,
    { timeout: 60_000 },
  );
  expect(String(await answer.jsonValue()), `the page's answer to ${verb}`).toMatch(new RegExp(`^${verb}: rollout \\S+ \\w+ → \\w+`));
}

describe.skipIf(!available)(`dashboard in headless Chromium over a ${BOARDS}-board rollout (needs ${MOSQUITTO} and chromium)`, () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    f = await startAgentFleet({ name: 'dash', boards: BOARDS, operators: ['rollout', 'dash'] });
    // The dashboard holds its own operator identity: one CN per broker session.
    dashboard = spawnCli(['dashboard', '--station', f.station.stationPath, ...f.operatorFlags('dash'), '--listen', '127.0.0.1:0', '--json']);
    await waitUntil(() => dashboard.lines.length > 0 || !dashboard.running(), 'the dashboard printing its URL', 60_000);
    expect(dashboard.lines[0], dashboard.stderr()).toBeDefined();
    const started = JSON.parse(dashboard.lines[0]!) as { url: string; control: boolean; actor: string };
    expect(started).toMatchObject({ control: true, actor: 'operator:dash' });
    url = started.url;
    browser = await launchChromium();
    page = await browser.newPage();
  }, 400_000);
  afterAll(async () => {
    await browser?.close();
    await dashboard?.stop();
    await f?.stop();
  });

  it('the station view shows the ports the station provisioned, each with the device id the registry holds', async () => {
    await page.goto(`${url}#stations`);
    await page.waitForSelector('body[data-ready="true"]');
    const ports = (await page.$$eval('.station tr[data-port]', (rows) => rows.map((r) => ({ port: r.getAttribute('data-port'), state: r.getAttribute('data-state'), device: r.children[4]?.textContent })))) as Array<{ port: string; state: string; device: string }>;
    expect(ports).toHaveLength(BOARDS);
    for (const b of f.boards) expect(ports.find((p) => p.port === b.url), b.url).toMatchObject({ state: 'provisioned', device: b.deviceId });
    await page.screenshot({ path: join(ARTIFACTS, 'station-view.png'), fullPage: true });
  });

  it('a page without the CSRF header, or not confirming the rollout id, changes nothing', async () => {
    // Before any rollout exists, a control request is refused for what it lacks, not for the id.
    const post = (headers: Record<string, string>, body: unknown) => fetch(`${url}api/rollouts/${ID}/pause`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const noCsrf = await post({}, { confirm: ID });
    expect(noCsrf.status).toBe(403);
    expect(((await noCsrf.json()) as { error: { code: string } }).error.code).toBe('dashboard.csrf');
    const session = (await (await fetch(`${url}api/session`)).json()) as { csrf: string; control: boolean };
    expect(session.control).toBe(true);
    const unconfirmed = await post({ 'x-espfleet-csrf': session.csrf }, { confirm: 'something-else' });
    expect(unconfirmed.status).toBe(400);
    expect(((await unconfirmed.json()) as { error: { code: string } }).error.code).toBe('dashboard.not_confirmed');
    const foreign = await post({ 'x-espfleet-csrf': session.csrf, origin: 'http://evil.example' }, { confirm: ID });
    expect(foreign.status).toBe(403);
  });

  it('watches the rollout fill its waves, pauses it from the page (status agrees), resumes it from the page, and ends with the registry’s counts', async () => {
    const b = f.publish('1.1.0');
    await page.goto(`${url}#rollouts`);
    await page.waitForSelector('body[data-ready="true"]');
    const start = spawnCli([
      'ota', 'rollout', 'start', '--station', f.station.stationPath, '--bundle', b.path, '--url', b.url, '--select', 'status=provisioned', '--id', ID,
      '--waves', '2,50%,100%', '--rate', '30/min', '--max-failures', '1', '--min-sample', '1', '--device-timeout', '3m', '--commit-timeout', '300', ...f.operatorFlags('rollout'), '--json',
    ]);
    try {
      // The page learns of the new rollout from the event stream alone (no reload).
      await page.waitForSelector(`.rollout-head[data-id="${ID}"]`, { timeout: 120_000 });
      // Wave 1 full while wave 3 has not begun: the bars fill as boards report.
      await page.waitForFunction(
        `(() => { const w = (n, k) => Number(document.querySelector('.wave[data-wave="' + n + '"]')?.getAttribute('data-' + k));
           return w(1, 'committed') === w(1, 'boards') && w(1, 'boards') === 2 && w(3, 'committed') === 0; })()`,
        { timeout: 240_000, polling: 200 },
      );
      const mid = await pageCounts(page);
      expect(mid.status).toBe('running');
      expect(mid.waves.map((w) => w.boards)).toEqual([2, 8, 10]);
      await page.screenshot({ path: join(ARTIFACTS, 'rollout-view-running.png'), fullPage: true });

      // At 30 boards/min wave 2 (8 boards) takes 16 s or more to command, so the pause lands
      // while the rollout runs; a faster rate let a quick machine finish it first ("already done").
      await clickAndConfirm(page, 'pause');
      await page.waitForSelector('.rollout-head[data-status="paused"]', { timeout: 60_000 });
      const ended = await start.exited;
      expect(ended.code, start.stderr().slice(-2000)).toBe(0);
      expect(start.stderr()).toMatch(new RegExp(`rollout ${ID} paused`));
    } finally {
      await start.stop();
    }
    const paused = await rolloutStatus();
    expect(paused.status).toBe('paused');
    expect(paused.counts.committed).toBeLessThan(BOARDS);
    await page.screenshot({ path: join(ARTIFACTS, 'rollout-view-paused.png'), fullPage: true });

    await clickAndConfirm(page, 'resume');
    await page.waitForSelector('.rollout-head[data-status="done"]', { timeout: 400_000 });
    const done = await rolloutStatus();
    expect(done.status).toBe('done');
    expect(done.counts.committed).toBe(BOARDS);
    // The page's final numbers are the registry's, board status by board status and wave by wave.
    await page.waitForFunction(`Number(document.querySelector('#rollout-totals')?.getAttribute('data-committed')) === ${BOARDS}`, { timeout: 30_000 });
    const shown = await pageCounts(page);
    expect(shown.boards).toBe(BOARDS);
    expect(shown.totals).toEqual(done.counts);
    expect(shown.waves.map((w) => [w.boards, w.committed])).toEqual(done.waves.map((w) => [Object.values(w.counts).reduce((a, n) => a + n, 0), w.counts.committed]));
    await page.screenshot({ path: join(ARTIFACTS, 'rollout-view-done.png'), fullPage: true });

    // Who paused and resumed is in the audit log: the dashboard's operator.
    const audit = readFileSync(join(f.dir, 'audit.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { action: string; actor: string; subject: { rollout?: string } });
    expect(audit.filter((e) => e.subject.rollout === ID && (e.action === 'rollout.pause' || e.action === 'rollout.resume')).map((e) => [e.action, e.actor])).toEqual([
      ['rollout.pause', 'operator:dash'],
      ['rollout.resume', 'operator:dash'],
    ]);
  }, 900_000);

  it('the device table agrees with the registry: search, version and status filters, server-side paging', async () => {
    const list = await espfleet(['devices', 'list', '--station', f.station.stationPath, '--json']);
    const records = JSON.parse(list.stdout) as Array<{ deviceId: string; firmwareVersion: string; status: string }>;
    expect(records.filter((r) => r.firmwareVersion === '1.1.0')).toHaveLength(BOARDS);
    await page.goto(`${url}#devices`);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.$eval('#device-count', (e) => e.getAttribute('data-total'))).toBe(String(records.length));
    await page.select('#f-version', '1.1.0');
    await page.waitForFunction(`document.querySelectorAll('#devices tbody tr').length === ${BOARDS} && [...document.querySelectorAll('#devices td.version')].every((td) => td.textContent === '1.1.0')`);
    const one = f.boards[7]!.deviceId;
    await page.type('#f-q', one);
    await page.waitForFunction(`document.querySelectorAll('#devices tbody tr').length === 1`);
    expect(await page.$eval('#devices tbody tr', (tr) => [tr.getAttribute('data-id'), tr.querySelector('.online')?.textContent])).toEqual([one, 'online']);
  }, 120_000);

  it('the charts and the audit log: expiry by month counts every certificate, the log verifies', async () => {
    await page.goto(`${url}#charts`);
    await page.waitForSelector('#chart-expiry svg g.bar', { timeout: 30_000 });
    const bars = (await page.$$eval('#chart-expiry g.bar', (gs) => gs.map((g) => Number(g.getAttribute('data-value'))))) as number[];
    expect(bars.reduce((a, n) => a + n, 0)).toBe(BOARDS);
    const versions = (await page.$$eval('#chart-versions rect[data-version]', (rs) => rs.map((r) => r.getAttribute('data-version')))) as string[];
    expect(new Set(versions)).toEqual(new Set(['1.0.0', '1.1.0']));
    await page.screenshot({ path: join(ARTIFACTS, 'charts-view.png'), fullPage: true });
    const chart = await page.$('#view-charts figure');
    await chart!.screenshot({ path: join(ARTIFACTS, 'expiry-chart.png') });

    await page.goto(`${url}#audit`);
    await page.waitForSelector('#audit-state[data-ok="true"]', { timeout: 30_000 });
    const verify = await espfleet(['audit', 'verify', '--station', f.station.stationPath, '--json']);
    const result = JSON.parse(verify.stdout) as { ok: boolean; entries: number };
    expect(result.ok).toBe(true);
    expect(await page.$eval('#audit-state', (e) => e.textContent)).toContain(`intact: ${result.entries} entries`);
    await page.screenshot({ path: join(ARTIFACTS, 'audit-view.png'), fullPage: true });
  }, 120_000);

  it('a station provisioning new boards: the page shows each port move through its steps and end provisioned, live', async () => {
    const chips = [0, 1].map((i) => new VirtualEsp32({ name: `dash-new-${i}-${process.pid}` }));
    const unregister = chips.map((c) => (c.powerOn(), registerSimBoard(c.options.name, c)));
    try {
      const ports = chips.map((c) => `sim://${c.options.name}`);
      await page.goto(`${url}#stations`);
      await page.waitForSelector('body[data-ready="true"]');
      // What the page shows for the new ports, sampled in the page as the events arrive.
      await page.evaluate(`window.seen = []; setInterval(() => { for (const tr of document.querySelectorAll('tr[data-port^="sim://dash-new-"]')) window.seen.push(tr.getAttribute('data-port') + ' ' + tr.getAttribute('data-state') + ' ' + tr.children[2].textContent); }, 50)`);
      const prov = await espfleet(['provision', '--station', f.station.stationPath, ...ports.flatMap((p) => ['--port', p]), '--json', '--quiet']);
      expect(prov.code, prov.stderr.slice(-2000)).toBe(0);
      const rows = JSON.parse(prov.stdout) as Array<{ port: string; deviceId: string; result: string }>;
      for (const p of ports) {
        const row = rows.find((r) => r.port === p)!;
        expect(row.result).toBe('provisioned');
        await page.waitForSelector(`tr[data-port="${p}"][data-state="provisioned"]`, { timeout: 30_000 });
        expect(await page.$eval(`tr[data-port="${p}"]`, (tr) => tr.children[4]?.textContent)).toBe(row.deviceId);
      }
      const seen = (await page.evaluate('window.seen')) as string[];
      for (const p of ports) {
        const steps = new Set(seen.filter((l) => l.startsWith(`${p} running `)).map((l) => l.split(' ')[2]));
        // Seen in progress at more than one step before the end, without reloading the page.
        expect(steps.size, `${p}: ${[...new Set(seen.filter((l) => l.startsWith(p)))].join(' | ')}`).toBeGreaterThan(1);
      }
      await page.screenshot({ path: join(ARTIFACTS, 'station-view-live.png'), fullPage: true });
    } finally {
      for (const c of chips) c.powerOff();
      for (const u of unregister) u();
    }
  }, 300_000);
});
