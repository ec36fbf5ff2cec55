// The flags every command that talks to the fleet broker as a client takes (`ota rollout`,
// `ca renewd`, …), and the one way they become a connected client (fleet/fleet-mqtt.ts).
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { MqttClient } from 'mqtt';
import { FleetError } from '../fleet/errors.ts';
import { connectFleetMqtt, parseBrokerUrl, readFleetIdentity, type ConnectOptions } from '../fleet/fleet-mqtt.ts';
import type { CliContext } from './context.ts';
import { resolvePassphrase } from './secrets.ts';

export interface BrokerClientOptions {
  broker?: string;
  clientCert?: string;
  clientKey?: string;
  brokerCa?: string;
  clientKeyPassphraseFile?: string;
}

export const BROKER_ENV = 'ESPFLEET_BROKER';
export const CLIENT_KEY_PASSPHRASE_ENV = 'ESPFLEET_CLIENT_KEY_PASSPHRASE';

/** Adds --broker, --client-cert, --client-key, --broker-ca, --client-key-passphrase-file (what `role` names the certificate's holder). */
export function brokerClientOptions(cmd: Command, role = 'operator'): Command {
  return cmd
    .option('--broker <mqtts://host:port>', `broker URL (else $${BROKER_ENV})`)
    .option('--client-cert <chain.pem>', `client certificate chain of the ${role} (espfleet ca client-cert --role ${role})`)
    .option('--client-key <key.pem>', `private key of that client certificate (PEM; if encrypted, its passphrase from --client-key-passphrase-file or $${CLIENT_KEY_PASSPHRASE_ENV})`)
    .option('--broker-ca <ca.pem>', "CA chain the broker's certificate is issued under (the fleet CA's chain)")
    .option('--client-key-passphrase-file <file>', 'passphrase of an encrypted client key, from a file');
}

/** Connects with the given flags; a missing flag is a clear error before any network. */
export async function connectBrokerClient(ctx: CliContext, opts: BrokerClientOptions, connect: ConnectOptions = {}): Promise<MqttClient> {
  const url = opts.broker ?? ctx.env[BROKER_ENV];
  const missing = [url === undefined ? '--broker' : '', opts.clientCert ? '' : '--client-cert', opts.clientKey ? '' : '--client-key', opts.brokerCa ? '' : '--broker-ca'].filter(Boolean);
  if (missing.length > 0) {
    throw new FleetError('fleet.mqtt.missing_option', `talking to the broker needs ${missing.join(', ')}`, { hint: 'e.g. --broker mqtts://mqtt.example.net:8883 --client-cert alice.pem --client-key alice.key --broker-ca fleet-ca/chain.pem' });
  }
  const broker = parseBrokerUrl(url!);
  const files = readFleetIdentity({ cert: resolve(ctx.cwd, opts.clientCert!), key: resolve(ctx.cwd, opts.clientKey!), ca: resolve(ctx.cwd, opts.brokerCa!) });
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(files.keyPem);
  const passphrase = encrypted
    ? await resolvePassphrase(ctx, { what: 'client key', envVar: CLIENT_KEY_PASSPHRASE_ENV, ...(opts.clientKeyPassphraseFile !== undefined ? { file: resolve(ctx.cwd, opts.clientKeyPassphraseFile) } : {}) })
    : undefined;
  return connectFleetMqtt(broker, { ...files, ...(passphrase !== undefined ? { passphrase } : {}) }, connect);
}
