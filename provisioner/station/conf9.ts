// The per-device Mongoose OS configuration and files the pipeline writes into the fs
// (spec mongoose-os.md §3 config layers, §6 update keys): conf9.json — the device layer —
// with device.id, MQTT over mTLS with the files beside it, and the firmware-signature keys.
import { mgosPublicKeyConfig, SIGNATURE_SLOTS } from '../../firmware-js/bundle/index.ts';
import { StationError } from './steps/errors.ts';

export interface Conf9Input {
  deviceId: string;
  /** host:port of the broker, e.g. mqtt.example.net:8883. */
  mqttServer: string;
  /** PEM public keys of the station's bundle signers: update.key0, key1, … in order. */
  signingPublicKeys: readonly string[];
  /** Require every configured key's signature on updates (update.sig_req_mask). */
  requireSignatures: boolean;
  /** Free-form agent settings merged under the fixed keys (which always win). */
  agentSettings?: Record<string, unknown>;
}

export const DEVICE_CERT_FILE = 'device.crt';
export const DEVICE_KEY_FILE = 'device.key';
export const CA_FILE = 'ca.pem';

export function composeConf9(input: Conf9Input): Record<string, unknown> {
  if (input.signingPublicKeys.length > SIGNATURE_SLOTS) {
    throw new StationError('station.too_many_keys', `${input.signingPublicKeys.length} signing keys were given; a board has ${SIGNATURE_SLOTS} slots (update.key0..${SIGNATURE_SLOTS - 1})`);
  }
  if (input.requireSignatures && input.signingPublicKeys.length === 0) {
    throw new StationError('station.no_signing_keys', 'signatures are required but no signing public key was given', { hint: 'pass the public key(s) the bundles are signed with' });
  }
  const update: Record<string, unknown> = {};
  input.signingPublicKeys.forEach((pem, i) => (update[`key${i}`] = mgosPublicKeyConfig(pem)));
  // -1: signatures not required; else the bits of every configured slot.
  update.sig_req_mask = input.requireSignatures ? (1 << input.signingPublicKeys.length) - 1 : -1;
  const agent = input.agentSettings ?? {};
  const merged: Record<string, unknown> = { ...agent };
  merged.device = { ...asObject(agent.device), id: input.deviceId };
  merged.mqtt = {
    ...asObject(agent.mqtt),
    enable: true,
    server: input.mqttServer,
    ssl_cert: DEVICE_CERT_FILE,
    ssl_key: DEVICE_KEY_FILE,
    ssl_ca_cert: CA_FILE,
  };
  // Only the station decides which keys a board trusts: key slots in the agent settings are dropped.
  const agentUpdate = Object.fromEntries(Object.entries(asObject(agent.update)).filter(([k]) => !/^key\d+$|^sig_req_mask$/.test(k)));
  merged.update = { ...agentUpdate, ...update };
  return merged;
}

/** The files for the fs part: conf9.json, the certificate chain, the key (to the board only), the root. */
export function deviceFiles(conf9: Record<string, unknown>, identity: { chainPem: string; privateKeyPem: string }, rootCertPem: string): Record<string, Uint8Array> {
  const text = (s: string) => new TextEncoder().encode(s);
  return {
    'conf9.json': text(JSON.stringify(conf9)),
    [DEVICE_CERT_FILE]: text(identity.chainPem),
    [DEVICE_KEY_FILE]: text(identity.privateKeyPem),
    [CA_FILE]: text(rootCertPem),
  };
}

function asObject(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
