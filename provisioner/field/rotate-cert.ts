// Certificate rotation over one USB cable (issue 16): the agent makes the new key and its CSR
// on the board (Espfleet.CertRequest), the laptop has it signed, the agent checks and installs
// the certificate try_once and reboots (Espfleet.CertInstall), and the rotation counts only
// when the board reports the new certificate in use with its MQTT session up
// (Espfleet.CertStatus). Only the CSR and certificates cross the cable, never a key.
import { X509Certificate } from 'node:crypto';
import { RpcError } from '../rpc/errors.ts';
import type { MgosDevice } from './device.ts';
import { FieldError } from './errors.ts';

export interface RotationSigner {
  /** Signs the board's CSR for `cn`; returns the chain (leaf first) and its facts. */
  sign(csrPem: string, cn: string): Promise<{ chainPem: string; serialHex: string; notAfter: Date }>;
}

export interface RotateOptions {
  signer: RotationSigner;
  /**
 * Errors: field.rotate.refused (the board refused the certificate) and field.rotate.reverted
 * (the broker did not take it, the board is back on its old pair) leave the new certificate
 * unused; field.rotate.not_confirmed (no word in time) leaves it unknown.
 */
/** How long the board has after the reboot to connect with the new certificate (default 120 s). */
  confirmTimeoutMs?: number;
  /** Between two CertStatus polls (default 500 ms). */
  pollMs?: number;
  onStep?: (step: string) => void;
}

export interface RotationResult {
  deviceId: string;
  /** The certificate the board ran on before (its serial, to revoke once the new one is confirmed). */
  old: { file: string; serialHex: string | null };
  issued: { file: string; serialHex: string; notAfter: string };
}

interface CertStatus {
  phase: string;
  req: string;
  last: string;
  crt: string;
  mqtt_connected: boolean;
}

export async function rotateCertificate(device: MgosDevice, opts: RotateOptions): Promise<RotationResult> {
  const step = opts.onStep ?? (() => undefined);
  const info = await device.info();
  if (!info.id) throw new FieldError('field.rotate.no_id', 'the board has no device.id: it was never provisioned', { hint: 'provision it with `espfleet provision`' });
  const status = await certStatus(device);
  if (status.phase !== '') throw new FieldError('field.rotate.busy', `a renewal is in progress on ${info.id} (${status.phase}, ${status.req})`, { hint: 'wait for it to finish (or for its answer timeout) and run the command again' });
  const old = { file: status.crt, serialHex: await serialOf(device, status.crt) };

  step(`asking ${info.id} for a new key and CSR (made on the board)`);
  const req = (await device.call('Espfleet.CertRequest', {}, { timeoutMs: 60_000 })) as { req?: unknown; cn?: unknown; csr?: unknown } | null;
  if (!req || typeof req.req !== 'string' || typeof req.csr !== 'string') throw new RpcError('rpc.bad_reply', `Espfleet.CertRequest returned ${JSON.stringify(req)?.slice(0, 120)}`);
  if (req.cn !== info.id) throw new FieldError('field.rotate.wrong_cn', `the board's CSR names ${JSON.stringify(req.cn)}, but the board is ${info.id}`);

  step('signing the CSR');
  const cert = await opts.signer.sign(req.csr, info.id);

  step('installing the certificate (try_once) and rebooting onto it');
  let installed: { crt?: unknown } | null;
  try {
    installed = (await device.call('Espfleet.CertInstall', { req: req.req, cert: cert.chainPem }, { timeoutMs: 30_000 })) as { crt?: unknown } | null;
  } catch (e) {
    if (e instanceof RpcError && e.code === 'rpc.remote') {
      throw new FieldError('field.rotate.refused', `${info.id} refused the new certificate: ${e.message.replace(/^.*? failed on the board: \d+ /, '')}`, { hint: 'is --ca-dir the CA the board trusts (its mqtt.ssl_ca_cert)? the board keeps its old pair' });
    }
    throw e;
  }
  const file = typeof installed?.crt === 'string' ? installed.crt : '';
  if (file === '') throw new RpcError('rpc.bad_reply', `Espfleet.CertInstall returned ${JSON.stringify(installed)}`);

  step('waiting for the board to connect to the broker with the new certificate');
  const deadline = Date.now() + (opts.confirmTimeoutMs ?? 120_000);
  let last: CertStatus | undefined;
  for (;;) {
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
    try {
      last = await certStatus(device, 3_000);
    } catch (e) {
      // The reboot: no answer, a reset banner mid-call, or the firmware up before the agent; ask again.
      if (!(e instanceof RpcError) && !(e instanceof FieldError && e.code === 'field.rotate.no_agent')) throw e;
    }
    if (last && last.phase === '' && last.last === 'renewed' && last.crt === file && last.mqtt_connected) break;
    if (last && last.phase === '' && last.last.startsWith('failed')) {
      throw new FieldError('field.rotate.reverted', `${info.id} went back to its old certificate: ${last.last.replace(/^failed: /, '')}`, {
        hint: 'the new certificate is unused (revoke it); check that the board reaches the broker, then run the command again',
      });
    }
    if (Date.now() > deadline) {
      throw new FieldError('field.rotate.not_confirmed', `${info.id} did not report an MQTT connection with the new certificate in time (last: ${JSON.stringify(last ?? null)})`, {
        hint: 'the board reverts to its old certificate by itself if the broker refuses the new one; check `espfleet device info`',
      });
    }
  }
  return { deviceId: info.id, old, issued: { file, serialHex: cert.serialHex, notAfter: cert.notAfter.toISOString() } };
}

async function certStatus(device: MgosDevice, timeoutMs?: number): Promise<CertStatus> {
  const noAgent = (what: string) => new FieldError('field.rotate.no_agent', `the board does not answer Espfleet.CertStatus (${what})`, { hint: 'it needs the espfleet agent 0.2 or later, with espfleet.renew.enable on' });
  let r: Partial<CertStatus> | null;
  try {
    r = (await device.call('Espfleet.CertStatus', {}, timeoutMs === undefined ? undefined : { timeoutMs })) as Partial<CertStatus> | null;
  } catch (e) {
    if (e instanceof RpcError && e.remoteCode === 404) throw noAgent('no such method');
    throw e;
  }
  if (!r || typeof r.phase !== 'string') throw noAgent(JSON.stringify(r));
  return { phase: r.phase, req: String(r.req ?? ''), last: String(r.last ?? ''), crt: String(r.crt ?? ''), mqtt_connected: r.mqtt_connected === true };
}

/** The serial of the certificate file on the board (public data), or null if it does not parse. */
async function serialOf(device: MgosDevice, file: string): Promise<string | null> {
  if (file === '') return null;
  try {
    const pem = Buffer.from(await device.fsGet(file)).toString('utf8');
    return new X509Certificate(pem).serialNumber.toLowerCase();
  } catch {
    return null;
  }
}
