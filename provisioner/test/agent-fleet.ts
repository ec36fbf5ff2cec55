// A fleet on one machine for the OTA and rollout acceptance tests: a station provisions N
// virtual boards (its CA made first, so the real mosquitto with the generated profile trusts
// it), each board runs the Mongoose OS double with the real agent, and an HTTPS firmware
// server (`ota serve`'s) with a certificate from the same CA serves signed bundles.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { initCa, issueServerCert, type Ca } from '../../certs/index.ts';
import { recorder, waitUntil } from '../../certs/test/mosquitto-harness.ts';
import { signBundle } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { VirtualEsp32, registerSimBoard } from '../../hil-tests/index.ts';
import type { Network } from '../../hil-tests/virtual-esp32/firmware-host.ts';
import { startFleetBroker, type FleetBroker } from '../../hil-tests/test/helpers/fleet-broker.ts';
import { hardReset } from '../../hil-tests/test/helpers/firmware-set.ts';
import { agentFsFiles } from '../../agent/agent-files.ts';
import { agentFirmware } from '../../agent/test/agent-firmware.ts';
import { startFirmwareServer, type AccessLogEntry, type FirmwareServer } from '../fleet/firmware-server.ts';
import { espfleet } from './cli-harness.ts';
import { writeStationFixture, type StationFixture } from './station-fixture.ts';

export interface FleetBoardUnderTest {
  chip: VirtualEsp32;
  url: string;
  deviceId: string;
}

