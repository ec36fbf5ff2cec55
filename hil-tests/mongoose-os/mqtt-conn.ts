// The Mongoose OS double's MQTT client (spec mongoose-os.md §4.2 keys, §5.2 MQTT API): a real
// MQTT 3.1.1 client (mqtt.js) over the firmware host's connect() with TLS on top, the TLS files
// named by mqtt.ssl_* read from the board's own FS, and reconnect back-off on the host clock.
// Everything it holds (socket, keepalive and back-off timers) goes when the firmware stops.
import { isIP } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { MqttClient, type IClientOptions } from 'mqtt';
import type { FirmwareHost } from '../virtual-esp32/firmware-host.ts';
import { lookup, type ConfigStore } from './config-store.ts';
import type { RootFs } from './root-fs.ts';

/** Mongoose (6.x) event numbers the §5.2 API exposes. */
export const MG_EV = { CLOSE: 5, CONNACK: 202, PUBLISH: 203, PUBACK: 204, SUBACK: 209, UNSUBACK: 211 } as const;

/**
 * The ESP32 build's default list is AES-128 only over TLS 1.2 (§4.2); the double offers the
 * same ECDHE ones so a broker that only has AES-256 suites fails here as it would on a board.
 */
export const ESP32_TLS_CIPHERS = ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES128-SHA256', 'ECDHE-RSA-AES128-SHA256'].join(':');

export interface MqttConnListener {
  /** A Mongoose event for the global handlers (CONNACK after subscribing, CLOSE, PUBACK). */
  event(ev: number): void;
  /** A message on a subscribed topic: the handlers whose filter matches. */
  message(topic: string, payload: Uint8Array): void;
}

interface Settings {
  host: string;
  port: number;
  tls: boolean;
  options: IClientOptions;
  tlsOptions: ConnectionOptions;
  backoffMin: number;
  backoffMax: number;
}

/** One global connection, as `mgos_mqtt` keeps (mqtt1.* backup brokers are not modelled). */
export class MgosMqtt {
  private client: MqttClient | undefined;
  private connected = false;
  private stopped = false;
  private retryTimer: number | undefined;
  private backoffMs = 0;
  private nextId = 0;
  private readonly subs: Array<{ filter: string; qos: 0 | 1 | 2 }> = [];
  /** Connection attempts made (tests count back-off steps by it). */
  attempts = 0;

  constructor(
    private readonly host: FirmwareHost,
    private readonly fs: RootFs,
    private readonly config: ConfigStore,
    private readonly log: (line: string) => void,
    private readonly listener: MqttConnListener,
  ) {
    host.onStop(() => this.stop());
    host.own({ dispose: () => this.stop() });
  }

  /** Network up: the first attempt, when mqtt.enable is set. Config is read on every attempt. */
  start(): void {
    if (this.stopped || this.client || this.retryTimer !== undefined) return;
    if (this.cfg('mqtt.enable') !== true) {
      this.log('mgos_mqtt_init       MQTT disabled');
      return;
    }
    this.attempt();
  }

  isConnected(): boolean {
    return this.connected;
  }

  /** mgos_mqtt_pub: 0 when not connected, else a packet id (> 0). */
  pub(topic: string, payload: Uint8Array, qos: number, retain: boolean): number {
    const client = this.client;
    if (!client || !this.connected) return 0;
    const q = clampQos(qos, this.maxQos());
    client.publish(topic, Buffer.from(payload), { qos: q, retain }, (err) => {
      if (!err && q > 0 && !this.stopped && this.client === client) this.listener.event(MG_EV.PUBACK);
    });
    this.nextId = (this.nextId % 65535) + 1;
    return this.nextId;
  }

  /** mgos_mqtt_sub: kept for every later connection; subscribed at once when connected. */
  sub(filter: string, qos: number): void {
    const q = clampQos(qos, this.maxQos());
    this.subs.push({ filter, qos: q });
    if (this.client && this.connected) this.client.subscribe(filter, { qos: q });
  }

  private cfg(path: string): unknown {
    return lookup(this.config.get(), path);
  }

  private maxQos(): number {
    const q = this.cfg('mqtt.max_qos');
    return typeof q === 'number' ? q : 2;
  }

  private settings(): Settings {
    const str = (k: string): string => {
      const v = this.cfg(k);
      return typeof v === 'string' ? v : '';
    };
    const num = (k: string, d: number): number => {
      const v = this.cfg(k);
      return typeof v === 'number' ? v : d;
    };
    const server = str('mqtt.server');
    const certFile = str('mqtt.ssl_cert');
    const keyFile = str('mqtt.ssl_key') || certFile; // only ssl_cert set: it is also the key file (§4.2)
    const caFile = str('mqtt.ssl_ca_cert');
    const tls = certFile !== '' || caFile !== '' || str('mqtt.ssl_psk_identity') !== '';
    const [host, portText] = splitServer(server);
    const port = portText === undefined ? (caFile !== '' ? 8883 : 1883) : Number(portText);
    const tlsOptions: ConnectionOptions = { host, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: str('mqtt.ssl_cipher_suites') ? mbedToOpenssl(str('mqtt.ssl_cipher_suites')) : ESP32_TLS_CIPHERS };
    if (!isIP(host)) tlsOptions.servername = host; // SNI is the host part of mqtt.server
    if (certFile) tlsOptions.cert = this.readFile(certFile);
    if (certFile) tlsOptions.key = this.readFile(keyFile);
    if (caFile === '*') tlsOptions.rejectUnauthorized = false; // "*": TLS without verification
    else if (caFile) tlsOptions.ca = this.readFile(caFile);
    else tlsOptions.rejectUnauthorized = false; // a client cert but no CA: mbedTLS does not verify the server
    const willTopic = str('mqtt.will_topic');
    const user = str('mqtt.user');
    const pass = str('mqtt.pass');
    const options: IClientOptions = {
      protocolVersion: 4,
      clientId: str('mqtt.client_id') || str('device.id'),
      keepalive: num('mqtt.keep_alive', 60),
      clean: this.cfg('mqtt.clean_session') !== false,
      reconnectPeriod: 0, // reconnects are ours, on the host clock
      connectTimeout: 30_000,
      resubscribe: false,
      // Keepalive pings run on the host clock: a ManualClock board pings when the test moves time.
      timerVariant: { set: ((cb: () => void, ms: number) => this.host.setInterval(cb, ms)) as never, clear: ((id: number) => this.host.clearTimer(id)) as never },
      ...(user ? { username: user } : {}),
      ...(pass ? { password: pass } : {}),
      ...(willTopic ? { will: { topic: willTopic, payload: Buffer.from(str('mqtt.will_message'), 'utf8'), qos: 0 as const, retain: this.cfg('mqtt.will_retain') === true } } : {}),
    };
    return { host, port, tls, options, tlsOptions, backoffMin: num('mqtt.reconnect_timeout_min', 2) * 1000, backoffMax: num('mqtt.reconnect_timeout_max', 60) * 1000 };
  }

