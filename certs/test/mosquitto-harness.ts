// Runs a real mosquitto (the broker oracle) on a free loopback port for a test,
// and MQTT clients that report how a connection attempt ended.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { oracleAvailable, oraclePath } from '../../scripts/lib/oracles.ts';

export const MOSQUITTO = oraclePath('mosquitto') ?? '/usr/sbin/mosquitto';
/** Locally false without mosquitto (tests skip); with CI=true a missing broker throws. */
export const mosquittoAvailable = (): boolean => oracleAvailable('mosquitto');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface Broker {
  pid: number;
  log(): string;
  /** Sends SIGHUP (reload) and waits for mosquitto to log it. */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

export async function startMosquitto(confPath: string, timeoutMs = 10_000): Promise<Broker> {
  const child: ChildProcess = spawn(MOSQUITTO, ['-c', confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const onData = (b: Buffer) => (log += b.toString('utf8'));
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const waitFor = (re: RegExp, what: string, from = 0) =>
    new Promise<void>((resolve, reject) => {
      const started = Date.now();
      const tick = setInterval(() => {
        if (re.test(log.slice(from))) {
          clearInterval(tick);
          resolve();
        } else if (child.exitCode !== null || Date.now() - started > timeoutMs) {
          clearInterval(tick);
          reject(new Error(`mosquitto did not ${what} (exit ${child.exitCode}):\n${log}`));
        }
      }, 20);
    });
  try {
    await waitFor(/mosquitto version [\d.]+ running/, 'start');
  } catch (e) {
    // Never leave a half-started broker behind.
    child.kill('SIGKILL');
    throw e;
  }
  const pid = child.pid ?? -1;
  return {
    pid,
    log: () => log,
    async reload() {
      const from = log.length;
      process.kill(pid, 'SIGHUP');
      await waitFor(/Reloading config/, 'reload', from);
      // The reload log line comes before the listeners' TLS contexts are rebuilt.
      await new Promise((r) => setTimeout(r, 200));
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** mqtt.js passes TLS options through to tls.connect, though its type omits them. */
export type ClientOptions = IClientOptions & Pick<ConnectionOptions, 'minVersion' | 'maxVersion' | 'ciphers'>;

export interface Identity {
  cert?: string;
  key?: string;
}

/** Connects and resolves with the client, or rejects with why the broker refused. */
export function connectClient(port: number, ca: string, id: Identity, extra: ClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = connect({
      host: '127.0.0.1',
      port,
      protocol: 'mqtts',
      ca,
      ...(id.cert ? { cert: id.cert } : {}),
      ...(id.key ? { key: id.key } : {}),
      rejectUnauthorized: true,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      clientId: `t-${Math.random().toString(36).slice(2, 10)}`,
      ...extra,
    });
    const fail = (why: string) => {
      client.end(true);
      reject(new Error(why));
    };
    client.once('connect', () => resolve(client));
    client.once('error', (e) => fail(`error: ${e.message}`));
    client.once('close', () => fail('closed before CONNACK'));
  });
}

/** "refused: …" or "connected" — for asserting that a client is kept out. */
export async function connectOutcome(port: number, ca: string, id: Identity, extra: ClientOptions = {}): Promise<string> {
  try {
    const c = await connectClient(port, ca, id, extra);
    await c.endAsync();
    return 'connected';
  } catch (e) {
    return `refused: ${(e as Error).message}`;
  }
}

/** Collects every message a client receives. */
export function recorder(client: MqttClient): Array<{ topic: string; payload: string }> {
  const seen: Array<{ topic: string; payload: string }> = [];
  client.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString() }));
  return seen;
}

/** `what` may be a function: it is asked only on timeout, so a message naming what was seen is fresh. */
export async function waitUntil(cond: () => boolean, what: string | (() => string), timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
