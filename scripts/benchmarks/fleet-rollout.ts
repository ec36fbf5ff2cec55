// Bench (issue 17): a headless fleet of N boards in this process (hil-tests/fleet/), each the
// Mongoose OS double running the real agent with its own flash, key, certificate and MQTT/TLS
// connection, provisioned by the station's pipeline over the direct session (the fast path),
// then a rollout of a signed ~1.5 MB bundle in waves through a real mosquitto with the
// generated profile, downloads over HTTPS from the firmware server. Prints figures; asserts
// nothing. `scripts/bench fleet-rollout --boards 1000`, or
// `npx tsx scripts/benchmarks/fleet-rollout.ts --boards 100 [--encryption development] [--plaintext K]`.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { startFleetRig } from '../../hil-tests/fleet/fleet-rig.ts';
import { waitUntil } from '../../certs/test/mosquitto-harness.ts';
import { espfleet } from '../../provisioner/test/cli-harness.ts';

const { values: args } = parseArgs({
  options: {
    boards: { type: 'string', default: '100' },
    // off: every board plaintext, identical sectors shared; development: every board encrypts.
    encryption: { type: 'string', default: 'off' },
    plaintext: { type: 'string' },
    waves: { type: 'string', default: '10,10%,50%,100%' },
    rate: { type: 'string', default: '1200/min' },
    concurrency: { type: 'string', default: '16' },
  },
});
const BOARDS = Number(args.boards);
const ENCRYPTION = args.encryption === 'development' ? 'development' : 'off';
const APP_SIZE = 1_200_000; // with the fs part, a bundle of about 1.5 MB
const MiB = 1024 * 1024;
const mib = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
const cpuSeconds = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1e6;

/** user+system seconds of another process (mosquitto), from /proc. */
function processCpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

