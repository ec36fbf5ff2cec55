// The fleet side's one way onto the broker (DESIGN.md: operators and the renewal service
// speak MQTT over mutual TLS with a client certificate `role:name`). The broker profile sets
// use_username_as_clientid, so the CN is the session: two processes with one identity
// evict each other — callers that run side by side need their own certificates.
import { readFileSync } from 'node:fs';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { FleetError } from './errors.ts';

export interface BrokerAddress {
  host: string;
  port: number;
}

/** `mqtts://host[:port]` (8883 by default); plain `mqtt://` is refused: the fleet is mTLS only. */
export function parseBrokerUrl(text: string): BrokerAddress {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new FleetError('fleet.mqtt.bad_url', `not a broker URL: ${JSON.stringify(text)}`, { hint: 'use mqtts://host:port, e.g. mqtts://mqtt.example.net:8883' });
  }
  if (u.protocol !== 'mqtts:') {
    throw new FleetError('fleet.mqtt.bad_url', `the broker URL must be mqtts:// (mutual TLS), got ${u.protocol}//`, { hint: 'the fleet broker only has a TLS listener' });
  }
  if (u.pathname !== '' && u.pathname !== '/') throw new FleetError('fleet.mqtt.bad_url', `a broker URL has no path: ${text}`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new FleetError('fleet.mqtt.bad_url', `no host in ${text}`);
  return { host, port: u.port === '' ? 8883 : Number(u.port) };
}

export interface FleetIdentity {
  /** Client certificate chain, PEM. */
  certPem: string;
  /** Its private key, PEM (possibly encrypted: then `passphrase`). */
  keyPem: string;
  passphrase?: string;
  /** The CA chain the broker's certificate is issued under, PEM. */
  caPem: string;
}

/** Reads the three PEM files; each failure names the file and the flag that gave it. */
export function readFleetIdentity(paths: { cert: string; key: string; ca: string }, flags = { cert: '--client-cert', key: '--client-key', ca: '--broker-ca' }): Omit<FleetIdentity, 'passphrase'> {
  const read = (path: string, what: string, flag: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      throw new FleetError('fleet.mqtt.no_file', `cannot read the ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: `check ${flag}` });
    }
  };
  return { certPem: read(paths.cert, 'client certificate', flags.cert), keyPem: read(paths.key, 'client key', flags.key), caPem: read(paths.ca, 'broker CA chain', flags.ca) };
}

export interface ConnectOptions {
  /** Reconnect by itself after a lost connection (long-running services); default false. */
  reconnect?: boolean;
  connectTimeoutMs?: number;
  /** Passed through (e.g. a will, clean: false). */
  extra?: Partial<IClientOptions>;
}

/**
 * Connects and waits for the CONNACK. A refused handshake, a refused CONNACK or no answer
 * give one FleetError (`fleet.mqtt.unreachable` / `fleet.mqtt.refused`) naming the broker.
 */
export function connectFleetMqtt(broker: BrokerAddress, id: FleetIdentity, opts: ConnectOptions = {}): Promise<MqttClient> {
  const where = `mqtts://${broker.host.includes(':') ? `[${broker.host}]` : broker.host}:${broker.port}`;
  return new Promise((resolve, reject) => {
    let client: MqttClient;
    try {
      client = connect({
        host: broker.host,
        port: broker.port,
        protocol: 'mqtts',
        ca: id.caPem,
        cert: id.certPem,
        key: id.keyPem,
        ...(id.passphrase !== undefined ? { passphrase: id.passphrase } : {}),
        rejectUnauthorized: true,
        protocolVersion: 4,
        reconnectPeriod: opts.reconnect ? 2000 : 0,
        connectTimeout: opts.connectTimeoutMs ?? 10_000,
        ...opts.extra,
      });
    } catch (e) {
      // node's TLS reads the key at once: a wrong passphrase or a bad PEM throws here.
      reject(new FleetError('fleet.mqtt.bad_identity', `cannot use the client certificate/key: ${(e as Error).message}`, { hint: 'check --client-cert, --client-key and the key passphrase' }));
      return;
    }
    const fail = (code: string, why: string, hint: string) => {
      cleanup();
      client.end(true);
      reject(new FleetError(code, `broker ${where}: ${why}`, { hint }));
    };
    const onConnect = () => {
      cleanup();
      resolve(client);
    };
    const onError = (e: Error & { code?: unknown }) => {
      if (typeof e.code === 'number') return fail('fleet.mqtt.refused', `connection refused (CONNACK ${e.code}: ${e.message})`, 'is this identity in the broker ACL? run `espfleet broker config` again after issuing it');
      fail('fleet.mqtt.unreachable', e.message, 'check --broker, --broker-ca and that the client certificate is issued by the fleet CA and not revoked');
    };
    const onClose = () => fail('fleet.mqtt.unreachable', 'the connection closed before the broker answered (TLS handshake refused?)', 'check that the client certificate is valid, issued by the fleet CA and not revoked');
    const cleanup = () => {
      client.off('connect', onConnect);
      client.off('error', onError);
      client.off('close', onClose);
    };
    client.once('connect', onConnect);
    client.once('error', onError);
    client.once('close', onClose);
  });
}
