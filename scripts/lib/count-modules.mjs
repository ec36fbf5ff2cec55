// Preloaded by scripts/benchmarks/cli-startup.ts and the start-up test: at exit, prints how
// many of the project's own modules (not node_modules) the process loaded — and, with
// ESPFLEET_LIST_MODULES=1, which — so start-up cost can be traced to imports.
import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';

const root = new URL('../../', import.meta.url).href;
const seen = new Set();
const { port1, port2 } = new MessageChannel();
port1.on('message', (url) => {
  if (url.startsWith(root) && !url.includes('/node_modules/')) seen.add(url.slice(root.length));
});
port1.unref();
register('./count-modules-hooks.mjs', import.meta.url, { data: { port: port2 }, transferList: [port2] });
process.on('exit', () => {
  if (process.env.ESPFLEET_LIST_MODULES === '1') for (const m of [...seen].sort()) process.stderr.write(`espfleet-module: ${m}\n`);
  process.stderr.write(`espfleet-modules: ${seen.size}\n`);
});
