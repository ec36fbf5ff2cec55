// A fleet CA, the generated hardened mosquitto profile (mTLS, ACL) and a real mosquitto for
// tests of boards that talk MQTT; plus an operator client to watch and command boards.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { initCa, issueClientCert, issueDeviceCert, writeBrokerProfile, type Ca, type ClientRole, type IssuedWithKey } from '../../../certs/index.ts';
import { connectClient, freePort, startMosquitto, type Broker } from '../../../certs/test/mosquitto-harness.ts';

export interface FleetBroker {
  ca: Ca;
  dir: string;
  port: number;
  /** The CA chain boards and clients trust (ca.pem on a board). */
  caPem: string;
  /** Replaceable: a test that restarts mosquitto puts the new one here. */
  broker: Broker;
  /** `127.0.0.1:<port>` for mqtt.server. */
  server: string;
  device(cn: string): Promise<IssuedWithKey>;
  /** Operator client `n` (0..2; reads devices/#, writes devices/+/cmd/#). */
  operator(n?: number): Promise<MqttClient>;
  /** The extra identities asked for with `clients` (in the ACL), by CN `role:name`. */
  clients: ReadonlyMap<string, IssuedWithKey & { cn: string }>;
  stop(): Promise<void>;
}

/**
 * With `ca`, the broker trusts that CA (e.g. the one a station issues from); else a new one.
 * `clients` are issued before the profile is written, so the ACL lists them (a process
 * under test, e.g. a rollout driver or the renewal service, gets its own identity).
 */
export async function startFleetBroker(opts: { ca?: Ca; clients?: ReadonlyArray<{ role: ClientRole; name: string }> } = {}): Promise<FleetBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'espfleet-fleet-broker-'));
  const ca = opts.ca ?? (await initCa({ dir: join(dir, 'ca'), passphrase: `test-${Math.random().toString(36).slice(2)}-${Date.now()}` }));
  // One name per client: the profile makes the CN the client id, so a second session would evict the first.
  const operators = await Promise.all([0, 1, 2].map((n) => issueClientCert(ca, { role: 'operator', name: `tester${n}` })));
  const clients = new Map((await Promise.all((opts.clients ?? []).map((c) => issueClientCert(ca, c)))).map((c) => [c.cn, c]));
  const port = await freePort();
  const profile = await writeBrokerProfile(ca, {
    outDir: join(dir, 'broker'),
    host: 'localhost',
    ip: ['127.0.0.1'],
    port,
    bindAddress: '127.0.0.1',
    ...(process.getuid?.() === 0 ? { user: 'root' } : {}),
  });
  const caPem = readFileSync(profile.paths.cafile, 'utf8');
  const broker = await startMosquitto(profile.confPath);
  const connected: MqttClient[] = [];
  const fleet: FleetBroker = {
    ca,
    dir,
    port,
    caPem,
    broker,
    server: `127.0.0.1:${port}`,
    device: (cn) => issueDeviceCert(ca, { cn }),
    clients,
    async operator(n = 0) {
      const cert = operators[n];
      if (!cert) throw new Error(`no operator ${n}`);
      const c = await connectClient(port, caPem, { cert: cert.chainPem, key: cert.privateKeyPem });
      connected.push(c);
      return c;
    },
    async stop() {
      await Promise.all(connected.map((c) => c.endAsync(true).catch(() => undefined)));
      await fleet.broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return fleet;
}