export interface AgentFleet {
  dir: string;
  ca: Ca;
  broker: FleetBroker;
  station: StationFixture;
  boards: FleetBoardUnderTest[];
  /** An operator client subscribed to devices/#, and everything it saw. */
  watcher: MqttClient;
  seen: Array<{ topic: string; payload: string }>;
  server: FirmwareServer;
  access: AccessLogEntry[];
  /** Writes a bundle signed with the station's key into the served directory; returns its path and URL. */
  publish(version: string, opts?: { fsFiles?: Record<string, Uint8Array>; appSize?: number; unsigned?: boolean; name?: string }): { path: string; url: string; bytes: number; app: Uint8Array; fs: Uint8Array };
  /** Writes operator `name`'s certificate, key and the broker CA into the fleet's directory; returns the broker client flags. */
  operatorFlags(name: string): string[];
  /** The last retained status of a board, parsed. */
  lastStatus(deviceId: string): Record<string, unknown> | undefined;
  otaStatuses(deviceId: string): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

export const OTA_HOST = 'localhost';

/** The fleet's HTTPS firmware server on <dir>/bundles, with a certificate from `ca` for OTA_HOST; every request logged. */
export async function startBundleServer(dir: string, ca: Ca): Promise<{ bundlesDir: string; server: FirmwareServer; access: AccessLogEntry[] }> {
  const bundlesDir = join(dir, 'bundles');
  mkdirSync(bundlesDir);
  const serverCert = await issueServerCert(ca, { dns: [OTA_HOST], ip: ['127.0.0.1'] });
  const access: AccessLogEntry[] = [];
  const server = await startFirmwareServer({ bundlesDir, certPem: serverCert.chainPem, keyPem: serverCert.privateKeyPem, host: OTA_HOST, port: 0, log: (e) => access.push(e) });
  return { bundlesDir, server, access };
}

export interface AgentFleetOptions {
  name: string;
  boards: number;
  encryption?: 'off' | 'development';
  /** Operator identities (CN operator:<name>) and renewer identities (renewer:<name>) in the broker's ACL. */
  operators?: string[];
  renewers?: string[];
  /** More [agent.*] TOML for every board's conf9.json. */
  agentSettingsToml?: string;
  /** Board i's TCP stack (default: the host's), e.g. one a fault test can reset. */
  network?: (index: number) => Network;
  /** Runs after provisioning, before any board boots its firmware (e.g. start a service boards need at once). */
  beforeBoot?: (f: { dir: string; broker: FleetBroker; station: StationFixture; boards: readonly FleetBoardUnderTest[]; watcher: MqttClient }) => Promise<void>;
}

export async function startAgentFleet(opts: AgentFleetOptions): Promise<AgentFleet> {
  const dir = mkdtempSync(join(tmpdir(), `espfleet-${opts.name}-`));
  const caPassphrase = randomBytes(24).toString('base64');
  const ca = await initCa({ dir: join(dir, 'ca'), passphrase: caPassphrase });
  const broker = await startFleetBroker({ ca, clients: [...(opts.operators ?? []).map((name) => ({ role: 'operator' as const, name })), ...(opts.renewers ?? []).map((name) => ({ role: 'renewer' as const, name }))] });
  const unregister: Array<() => void> = [];
  const boards: FleetBoardUnderTest[] = [];
  for (let i = 0; i < opts.boards; i++) {
    const network = opts.network?.(i);
    const chip = new VirtualEsp32({ name: `${opts.name}-${i}-${process.pid}`, ...(network ? { network } : {}) });
    chip.powerOn();
    unregister.push(registerSimBoard(chip.options.name, chip));
    boards.push({ chip, url: `sim://${chip.options.name}`, deviceId: '' });
  }
  const v1 = makeDemoFirmware({ name: 'espfleet-agent', version: '1.0.0', appSize: 0x18000, fsFiles: agentFsFiles() });
  const station = await writeStationFixture(dir, {
    id: opts.name,
    caPassphrase,
    firmware: { bundle: v1.bundle },
    mqttServer: broker.server,
    encryption: opts.encryption ?? 'development',
    ports: boards.map((b) => b.url),
    extraToml: `[agent.espfleet.ota]\nallowed_hosts = "${OTA_HOST}"\n${opts.agentSettingsToml ?? ''}`,
  });
  // A station has a handful of ports: provision in batches of 20, as several runs of one would.
  const rows: Array<{ port: string; result: string; deviceId: string }> = [];
  for (let i = 0; i < boards.length; i += 20) {
    const ports = boards.slice(i, i + 20).flatMap((b) => ['--port', b.url]);
    const prov = await espfleet(['provision', '--station', station.stationPath, ...ports, '--json', '--quiet']);
    // No vitest here: the rollout benchmark builds its fleet with this too.
    if (prov.code !== 0) throw new Error(`provisioning failed: ${prov.stderr.slice(-3000)}`);
    rows.push(...(JSON.parse(prov.stdout) as typeof rows));
  }
  for (const b of boards) {
    const row = rows.find((r) => r.port === b.url);
    if (row?.result !== 'provisioned') throw new Error(`${b.url} not provisioned: ${JSON.stringify(row)}`);
    b.deviceId = row.deviceId;
  }

  const watcher = await broker.operator(2);
  const seen = recorder(watcher);
  await watcher.subscribeAsync('devices/#', { qos: 1 });
  const lastStatus = (id: string) => {
    const m = seen.filter((x) => x.topic === `devices/${id}/status`).at(-1);
    return m ? (JSON.parse(m.payload) as Record<string, unknown>) : undefined;
  };
  await opts.beforeBoot?.({ dir, broker, station, boards, watcher });
  for (const b of boards) {
    b.chip.attachFirmware(agentFirmware());
    await hardReset(b.chip);
  }
  await waitUntil(() => boards.every((b) => lastStatus(b.deviceId)?.fw_version === '1.0.0'), 'every board online on 1.0.0', 60_000);

  const { bundlesDir, server, access } = await startBundleServer(dir, ca);

  return {
    dir,
    ca,
    broker,
    station,
    boards,
    watcher,
    seen,
    server,
    access,
    publish(version, p = {}) {
      const fw = makeDemoFirmware({ name: p.name ?? 'espfleet-agent', version, appSize: p.appSize ?? 0x18000, fsFiles: p.fsFiles ?? agentFsFiles(), seed: version.length * 7 + version.charCodeAt(version.length - 1) });
      const bytes = p.unsigned ? fw.bundle : signBundle(fw.bundle, station.signer.privateKeyPem, 0);
      const file = `fw-${version}${p.unsigned ? '-unsigned' : ''}.zip`;
      const path = join(bundlesDir, file);
      writeFileSync(path, bytes);
      return { path, url: `https://${OTA_HOST}:${server.port}/${file}`, bytes: bytes.length, app: fw.parts.app, fs: fw.parts.fs };
    },
    operatorFlags(name) {
      const op = broker.clients.get(`operator:${name}`);
      if (!op) throw new Error(`no operator:${name} in the broker's ACL (startAgentFleet operators)`);
      writeFileSync(join(dir, `${name}.pem`), op.chainPem);
      writeFileSync(join(dir, `${name}.key`), op.privateKeyPem, { mode: 0o600 });
      writeFileSync(join(dir, 'broker-ca.pem'), broker.caPem);
      return ['--broker', `mqtts://127.0.0.1:${broker.port}`, '--client-cert', join(dir, `${name}.pem`), '--client-key', join(dir, `${name}.key`), '--broker-ca', join(dir, 'broker-ca.pem')];
    },
    lastStatus,
    otaStatuses: (id) => seen.filter((x) => x.topic === `devices/${id}/ota/status`).map((x) => JSON.parse(x.payload) as Record<string, unknown>),
    async stop() {
      for (const b of boards) b.chip.powerOff();
      for (const u of unregister) u();
      await server.stop();
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