  private readFile(name: string): Buffer {
    const path = name.replace(/^\/+/, '');
    if (!this.fs.exists(path)) throw new Error(`${name}: no such file`);
    return Buffer.from(this.fs.read(path));
  }

  private attempt(): void {
    this.retryTimer = undefined;
    if (this.stopped) return;
    this.attempts++;
    let s: Settings;
    try {
      s = this.settings();
    } catch (e) {
      this.log(`mgos_mqtt_global_con MQTT connect failed: ${(e as Error).message}`);
      return this.retry(this.backoffMin());
    }
    this.log(`mgos_mqtt_global_con MQTT connecting to ${s.host}:${s.port}`);
    let client: MqttClient;
    try {
      client = new MqttClient(() => {
        const tcp = this.host.connect({ host: s.host, port: s.port });
        return (s.tls ? tlsConnect({ ...s.tlsOptions, socket: tcp }) : tcp) as never;
      }, s.options);
    } catch (e) {
      this.log(`mgos_mqtt_global_con MQTT connect failed: ${(e as Error).message}`);
      return this.retry(s.backoffMin);
    }
    this.client = client;
    client.on('error', (e) => this.log(`mgos_mqtt_ev         MQTT error: ${e.message}`));
    client.on('connect', () => {
      if (this.stopped || this.client !== client) return;
      this.connected = true;
      this.backoffMs = 0;
      this.log(`mgos_mqtt_ev         MQTT CONNACK 0`);
      for (const { filter, qos } of this.subs) client.subscribe(filter, { qos });
      this.listener.event(MG_EV.CONNACK);
    });
    client.on('message', (topic, payload) => {
      if (this.stopped || this.client !== client) return;
      this.listener.message(topic, new Uint8Array(payload));
    });
    client.on('close', () => {
      if (this.client !== client) return;
      const was = this.connected;
      this.connected = false;
      this.client = undefined;
      client.removeAllListeners('close');
      client.end(true);
      if (this.stopped) return;
      this.log(`mgos_mqtt_ev         MQTT Disconnect`);
      if (was) this.listener.event(MG_EV.CLOSE);
      this.retry(s.backoffMin, s.backoffMax);
    });
  }

  private backoffMin(): number {
    const v = this.cfg('mqtt.reconnect_timeout_min');
    return (typeof v === 'number' ? v : 2) * 1000;
  }

  /** Back-off: min after a drop, doubling per failed attempt up to max; CONNACK resets it. */
  private retry(min: number, max = min): void {
    if (this.stopped) return;
    this.backoffMs = this.backoffMs === 0 ? min : Math.min(this.backoffMs * 2, Math.max(max, min));
    this.log(`mgos_mqtt_reconnect  MQTT reconnect in ${this.backoffMs} ms`);
    this.retryTimer = this.host.setTimeout(() => this.attempt(), this.backoffMs);
  }

  /** Reset or power loss: no socket, timer or client is left behind. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.connected = false;
    if (this.retryTimer !== undefined) this.host.clearTimer(this.retryTimer);
    this.retryTimer = undefined;
    const c = this.client;
    this.client = undefined;
    if (c) {
      c.removeAllListeners('close');
      c.on('error', () => undefined);
      c.end(true);
    }
  }
}

/** MQTT topic filter match with `+` and `#`. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

function clampQos(q: number, max: number): 0 | 1 | 2 {
  const n = Math.max(0, Math.min(Number.isFinite(q) ? Math.trunc(q) : 0, max, 2));
  return n as 0 | 1 | 2;
}

/** `host[:port]`, with `[v6]:port` accepted. */
function splitServer(server: string): [string, string | undefined] {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(server);
  if (v6) return [v6[1] as string, v6[2]];
  const i = server.lastIndexOf(':');
  return i < 0 ? [server, undefined] : [server.slice(0, i), server.slice(i + 1)];
}

/** mbedTLS suite names (TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256) to OpenSSL's, for the suites the ESP32 offers. */
function mbedToOpenssl(list: string): string {
  return list
    .split(':')
    .map((n) => {
      const m = /^TLS-(ECDHE|DHE)-(ECDSA|RSA)-WITH-AES-(128|256)-(GCM|CBC)-(SHA256|SHA384|SHA)$/.exec(n);
      if (!m) return n;
      const [, kx, au, bits, mode, mac] = m;
      return `${kx === 'DHE' ? 'DHE' : `ECDHE-${au}`}-AES${bits}${mode === 'GCM' ? '-GCM' : ''}-${mac}`;
    })
    .join(':');
}
