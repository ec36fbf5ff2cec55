// Bench: how fast the dashboard's page loads with 10,000 registry records (issue 19: under a
// second). Seeds a registry, starts `espfleet dashboard` as a user would (its own process),
// and loads the page in headless Chromium (Debian's, via puppeteer-core) several times, each
// in a fresh browser context (nothing cached); prints the medians of the browser's own
// figures: DOMContentLoaded, first contentful paint, the device table rendered (a mark the
// page sets) and everything loaded (rollouts, stations, audit log). Also times the device
// API alone (a filtered page of 50). Run: npx tsx scripts/benchmarks/dashboard.ts [records]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnCli } from '../../provisioner/test/cli-child.ts';
import { launchChromium } from '../../provisioner/dashboard/test/browser.ts';
import { seedRegistry } from '../../provisioner/dashboard/test/seed-registry.ts';

const RECORDS = Number(process.argv[2] ?? 10_000);
// Evaluated in the page as text: tsx's helpers (__name) do not exist there.
const PAGE_FIGURES = `(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  const mark = (n) => performance.getEntriesByName(n)[0]?.startTime ?? NaN;
  return {
    domContentLoaded: nav.domContentLoadedEventEnd,
    firstContentfulPaint: fcp ? fcp.startTime : NaN,
    deviceTable: mark('espfleet:devices-rendered'),
    ready: mark('espfleet:ready'),
    rows: document.querySelectorAll('#devices tbody tr').length,
  };
})()`;
const LOADS = 7;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const dir = mkdtempSync(join(tmpdir(), 'espfleet-bench-dashboard-'));
const registry = join(dir, 'registry.sqlite');
let t = performance.now();
await seedRegistry(registry, RECORDS);
console.log(`registry: ${RECORDS} records seeded in ${(performance.now() - t).toFixed(0)} ms`);

const dash = spawnCli(['dashboard', '--registry', registry, '--listen', '127.0.0.1:0', '--json']);
try {
  t = performance.now();
  while (dash.lines.length === 0) {
    if (!dash.running()) throw new Error(`dashboard exited: ${dash.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const { url } = JSON.parse(dash.lines[0]!) as { url: string };
  console.log(`dashboard serving ${url} after ${(performance.now() - t).toFixed(0)} ms (process start included)`);

  const api: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const s = performance.now();
    const res = await fetch(`${url}api/devices?status=provisioned&q=line1&limit=50&offset=${i * 50}`);
    await res.json();
    api.push(performance.now() - s);
  }

  const browser = await launchChromium();
  const figures: Array<Record<string, number>> = [];
  try {
    for (let i = 0; i < LOADS; i++) {
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      await page.goto(`${url}#devices`, { waitUntil: 'domcontentloaded' });
      await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
      figures.push((await page.evaluate(PAGE_FIGURES)) as Record<string, number>);
      await context.close();
    }
  } finally {
    await browser.close();
  }
  const rows = figures[0]?.rows;
  console.log(`page load, ${RECORDS} records, median of ${LOADS} fresh loads in headless Chromium (device table: ${rows} rows rendered):`);
  for (const k of ['domContentLoaded', 'firstContentfulPaint', 'deviceTable', 'ready'] as const) {
    const xs = figures.map((f) => f[k]!);
    console.log(`  ${k.padEnd(22)} median ${median(xs).toFixed(0).padStart(5)} ms   (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`);
  }
  console.log(`  ${'GET /api/devices'.padEnd(22)} median ${median(api).toFixed(0).padStart(5)} ms   (a filtered page of 50; the first read of the registry included in max ${Math.max(...api).toFixed(0)})`);
} finally {
  await dash.stop();
  rmSync(dir, { recursive: true, force: true });
}
