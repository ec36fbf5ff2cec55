// Issue 15 acceptance: `espfleet ota rollout` drives 20 station-provisioned, encrypted virtual
// boards — each running the Mongoose OS double with the real agent — through a real
// mosquitto with the generated profile, the boards fetching signed bundles over real HTTPS
// from the firmware server (ota-http-client in the double) and committing after their
// health check. A tapping operator client sees every command: no board is commanded twice.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOSQUITTO, mosquittoAvailable, waitUntil } from '../../certs/test/mosquitto-harness.ts';
import { Rfc2217Server } from '../../hil-tests/index.ts';
import { hardReset } from '../../hil-tests/test/helpers/firmware-set.ts';
import { espsecure, esptool, expectOk } from '../../scripts/lib/oracles.ts';
import { generateSigningKey, signBundle } from '../../firmware-js/bundle/index.ts';
import { parseOtadata } from '../../firmware-js/partition/otadata.ts';
import { spawnCli } from './cli-child.ts';
import { espfleet } from './cli-harness.ts';
import { startAgentFleet, type AgentFleet } from './agent-fleet.ts';

const available = mosquittoAvailable();
const BOARDS = 20;
let f: AgentFleet;
let brokerArgs: string[] = [];

const cmds = (version?: string) =>
  f.seen.filter((m) => /^devices\/[^/]+\/cmd\/ota$/.test(m.topic)).map((m) => ({ device: m.topic.split('/')[1]!, ...(JSON.parse(m.payload) as { id: string; rollout: string; version: string }) })).filter((c) => version === undefined || c.version === version);

function commandedOnce(version: string): Map<string, number> {
  const count = new Map<string, number>();
  for (const c of cmds(version)) count.set(c.device, (count.get(c.device) ?? 0) + 1);
  return count;
}

const lastOta = (id: string) => f.otaStatuses(id).at(-1);

