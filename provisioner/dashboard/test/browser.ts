// Debian's chromium, headless, driven by puppeteer-core — for the dashboard's browser tests
// and its benchmark. The browser is an oracle (scripts/lib/oracles.ts): missing under
// CI=true fails the test that needs it.
import puppeteer, { type Browser } from 'puppeteer-core';
import { requireOracle } from '../../../scripts/lib/oracles.ts';

export async function launchChromium(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: requireOracle('chromium'),
    headless: true,
    // We run as root in a container: no sandbox; /dev/shm is small there.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--no-default-browser-check'],
    defaultViewport: { width: 1280, height: 860 },
  });
}
