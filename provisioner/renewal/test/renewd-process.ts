// `espfleet ca renewd` as its own process for tests (the CLI as a child, from the sources):
// its renewer identity written to files, the broker's CRL file and pid file wired so the CRL
// it publishes reaches mosquitto; its JSON lines collected as they come.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitUntil } from '../../../certs/test/mosquitto-harness.ts';
import type { FleetBroker } from '../../../hil-tests/test/helpers/fleet-broker.ts';
import { repoRoot } from '../../../scripts/lib/oracles.ts';

export interface RenewdProcess {
  child: ChildProcess;
  /** stdout lines (one JSON object each). */
  lines: string[];
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

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
  const args = [
    join(repoRoot, 'provisioner/cli/espfleet.mjs'), 'ca', 'renewd', '--ca-dir', join(o.dir, 'ca'), '--passphrase-file', join(o.dir, 'ca.pass'), '--station', join(o.dir, 'station.toml'),
    '--broker', `mqtts://127.0.0.1:${o.broker.port}`, '--client-cert', join(o.dir, 'renewd.pem'), '--client-key', join(o.dir, 'renewd.key'), '--broker-ca', join(o.dir, 'broker-ca.pem'),
    '--crl-out', join(o.broker.dir, 'broker', 'crl.pem'), '--broker-pid-file', join(o.dir, 'mosquitto.pid'), '--json', ...(o.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: o.dir, env: { ...process.env, ESPFLEET_FROM_SOURCE: '1', ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let err = '';
  let buf = '';
  child.stdout!.on('data', (b: Buffer) => {
    buf += b.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return {
    child,
    lines,
    stderr: () => err,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Starts renewd and waits until it says it is ready (subscribed with its persistent session). */
export async function readyRenewd(o: RenewdOptions): Promise<RenewdProcess> {
  const r = startRenewd(o);
  await waitUntil(() => r.lines.some((l) => l.includes('"ready"')) || r.child.exitCode !== null, 'renewd ready', 60_000);
  if (r.child.exitCode !== null) throw new Error(`renewd exited ${r.child.exitCode}: ${r.stderr().slice(-2000)}`);
  return r;
}
