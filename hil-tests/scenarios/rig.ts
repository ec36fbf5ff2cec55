// What a scenario runs against: one board, a station (CA, keystore, signed factory bundle),
// a real mosquitto with the generated profile, an HTTPS firmware server and an operator
// client watching devices/#. The same on both backends; only where the broker listens, the
// bundles and the board differ. One rig serves a whole story list (they run in order).
import { isIP } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { issueClientCert, issueServerCert, writeBrokerProfile, initCa, type Ca, type IssuedWithKey } from '../../certs/index.ts';
import { connectClient, connectOutcome, freePort, recorder, startMosquitto, waitUntil, type Broker, type Identity } from '../../certs/test/mosquitto-harness.ts';
import { readBundle, signBundle } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { agentFsFiles } from '../../agent/agent-files.ts';
import { agentFirmware } from '../../agent/test/agent-firmware.ts';
import { startFirmwareServer, type FirmwareServer } from '../../provisioner/fleet/firmware-server.ts';
import { espfleet, type CliRun } from '../../provisioner/test/cli-harness.ts';
import { writeStationFixture, type StationFixture } from '../../provisioner/test/station-fixture.ts';
import { SerialBoard, VirtualBoard, type Board } from './board.ts';
import type { RealBoardEnv } from './rig-env.ts';

/** The bundles a story asks for: a newer healthy build, one that reboots before its agent runs, and one left unsigned. */
export type BundleKind = 'update' | 'crash' | 'unsigned';

export interface Message {
  topic: string;
  payload: string;
}

export interface Rig {
  readonly kind: 'virtual' | 'real';
  readonly dir: string;
  readonly board: Board;
  readonly station: StationFixture & { passFile: string; dir: string };
  readonly broker: {
    /** host:port the board is given (mqtt.server). */
    server: string;
    port: number;
    caPem: string;
    /** The CRL file mosquitto reads, and its pid file (for `ca revoke --crl-out --broker-pid-file`). */
    crlPath: string;
    pidFile: string;
    log(): string;
    /** `--broker … --broker-ca …` for operator commands. */
    brokerArgs: string[];
    renewer: IssuedWithKey & { cn: string };
    connectOutcome(id: Identity): Promise<string>;
    /** What a client subscribing now gets on `topic`: the retained message, flagged as such. */
    retained(topic: string): Promise<(Message & { retain: boolean }) | undefined>;
  };
  /** The operator client subscribed to devices/#, and everything it saw. */
  readonly watcher: MqttClient;
  readonly seen: Message[];
  /** Signs (unless `unsigned`) and serves a bundle; its version and the URL the board fetches. */
  publish(kind: BundleKind): { version: string; url: string };
  /** The CLI, in-process, with the board's port free for it. */
  cli(args: readonly string[]): Promise<CliRun>;
  /** What the stories learn as they go (the device id after provisioning, …). */
  readonly facts: { deviceId: string };
  stop(): Promise<void>;
}

interface RigShape {
  kind: 'virtual' | 'real';
  board: Board;
  /** The address the board reaches the broker on, and where mosquitto binds. */
  brokerHost: string;
  brokerPort?: number;
  ota: { host: string; port: number };
  bundles: { factory: Uint8Array } & Record<BundleKind, Uint8Array>;
  agentToml: string;
  /** Flash encryption at provisioning; it burns eFuses, so a real board gets it only when asked. */
  encryption: 'off' | 'development';
}

/** Starts the rig's parts; whatever started is stopped again (last first) when a later part fails, or at `stop()`. */
async function startRig(dir: string, shape: RigShape): Promise<Rig> {
  const undo: Array<() => Promise<unknown>> = [async () => rmSync(dir, { recursive: true, force: true }), () => shape.board.close()];
  const unwind = async () => {
    for (const u of undo.splice(0).reverse()) await u().catch(() => undefined);
  };
  try {
    return await assembleRig(dir, shape, undo, unwind);
  } catch (e) {
    await unwind();
    throw e;
  }
}