const rss0 = process.memoryUsage().rss;
const cpu0 = process.cpuUsage();
const rig = await startFleetRig({
  name: 'fleet-bench',
  boards: BOARDS,
  encryption: ENCRYPTION,
  ...(args.plaintext ? { plaintext: Number(args.plaintext) } : {}),
  concurrency: Number(args.concurrency),
  operators: ['bench'],
});
const provisionCpu = cpuSeconds(process.cpuUsage(cpu0));
try {
  const fleet = rig.fleet;
  const ok = fleet.provisioned();
  const plain = fleet.boards.filter((b) => !b.encrypted).length;
  console.log(
    `provisioned ${ok.length}/${BOARDS} boards (${BOARDS - plain} encrypted, ${plain} plaintext) through the station pipeline's direct fast path in ${rig.provisionSeconds.toFixed(1)} s ` +
      `(${((ok.length / rig.provisionSeconds) * 60).toFixed(0)} boards/min, ${(provisionCpu / BOARDS).toFixed(3)} s host CPU per board)`,
  );
  for (const b of fleet.boards.filter((x) => !x.outcome.ok)) console.log(`  not provisioned: ${b.url} ${b.outcome.error?.code}: ${b.outcome.error?.message}`);
  const tOnline = Date.now();
  await waitUntil(() => ok.every((b) => rig.lastStatus(b.deviceId ?? '')?.fw_version === '1.0.0'), 'every board online on 1.0.0', 600_000);
  console.log(`every board online on 1.0.0 (retained status seen) ${((Date.now() - tOnline) / 1000).toFixed(1)} s after provisioning ended`);
  fleet.shareSectors();
  const memBoot = fleet.memory();
  console.log(
    `memory after boot: RSS ${mib(memBoot.rssBytes)} (${((memBoot.rssBytes - rss0) / BOARDS / 1024).toFixed(0)} KiB per board over the process before the fleet), ` +
      `heap ${mib(memBoot.heapUsedBytes)}, array buffers ${mib(memBoot.arrayBufferBytes)}; flash: ${memBoot.flash.ownSectors} own + ${memBoot.flash.sharedSectors} shared sectors ` +
      `(${memBoot.flash.distinctSharedSectors} distinct) = ${mib(memBoot.flash.ownBytes + memBoot.flash.distinctSharedSectors * 4096)} for all boards`,
  );

  const bundle = rig.publish('2.0.0', { appSize: APP_SIZE });
  const sent = new Map<string, number>();
  const committedAt = new Map<string, number>();
  rig.watcher.on('message', (topic, payload) => {
    const cmd = /^devices\/([^/]+)\/cmd\/ota$/.exec(topic);
    if (cmd && !sent.has(cmd[1]!)) sent.set(cmd[1]!, Date.now());
    const st = /^devices\/([^/]+)\/ota\/status$/.exec(topic);
    if (st && payload.toString().includes('"state":"committed"') && !committedAt.has(st[1]!)) committedAt.set(st[1]!, Date.now());
  });
  let peakConnected = 0;
  const flags = rig.operatorFlags('bench');
  const cpu1 = process.cpuUsage();
  const broker1 = processCpuSeconds(rig.broker.broker.pid);
  const start = Date.now();
  const sampler = setInterval(() => (peakConnected = Math.max(peakConnected, fleet.online())), 2000);
  const r = await espfleet([
    'ota', 'rollout', 'start', '--station', rig.fixture.stationPath, '--bundle', bundle.path, '--url', bundle.url, '--select', 'all', '--id', 'fleet-bench',
    '--waves', args.waves!, '--rate', args.rate!, '--max-failures', '5%', '--min-sample', '10', '--device-timeout', '30m', '--commit-timeout', '900',
    ...flags, '--json', '--quiet',
  ]);
  clearInterval(sampler);
  const seconds = (Date.now() - start) / 1000;
  const cpu = cpuSeconds(process.cpuUsage(cpu1));
  const brokerCpu = processCpuSeconds(rig.broker.broker.pid) - broker1;
  if (r.code !== 0) console.log(`rollout exit ${r.code}: ${r.stderr.slice(-2000)}`);
  const rec = JSON.parse(r.stdout || '{}') as { state?: { status: string; boards: Record<string, { status: string }> } };
  const boards = rec.state?.boards ?? {};

  // The broker's own count, with the watcher and the stats client connected besides the boards (the driver has left).
  const brokerConnected = await rig.brokerClientsConnected();
  const operatorsConnected = 2;
  const memEnd = fleet.memory();

  const lat = [...committedAt.entries()].map(([id, at]) => (at - (sent.get(id) ?? at)) / 1000).sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? NaN;
  const byStatus = new Map<string, string[]>();
  for (const b of ok) {
    const id = b.deviceId ?? b.url;
    const driver = boards[id]?.status ?? 'not in the rollout';
    const board = b.chip.firmwareSession ? String(rig.lastStatus(id)?.fw_version ?? '?') : `chip ${b.chip.state}`;
    // Final = the driver's verdict agreed by the board's own retained status.
    const final = driver === 'committed' && board === '2.0.0' ? 'committed' : driver === 'committed' ? `committed by the driver, board reports ${board}` : driver;
    byStatus.set(final, [...(byStatus.get(final) ?? []), id]);
  }
  const committed = byStatus.get('committed')?.length ?? 0;
  const served = rig.access.filter((e) => e.path.endsWith('fw-2.0.0.zip') && e.status === 200);

  console.log(`rollout of a ${(bundle.bytes / 1e6).toFixed(2)} MB signed bundle to ${ok.length} boards, waves ${args.waves}, rate ${args.rate}: ${rec.state?.status ?? '?'}, ${committed}/${ok.length} committed in ${seconds.toFixed(1)} s (${((committed / seconds) * 60).toFixed(1)} boards/min)`);
  console.log(`command → committed: p50 ${pct(50).toFixed(1)} s, p95 ${pct(95).toFixed(1)} s, max ${(lat.at(-1) ?? NaN).toFixed(1)} s (${lat.length} boards)`);
  console.log(`host CPU during the rollout: ${cpu.toFixed(1)} s in this process (boards, driver, firmware server) = ${(cpu / ok.length).toFixed(2)} s per board; mosquitto ${brokerCpu.toFixed(1)} s`);
  console.log(`downloads: ${served.length} for ${ok.length} boards, ${(served.reduce((n, e) => n + e.bytes, 0) / 1e6).toFixed(0)} MB served`);
  console.log(`broker connections held: ${brokerConnected} clients connected by mosquitto's $SYS/broker/clients/connected (${brokerConnected - operatorsConnected} besides the 2 operator clients); boards with an MQTT session: ${fleet.online()} now, ${peakConnected} at most during the rollout`);
  console.log(
    `memory after the rollout: RSS ${mib(memEnd.rssBytes)} (${((memEnd.rssBytes - rss0) / BOARDS / 1024).toFixed(0)} KiB per board), heap ${mib(memEnd.heapUsedBytes)}, array buffers ${mib(memEnd.arrayBufferBytes)}; ` +
      `flash: ${memEnd.flash.ownSectors} own + ${memEnd.flash.sharedSectors} shared sectors (${memEnd.flash.distinctSharedSectors} distinct) = ${mib(memEnd.flash.ownBytes + memEnd.flash.distinctSharedSectors * 4096)} for all boards`,
  );
  console.log(`peak RSS ${mib(process.resourceUsage().maxRSS * 1024)}`);
  console.log(`final state of every board: ${[...byStatus].map(([s, ids]) => `${s} ${ids.length}`).join(', ')}${BOARDS > ok.length ? `, not provisioned ${BOARDS - ok.length}` : ''}`);
  for (const [s, ids] of byStatus) if (s !== 'committed') console.log(`  ${s}: ${ids.join(' ')}`);
} finally {
  await rig.stop();
}
