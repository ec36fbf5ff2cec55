// Bench: a rollout of a signed bundle with a 1.5 MB app to 100 station-provisioned virtual
// boards (ROLLOUT_BENCH_BOARDS to change it), each running the Mongoose OS double with the
// real agent, through a real mosquitto with the generated profile, downloads over real HTTPS
// from the firmware server. Prints the wall time, host CPU (the boards run in this process,
// so it includes them), command→committed latency and the bytes served per board (must be
// the bundle's size: one download each). Asserts nothing.
import { startAgentFleet } from '../../provisioner/test/agent-fleet.ts';
import { espfleet } from '../../provisioner/test/cli-harness.ts';

const BOARDS = Number(process.env.ROLLOUT_BENCH_BOARDS ?? 100);
const APP_SIZE = 1_200_000; // with the fs part, a bundle of about 1.5 MB

const t0 = Date.now();
const f = await startAgentFleet({ name: 'rollout-bench', boards: BOARDS, operators: ['bench'] });
console.log(`fleet: ${BOARDS} boards provisioned (development encryption) and online in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
try {
  const bundle = f.publish('2.0.0', { appSize: APP_SIZE });
  const sent = new Map<string, number>();
  f.watcher.on('message', (topic) => {
    const m = /^devices\/([^/]+)\/cmd\/ota$/.exec(topic);
    if (m) sent.set(m[1]!, Date.now());
  });
  const committedAt = new Map<string, number>();
  f.watcher.on('message', (topic, payload) => {
    const m = /^devices\/([^/]+)\/ota\/status$/.exec(topic);
    if (m && payload.toString().includes('"state":"committed"') && !committedAt.has(m[1]!)) committedAt.set(m[1]!, Date.now());
  });
  const cpu0 = process.cpuUsage();
  const start = Date.now();
  const r = await espfleet([
    'ota', 'rollout', 'start', '--station', f.station.stationPath, '--bundle', bundle.path, '--url', bundle.url, '--select', 'all', '--id', 'bench',
    '--waves', '5,25%,100%', '--rate', '6000/min', '--max-failures', '5%', '--min-sample', '5', '--device-timeout', '15m', '--commit-timeout', '300',
    ...f.operatorFlags('bench'), '--json', '--quiet',
  ]);
  const seconds = (Date.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (r.code !== 0) console.log(`rollout exit ${r.code}: ${r.stderr.slice(-2000)}`);
  const rec = JSON.parse(r.stdout) as { state?: { status: string; boards: Record<string, { status: string }> } };
  const statuses = Object.values(rec.state?.boards ?? {}).map((b) => b.status);
  const committed = statuses.filter((s) => s === 'committed').length;
  const lat = [...committedAt.entries()].map(([id, at]) => (at - (sent.get(id) ?? at)) / 1000).sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? NaN;
  const served = f.access.filter((e) => e.path.endsWith('fw-2.0.0.zip') && e.status === 200);
  const perBoard = new Map<string, number>();
  for (const e of served) perBoard.set(e.deviceId ?? e.remote, (perBoard.get(e.deviceId ?? e.remote) ?? 0) + e.bytes);
  const bytes = [...perBoard.values()];
  console.log(`rollout of a ${(bundle.bytes / 1e6).toFixed(2)} MB bundle to ${BOARDS} boards in 3 waves: ${rec.state?.status ?? '?'}, ${committed}/${BOARDS} committed in ${seconds.toFixed(1)} s (${((committed / seconds) * 60).toFixed(1)} boards/min)`);
  console.log(`command → committed: p50 ${pct(50).toFixed(1)} s, p95 ${pct(95).toFixed(1)} s, max ${(lat.at(-1) ?? NaN).toFixed(1)} s`);
  console.log(`host CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s in all, ${((cpu.user + cpu.system) / 1e6 / BOARDS).toFixed(2)} s per board (incl. the simulated boards and TLS on both ends)`);
  console.log(
    `bytes served per board: ${Math.min(...bytes)}–${Math.max(...bytes)} (bundle ${bundle.bytes}); ${served.length} downloads for ${perBoard.size} boards` +
      (bytes.every((b) => b === bundle.bytes) && served.length === BOARDS ? ' — one download each' : ' — NOT one download each'),
  );
  console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
} finally {
  await f.stop();
}