async function assembleRig(dir: string, shape: RigShape, undo: Array<() => Promise<unknown>>, unwind: () => Promise<void>): Promise<Rig> {
  const passphrase = `hil-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  const ca: Ca = await initCa({ dir: join(dir, 'ca'), passphrase });
  const ip = isIP(shape.brokerHost) ? [shape.brokerHost] : ['127.0.0.1'];
  const operator = await issueClientCert(ca, { role: 'operator', name: 'hil-watcher' });
  const probe = await issueClientCert(ca, { role: 'operator', name: 'hil-probe' });
  const renewer = await issueClientCert(ca, { role: 'renewer', name: 'hil-renewd' });
  const port = shape.brokerPort ?? (await freePort());
  const profile = await writeBrokerProfile(ca, {
    outDir: join(dir, 'broker'),
    host: isIP(shape.brokerHost) ? 'localhost' : shape.brokerHost,
    ip,
    port,
    bindAddress: shape.brokerHost,
    ...(process.getuid?.() === 0 ? { user: 'root' } : {}),
  });
  const caPem = readFileSync(profile.paths.cafile, 'utf8');
  const broker: Broker = await startMosquitto(profile.confPath);
  undo.push(() => broker.stop());
  const pidFile = join(dir, 'mosquitto.pid');
  writeFileSync(pidFile, `${broker.pid}\n`);
  writeFileSync(join(dir, 'broker-ca.pem'), caPem);
  const connectHost = shape.brokerHost === '0.0.0.0' ? '127.0.0.1' : shape.brokerHost;
  const connect = (id: Identity) => connectClient(port, caPem, id, { host: connectHost });
  const watcher = await connect({ cert: operator.chainPem, key: operator.privateKeyPem });
  undo.push(() => watcher.endAsync(true));
  const seen = recorder(watcher);
  await watcher.subscribeAsync('devices/#', { qos: 1 });

  const station = await writeStationFixture(dir, {
    id: `hil-${shape.kind}`,
    caPassphrase: passphrase,
    firmware: { bundle: shape.bundles.factory },
    mqttServer: `${shape.brokerHost}:${port}`,
    encryption: shape.encryption,
    ports: [shape.board.portUrl],
    extraToml: `[agent.espfleet.ota]\nallowed_hosts = "${shape.ota.host}"\n${shape.agentToml}`,
  });

  const bundlesDir = join(dir, 'bundles');
  mkdirSync(bundlesDir);
  const serverCert = await issueServerCert(ca, isIP(shape.ota.host) ? { dns: ['localhost'], ip: [shape.ota.host] } : { dns: [shape.ota.host], ip: ['127.0.0.1'] });
  const server: FirmwareServer = await startFirmwareServer({ bundlesDir, certPem: serverCert.chainPem, keyPem: serverCert.privateKeyPem, host: shape.ota.host, port: shape.ota.port });
  undo.push(() => server.stop());

  return {
    kind: shape.kind,
    dir,
    board: shape.board,
    station: { ...station, passFile: join(dir, 'ca.pass'), dir },
    broker: {
      server: `${shape.brokerHost}:${port}`,
      port,
      caPem,
      crlPath: join(dir, 'broker', 'crl.pem'),
      pidFile,
      log: () => broker.log(),
      brokerArgs: ['--broker', `mqtts://${connectHost}:${port}`, '--broker-ca', join(dir, 'broker-ca.pem')],
      renewer,
      connectOutcome: (id) => connectOutcome(port, caPem, id, { host: connectHost }),
      async retained(topic) {
        const c = await connect({ cert: probe.chainPem, key: probe.privateKeyPem });
        try {
          const got: Array<Message & { retain: boolean }> = [];
          c.on('message', (t, payload, packet) => got.push({ topic: t, payload: payload.toString(), retain: packet.retain }));
          await c.subscribeAsync(topic, { qos: 1 });
          // The broker sends a retained message right after the SUBACK; none within 5 s means there is none.
          await waitUntil(() => got.length > 0, `a retained message on ${topic}`, 5000).catch(() => undefined);
          return got[0];
        } finally {
          await c.endAsync(true).catch(() => undefined);
        }
      },
    },
    watcher,
    seen,
    publish(kind) {
      const raw = shape.bundles[kind];
      const version = readBundle(raw).manifest.version;
      const file = `fw-${version}-${kind}.zip`;
      writeFileSync(join(bundlesDir, file), kind === 'unsigned' ? raw : signBundle(raw, station.signer.privateKeyPem, 0));
      return { version, url: `https://${shape.ota.host}:${server.port}/${file}` };
    },
    cli: (args) => shape.board.withPort(() => espfleet(args)),
    facts: { deviceId: '' },
    stop: unwind,
  };
}