describe.skipIf(!available)(`ota rollout on ${BOARDS} virtual boards through mosquitto (needs ${MOSQUITTO})`, () => {
  beforeAll(async () => {
    f = await startAgentFleet({ name: 'rollout-acc', boards: BOARDS, operators: ['rollout', 'rollout2'] });
    brokerArgs = f.operatorFlags('rollout');
  }, 300_000);
  afterAll(async () => {
    await f?.stop();
  });

  const start = (bundle: string, url: string, extra: string[] = []) => [
    'ota', 'rollout', 'start', '--station', f.station.stationPath, '--bundle', bundle, '--url', url, '--select', 'status=provisioned',
    '--waves', '2,50%,100%', '--rate', '600/min', '--max-failures', '1', '--min-sample', '1', '--device-timeout', '3m', '--commit-timeout', '300', ...brokerArgs, ...extra,
  ];

  it('a bundle signed by a key the boards do not hold is refused before anything is sent (plan and start)', async () => {
    const other = generateSigningKey();
    const good = f.publish('1.1.0');
    const path = join(f.dir, 'fw-1.1.0-other-key.zip');
    writeFileSync(path, signBundle(readFileSync(good.path), other.privateKeyPem, 0));
    const plan = await espfleet(['ota', 'rollout', 'plan', '--station', f.station.stationPath, '--bundle', path, '--select', 'all']);
    expect(plan.code).toBe(1);
    expect(plan.stderr).toMatch(/20 targeted board\(s\) would not accept the bundle's signature .*required signature not verified: sig0/);
    const r = await espfleet([...start(path, good.url, ['--id', 'r-other-key'])]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[fleet.rollout.refused]');
    expect(cmds()).toEqual([]);
  });

  it('a signed 1.1.0 goes out in 3 waves: all 20 committed on 1.1.0, each commanded once, bytes served = bundle size per board; esptool agrees', async () => {
    const b = f.publish('1.1.0');
    const r = await espfleet([...start(b.path, b.url, ['--id', 'r-110']), '--json']);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const rec = JSON.parse(r.stdout) as { state: { status: string; boards: Record<string, { status: string; wave: number }> } };
    expect(rec.state.status).toBe('done');
    const waves = new Set(Object.values(rec.state.boards).map((x) => x.wave));
    expect(waves.size).toBe(3);
    for (const board of f.boards) {
      expect(rec.state.boards[board.deviceId]?.status, board.deviceId).toBe('committed');
      await waitUntil(() => f.lastStatus(board.deviceId)?.fw_version === '1.1.0', `${board.deviceId} on 1.1.0`, 30_000);
      expect(lastOta(board.deviceId)).toMatchObject({ rollout: 'r-110', state: 'committed', version: '1.1.0', running: '1.1.0' });
      expect(board.chip.bootLog()).toMatch(/would run app 'app_1' at 0x[0-9a-f]+, version 1\.1\.0/);
    }
    const once = commandedOnce('1.1.0');
    expect(once.size).toBe(BOARDS);
    expect([...once.values()].every((n) => n === 1)).toBe(true);
    // One download per board, each of exactly the bundle's size.
    const gets = f.access.filter((e) => e.path.endsWith('fw-1.1.0.zip') && e.status === 200);
    expect(gets).toHaveLength(BOARDS);
    for (const g of gets) expect(g.bytes).toBe(b.bytes);
    expect(new Set(gets.map((g) => g.deviceId)).size).toBe(BOARDS);

    // Espressif's tools on one board: otadata names app_1, whose decrypted bytes are the new app.
    const board = f.boards[0]!;
    const key = join(f.dir, 'board0.key');
    const mac = Array.from(board.chip.options.mac, (x) => x.toString(16).padStart(2, '0')).join(':');
    expect((await espfleet(['keystore', 'export', '--keystore', f.station.keystorePath, '--keystore-key-file', f.station.keystoreKeyFile, '--mac', mac, '--out', key])).code).toBe(0);
    const server = new Rfc2217Server(board.chip);
    try {
      const url = await server.listen();
      const read = async (name: string, address: number, size: number) => {
        const enc = join(f.dir, `${name}.enc`);
        const plain = join(f.dir, `${name}.bin`);
        expectOk(await esptool(['--port', url, '--chip', 'esp32', '--after', 'no-reset', 'read-flash', `0x${address.toString(16)}`, `0x${size.toString(16)}`, enc], { timeoutMs: 240_000 }), `esptool read-flash ${name}`);
        expectOk(await espsecure(['decrypt-flash-data', '--keyfile', key, '--address', `0x${address.toString(16)}`, '--output', plain, enc]), `espsecure ${name}`);
        return new Uint8Array(readFileSync(plain));
      };
      expect(parseOtadata(await read('otadata', 0xd000, 0x2000)).bootSlot(2)).toMatchObject({ kind: 'ota', index: 1 });
      const appLen = Math.ceil(b.app.length / 0x1000) * 0x1000;
      expect(Buffer.from((await read('app_1', 0x1d0000, appLen)).subarray(0, b.app.length)).equals(Buffer.from(b.app))).toBe(true);
    } finally {
      await server.close();
    }
    // esptool left the board in its ROM loader: reset it into its app, as a technician would.
    const n = f.seen.length;
    await hardReset(board.chip);
    await waitUntil(() => f.seen.slice(n).some((m) => m.topic === `devices/${board.deviceId}/status` && m.payload.includes('"online":true')), 'board 0 back online after esptool', 30_000);
  }, 600_000);

  it('firmware that fails its health check: the first wave reverts on every board, the rollout aborts by itself, later waves are never commanded', async () => {
    // 1.2.0 reboots before its agent ever runs: uncommitted, it boots back into 1.1.0.
    const crash = new TextEncoder().encode("load('api_sys.js');\nprint('1.2.0: crashing before the agent starts');\nSys.reboot(300);\n");
    const b = f.publish('1.2.0', { fsFiles: { 'init.js': crash } });
    const r = await espfleet([...start(b.path, b.url, ['--id', 'r-120']), '--json']);
    expect(r.code).toBe(1);
    const rec = JSON.parse(r.stdout) as { state: { status: string; abortReason?: string; boards: Record<string, { status: string; wave: number }> } };
    expect(rec.state.status).toBe('aborted');
    expect(rec.state.abortReason).toMatch(/fail/);
    const wave0 = Object.values(rec.state.boards).filter((x) => x.wave === 0);
    expect(wave0).toHaveLength(2);
    expect(wave0.every((x) => x.status === 'reverted')).toBe(true);
    const commanded = commandedOnce('1.2.0');
    expect(commanded.size).toBe(2);
    for (const id of commanded.keys()) {
      expect(rec.state.boards[id]?.wave).toBe(0);
      await waitUntil(() => lastOta(id)?.state === 'reverted', `${id} reported reverted`, 60_000);
      expect(lastOta(id)).toMatchObject({ rollout: 'r-120', version: '1.2.0', running: '1.1.0' });
      expect(f.lastStatus(id)?.fw_version).toBe('1.1.0');
    }
  }, 600_000);

  it('the driver killed mid-wave and resumed: same final state, no board commanded twice', async () => {
    const b = f.publish('1.3.0');
    const child = spawnCli(start(b.path, b.url, ['--id', 'r-130']));
    const stderr = () => child.stderr() + child.lines.join('\n');
    // Mid-wave: the first wave done and some of the second commanded.
    await waitUntil(() => cmds('1.3.0').length >= 4, `a few commands of 1.3.0 (driver: ${stderr().slice(-800)})`, 120_000);
    child.child.kill('SIGKILL');
    await child.exited;
    const before = cmds('1.3.0').length;
    expect(before).toBeLessThan(BOARDS);
    const r = await espfleet(['ota', 'rollout', 'resume', '--station', f.station.stationPath, '--id', 'r-130', ...brokerArgs, '--json']);
    const story = () => {
      const lines = (stderr() + r.stderr).split('\n').filter((l) => !l.startsWith('still working'));
      const late = f.boards.filter((x) => f.lastStatus(x.deviceId)?.fw_version !== '1.3.0');
      return [...lines, ...late.map((x) => `${x.deviceId}: ${JSON.stringify(f.otaStatuses(x.deviceId).slice(-4))} cmds ${JSON.stringify(cmds('1.3.0').filter((c) => c.device === x.deviceId))}\n${x.chip.bootLog().slice(-1500)}`)].join('\n');
    };
    expect(r.code, story()).toBe(0);
    const rec = JSON.parse(r.stdout) as { state: { status: string; boards: Record<string, { status: string }> } };
    expect(rec.state.status).toBe('done');
    for (const board of f.boards) expect(rec.state.boards[board.deviceId]?.status, board.deviceId).toBe('committed');
    const once = commandedOnce('1.3.0');
    expect(once.size).toBe(BOARDS);
    expect([...once.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    const audit = readFileSync(join(f.dir, 'audit.jsonl'), 'utf8');
    expect(audit).toContain('"rollout":"r-130"');
    expect(audit).toContain('operator:rollout');
  }, 600_000);
});
