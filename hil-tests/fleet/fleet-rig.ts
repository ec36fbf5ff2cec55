// A headless fleet with everything a rollout needs, for the headless-fleet test and the
// fleet-rollout bench: the station's CA, a real mosquitto with the generated profile, a
// station directory (station-fixture.ts), N boards provisioned by the station's pipeline over
// the direct session, and the HTTPS firmware server with a certificate from the same CA.
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { agentFsFiles } from '../../agent/agent-files.ts';
import { initCa, type Ca } from '../../certs/index.ts';
import { recorder } from '../../certs/test/mosquitto-harness.ts';
import { signBundle } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import type { AccessLogEntry, FirmwareServer } from '../../provisioner/fleet/firmware-server.ts';
import { OTA_HOST, startBundleServer } from '../../provisioner/test/agent-fleet.ts';
import { writeStationFixture, type StationFixture } from '../../provisioner/test/station-fixture.ts';
import { loadStationConfig } from '../../provisioner/station/config.ts';
import { openStation, type OpenStation } from '../../provisioner/station/open-station.ts';
import { startFleetBroker, type FleetBroker } from '../test/helpers/fleet-broker.ts';
import { startHeadlessFleet, type HeadlessFleet, type HeadlessFleetOptions } from './headless-fleet.ts';


export interface FleetRigOptions {
  name: string;
  boards: number;
  /** The station's mode; default development (every board encrypts). */
  encryption?: 'off' | 'development';
  /** Boards provisioned with encryption off whatever the mode (they share sectors). */
  plaintext?: number;
  operators?: string[];
  concurrency?: number;
  onLine?: (line: string) => void;
}

export interface FleetRig {
  dir: string;
  ca: Ca;
  broker: FleetBroker;
  fixture: StationFixture;
  station: OpenStation;
  fleet: HeadlessFleet;
  /** Seconds the provisioning took. */
  provisionSeconds: number;
  watcher: MqttClient;
  seen: Array<{ topic: string; payload: string }>;
  server: FirmwareServer;
  access: AccessLogEntry[];
  publish(version: string, opts?: { appSize?: number }): { path: string; url: string; bytes: number };
  operatorFlags(name: string): string[];
  /**
   * mosquitto's own count of connected clients ($SYS/broker/clients/connected, published every
   * sys_interval): operator client 1 is let read it (an ACL line for the bench), then asked.
   */
  brokerClientsConnected(): Promise<number>;
  lastStatus(deviceId: string): Record<string, unknown> | undefined;
  stop(): Promise<void>;
}

export async function startFleetRig(opts: FleetRigOptions & Pick<HeadlessFleetOptions, 'shareSectors'>): Promise<FleetRig> {
  const dir = mkdtempSync(join(tmpdir(), `espfleet-${opts.name}-`));
  const caPassphrase = randomBytes(24).toString('base64');
  const ca = await initCa({ dir: join(dir, 'ca'), passphrase: caPassphrase });
  const broker = await startFleetBroker({ ca, clients: (opts.operators ?? []).map((name) => ({ role: 'operator' as const, name })) });
  const v1 = makeDemoFirmware({ name: 'espfleet-agent', version: '1.0.0', appSize: 0x18000, fsFiles: agentFsFiles() });
  const fixture = await writeStationFixture(dir, {
    id: opts.name,
    caPassphrase,
    firmware: { bundle: v1.bundle },
    mqttServer: broker.server,
    encryption: opts.encryption ?? 'development',
    extraToml: `[agent.espfleet.ota]\nallowed_hosts = "${OTA_HOST}"\n`,
  });
  const station = await openStation(loadStationConfig(fixture.stationPath), { env: {} });
  const watcher = await broker.operator(2);
  const seen = recorder(watcher);
  await watcher.subscribeAsync('devices/#', { qos: 1 });
  const t0 = Date.now();
  const fleet = await startHeadlessFleet({
    station,
    count: opts.boards,
    ...(opts.plaintext !== undefined ? { plaintext: opts.plaintext } : {}),
    ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
    ...(opts.shareSectors !== undefined ? { shareSectors: opts.shareSectors } : {}),
    ...(opts.onLine ? { onLine: opts.onLine } : {}),
  });
  const provisionSeconds = (Date.now() - t0) / 1000;

  const { bundlesDir, server, access } = await startBundleServer(dir, ca);
  return {
    dir,
    ca,
    broker,
    fixture,
    station,
    fleet,
    provisionSeconds,
    watcher,
    seen,
    server,
    access,
    publish(version, p = {}) {
      const fw = makeDemoFirmware({ name: 'espfleet-agent', version, appSize: p.appSize ?? 0x18000, fsFiles: agentFsFiles(), seed: version.length * 7 + version.charCodeAt(version.length - 1) });
      const bytes = signBundle(fw.bundle, fixture.signer.privateKeyPem, 0);
      const file = `fw-${version}.zip`;
      const path = join(bundlesDir, file);
      writeFileSync(path, bytes);
      return { path, url: `https://${OTA_HOST}:${server.port}/${file}`, bytes: bytes.length };
    },
    operatorFlags(name) {
      const op = broker.clients.get(`operator:${name}`);
      if (!op) throw new Error(`no operator:${name} in the broker's ACL (startFleetRig operators)`);
      writeFileSync(join(dir, `${name}.pem`), op.chainPem);
      writeFileSync(join(dir, `${name}.key`), op.privateKeyPem, { mode: 0o600 });
      writeFileSync(join(dir, 'broker-ca.pem'), broker.caPem);
      return ['--broker', `mqtts://127.0.0.1:${broker.port}`, '--client-cert', join(dir, `${name}.pem`), '--client-key', join(dir, `${name}.key`), '--broker-ca', join(dir, 'broker-ca.pem')];
    },
    async brokerClientsConnected() {
      // mosquitto applies the ACL to $SYS too; the generated profile gives no one these topics.
      appendFileSync(join(broker.dir, 'broker', 'acl'), `\n# fleet rig: the broker's own client counts\nuser operator:tester1\ntopic read $SYS/broker/clients/#\n`);
      await broker.broker.reload();
      const stats = await broker.operator(1);
      try {
        // The retained value may predate this run; the next one is published within sys_interval (10 s).
        const values: number[] = [];
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 12_000);
          stats.on('message', (topic, payload) => {
            values.push(Number(payload.toString()));
            if (values.length >= 2) (clearTimeout(t), resolve());
          });
          void stats.subscribeAsync('$SYS/broker/clients/connected');
        });
        return values.at(-1) ?? NaN;
      } finally {
        await stats.endAsync(true);
      }
    },
    lastStatus(id) {
      const m = seen.filter((x) => x.topic === `devices/${id}/status`).at(-1);
      return m ? (JSON.parse(m.payload) as Record<string, unknown>) : undefined;
    },
    async stop() {
      fleet.stop();
      await server.stop();
      await broker.stop();
      await station.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