const encode = (s: string) => new TextEncoder().encode(s);

/** The virtual ESP32 running the Mongoose OS double with the real agent; everything on 127.0.0.1. */
export async function startVirtualRig(opts: { name: string; logDir: string }): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), `espfleet-hil-${opts.name}-`));
  const build = (version: string, fsFiles = agentFsFiles()) => makeDemoFirmware({ name: 'espfleet-agent', version, appSize: 0x18000, fsFiles }).bundle;
  // Reboots before its agent ever runs: never committed, so the firmware goes back by itself.
  const crash = { ...agentFsFiles(), 'init.js': encode("load('api_sys.js');\nprint('1.2.0: crashing before the agent starts');\nSys.reboot(300);\n") };
  const board = new VirtualBoard({ name: `${opts.name}-${process.pid}`, logDir: opts.logDir, firmware: () => agentFirmware() });
  return startRig(dir, {
    kind: 'virtual',
    board,
    brokerHost: '127.0.0.1',
    ota: { host: 'localhost', port: 0 },
    bundles: { factory: build('1.0.0'), update: build('1.1.0'), crash: build('1.2.0', crash), unsigned: build('1.3.0') },
    agentToml: '',
    encryption: 'development',
  });
}

/** A real ESP32 on a serial port; the broker and the firmware server on this machine's LAN address (docs/hil.md). */
export async function startRealRig(env: RealBoardEnv, opts: { logDir: string }): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'espfleet-hil-real-'));
  const [brokerHost, brokerPort] = env.broker.split(/:(?=\d+$)/);
  const ota = new URL(env.otaUrl);
  const read = (name: string) => new Uint8Array(readFileSync(join(env.firmwareDir, name)));
  const bundles = { factory: read('factory.zip'), update: read('update.zip'), crash: read('crash.zip'), unsigned: read('unsigned.zip') };
  // The stories name these versions (what the board boots, commits, reverts to).
  const want = { factory: '1.0.0', update: '1.1.0', crash: '1.2.0', unsigned: '1.3.0' } as const;
  for (const [kind, version] of Object.entries(want) as Array<[keyof typeof want, string]>) {
    const got = readBundle(bundles[kind]).manifest.version;
    if (got !== version) throw new Error(`${join(env.firmwareDir, `${kind}.zip`)} is version ${got}; the stories need ${version} (docs/hil.md, "The bundles")`);
  }
  const board = new SerialBoard(env.port, opts.logDir);
  return startRig(dir, {
    kind: 'real',
    board,
    brokerHost: brokerHost!,
    ...(brokerPort ? { brokerPort: Number(brokerPort) } : {}),
    ota: { host: ota.hostname, port: Number(ota.port || 443) },
    bundles,
    agentToml: `[agent.wifi.sta]\nenable = true\nssid = ${JSON.stringify(env.wifi.ssid)}\npass = ${JSON.stringify(env.wifi.pass)}\n`,
    encryption: env.encryption,
  });
}
