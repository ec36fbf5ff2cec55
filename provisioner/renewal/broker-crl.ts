// Puts a fresh CRL where the broker reads it (`crlfile` of `broker config`: <out-dir>/crl.pem)
// and signals mosquitto to reload it: mosquitto 2.0 reads crlfile only at start and on
// SIGHUP (docs/pki.md "Applying a new CRL"). The file is replaced atomically first.
import { readFileSync } from 'node:fs';
import { buildCrl, type BuiltCrl, type Ca } from '../../certs/index.ts';
import { writeFileDurable } from '../io/files.ts';
import { RenewalError } from './errors.ts';

export interface BrokerCrlTarget {
  /** The broker's crlfile. */
  out: string;
  /** mosquitto's pid file (`pid_file` in mosquitto.conf, or what systemd writes): SIGHUP goes there. */
  pidFile?: string;
}

export function readPid(pidFile: string): number {
  let text: string;
  try {
    text = readFileSync(pidFile, 'utf8');
  } catch (e) {
    throw new RenewalError('renewal.broker.no_pid', `cannot read the broker pid file ${pidFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: 'check --broker-pid-file (mosquitto.conf pid_file)' });
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new RenewalError('renewal.broker.bad_pid', `${pidFile} does not hold a process id: ${JSON.stringify(text.slice(0, 20))}`);
  return pid;
}

/** Sends SIGHUP to the broker named by the pid file. */
export function reloadBroker(pidFile: string): number {
  const pid = readPid(pidFile);
  try {
    process.kill(pid, 'SIGHUP');
  } catch (e) {
    throw new RenewalError('renewal.broker.not_running', `cannot signal the broker (pid ${pid} from ${pidFile}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: 'is mosquitto running, and as a user this one may signal?' });
  }
  return pid;
}

export function publishCrl(ca: Ca, target: BrokerCrlTarget): BuiltCrl & { reloaded: number | null } {
  const crl = buildCrl(ca);
  writeFileDurable(target.out, crl.crlPem);
  return { ...crl, reloaded: target.pidFile === undefined ? null : reloadBroker(target.pidFile) };
}

export interface BrokerTrustTarget {
  /** The broker's cafile: the chain of every trusted issuing CA and the root. */
  cafile?: string;
  /** The broker's crlfile. */
  crlfile?: string;
  pidFile?: string;
}

/**
 * After an issuing-CA rollover step: the broker's cafile and crlfile rewritten atomically
 * (the chain first, so no moment trusts a CA whose CRL is missing), then one SIGHUP.
 */
export function publishBrokerTrust(ca: Ca, target: BrokerTrustTarget): { cafile: string | null; crlfile: string | null; trusted: number; crlNumber: number | null; reloaded: number | null } {
  if (target.cafile) writeFileDurable(target.cafile, ca.chainPem);
  const crl = target.crlfile ? buildCrl(ca) : undefined;
  if (crl && target.crlfile) writeFileDurable(target.crlfile, crl.crlPem);
  const reloaded = target.pidFile === undefined ? null : reloadBroker(target.pidFile);
  return { cafile: target.cafile ?? null, crlfile: target.crlfile ?? null, trusted: ca.issuingCas.length, crlNumber: crl?.crlNumber ?? null, reloaded };
}
