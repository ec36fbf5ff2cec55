// `espfleet ca renewd` as its own process for tests (cli-child.ts): its renewer identity
// written to files, the broker's CRL file and pid file wired so the CRL it publishes reaches
// mosquitto.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitUntil } from '../../../certs/test/mosquitto-harness.ts';
import type { FleetBroker } from '../../../hil-tests/test/helpers/fleet-broker.ts';
import { spawnCli, type CliChild } from '../../test/cli-child.ts';

export type RenewdProcess = CliChild;

export interface RenewdOptions {
  /** Working directory: the station's (ca/, ca.pass, station.toml inside). */
  dir: string;
  broker: FleetBroker;
  /** The CN of a renewer identity the broker's ACL lists (startFleetBroker `clients`). */
  renewer: string;
  extraArgs?: string[];
  env?: Record<string, string>;
}

export function startRenewd(o: RenewdOptions): RenewdProcess {
  const id = o.broker.clients.get(o.renewer);
  if (!id) throw new Error(`no identity ${o.renewer} in the test broker's ACL`);
  writeFileSync(join(o.dir, 'renewd.pem'), id.chainPem);
  writeFileSync(join(o.dir, 'renewd.key'), id.privateKeyPem, { mode: 0o600 });
  writeFileSync(join(o.dir, 'broker-ca.pem'), o.broker.caPem);
  writeFileSync(join(o.dir, 'mosquitto.pid'), `${o.broker.broker.pid}\n`);
  return spawnCli(
    [
      'ca', 'renewd', '--ca-dir', join(o.dir, 'ca'), '--passphrase-file', join(o.dir, 'ca.pass'), '--station', join(o.dir, 'station.toml'),
      '--broker', `mqtts://127.0.0.1:${o.broker.port}`, '--client-cert', join(o.dir, 'renewd.pem'), '--client-key', join(o.dir, 'renewd.key'), '--broker-ca', join(o.dir, 'broker-ca.pem'),
      '--crl-out', join(o.broker.dir, 'broker', 'crl.pem'), '--broker-pid-file', join(o.dir, 'mosquitto.pid'), '--json', ...(o.extraArgs ?? []),
    ],
    { cwd: o.dir, ...(o.env ? { env: o.env } : {}) },
  );
}

/** Starts renewd and waits until it says it is ready (subscribed with its persistent session). */
export async function readyRenewd(o: RenewdOptions): Promise<RenewdProcess> {
  const r = startRenewd(o);
  await waitUntil(() => r.lines.some((l) => l.includes('"ready"')) || r.child.exitCode !== null, 'renewd ready', 60_000);
  if (r.child.exitCode !== null) throw new Error(`renewd exited ${r.child.exitCode}: ${r.stderr().slice(-2000)}`);
  return r;
}
