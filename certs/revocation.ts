// Revocation and CRLs (RFC 5280 §5): revoke marks a serial in the issuance index;
// buildCrl signs a v2 CRL with the issuing CA, thisUpdate/nextUpdate and a CRL
// number. Keep nextUpdate in the future: mosquitto refuses every client once the
// loaded CRL has expired (field-survey §D, mosquitto #1826).
import { join } from 'node:path';
import { saveCaMeta, type Ca, type IssuingCa } from './ca.ts';
import { bitString, seq, seqOf, smallInteger, time, unsignedInteger } from './der.ts';
import { writeFileDurable } from './durable-file.ts';
import { CertsError } from './errors.ts';
import { authorityKeyIdentifier, CRL_REASONS, crlNumber, crlReason, extensionsBlock, type CrlReason } from './extensions.ts';
import type { IssuedRecord } from './issuance-index.ts';
import { issuerLabelOf } from './issuing-ca.ts';
import { signatureAlgorithm, signDer } from './keys.ts';
import { toPem } from './pem.ts';
import { normalizeSerialHex } from './serial.ts';

const DAY_MS = 86_400_000;
export const DEFAULT_CRL_DAYS = 7;
export const CRL_FILE = 'crl.pem';

export function isCrlReason(text: string): text is CrlReason {
  return Object.hasOwn(CRL_REASONS, text);
}

export async function revoke(ca: Ca, serialHex: string, reason: CrlReason = 'unspecified'): Promise<IssuedRecord> {
  const serial = normalizeSerialHex(serialHex);
  const record = serial === undefined ? undefined : ca.index.get(serial);
  if (!record || serial === undefined) {
    throw new CertsError('certs.revoke.unknown_serial', `no certificate with serial ${JSON.stringify(serialHex)} was issued by the CA in ${ca.dir}`, {
      hint: 'list serials with `espfleet ca list`',
    });
  }
  if (!isCrlReason(reason)) {
    throw new CertsError('certs.revoke.bad_reason', `unknown revocation reason ${JSON.stringify(reason)}`, {
      hint: `use one of ${Object.keys(CRL_REASONS).join(', ')}`,
    });
  }
  if (record.status === 'revoked') {
    throw new CertsError('certs.revoke.already_revoked', `certificate ${serial} (${record.cn}) was already revoked at ${record.revokedAt ?? '?'}`);
  }
  const at = new Date(Math.floor(ca.clock().getTime() / 1000) * 1000).toISOString();
  await ca.index.append({ op: 'revoke', serialHex: serial, at, reason });
  return { ...record };
}

export interface CrlOptions {
  nextUpdateDays?: number;
  /** Also write the CRL to <ca dir>/crl.pem (default true). */
  writeToCaDir?: boolean;
}

export interface BuiltCrl {
  crlPem: string;
  crlNumber: number;
  thisUpdate: Date;
  nextUpdate: Date;
  revokedSerials: string[];
}

export function buildCrl(ca: Ca, opts: CrlOptions = {}): BuiltCrl {
  const days = opts.nextUpdateDays ?? DEFAULT_CRL_DAYS;
  if (!(days > 0) || days > 366) {
    throw new CertsError('certs.crl.bad_days', `nextUpdate of ${days} days is out of range`, { hint: 'use 1 to 366 days' });
  }
  const thisUpdate = new Date(Math.floor(ca.clock().getTime() / 1000) * 1000);
  const nextUpdate = new Date(thisUpdate.getTime() + days * DAY_MS);
  // Expired certificates fail validation anyway; leaving them out keeps the CRL small.
  const cutoff = thisUpdate.getTime();
  const revoked = ca.index
    .all()
    .filter((r) => r.status === 'revoked' && Date.parse(r.notAfter) > cutoff)
    .sort((a, b) => (a.serialHex < b.serialHex ? -1 : a.serialHex > b.serialHex ? 1 : 0));
  const number = ca.meta.crlNumber + 1;
  // One CRL per trusted issuing CA (two while a rollover runs), each signed by its own key:
  // the broker checks a client against the CRL of that client's issuer, and refuses a client
  // whose issuer has none (X509_V_FLAG_CRL_CHECK) — which is how a retired CA stops working.
  const records = ca.issuingCas.map((c) => c.record);
  const crlPem = ca.issuingCas
    .map((issuing) => {
      const mine = revoked.filter((r) => issuerLabelOf(r, records) === issuing.record.label);
      return toPem('X509 CRL', signCrl(issuing, mine, thisUpdate, nextUpdate, number));
    })
    .join('');
  ca.meta.crlNumber = number;
  saveCaMeta(ca);
  if (opts.writeToCaDir !== false) writeFileDurable(join(ca.dir, CRL_FILE), crlPem);
  return { crlPem, crlNumber: number, thisUpdate, nextUpdate, revokedSerials: revoked.map((r) => r.serialHex) };
}

function signCrl(issuing: Pick<IssuingCa, 'signingKey' | 'issuer'>, revoked: readonly IssuedRecord[], thisUpdate: Date, nextUpdate: Date, number: number): Uint8Array {
  const sigAlg = signatureAlgorithm(issuing.signingKey);
  // Encodings shared by many entries are built once: a 100,000-entry CRL is common
  // after a batch recall, and per-entry OID/time encoding dominated its build time.
  const reasonExts = new Map<CrlReason, Uint8Array>();
  const times = new Map<string, Uint8Array>();
  const entries = revoked.map((r) => {
    const reason = r.reason ?? 'unspecified';
    let ext = reasonExts.get(reason);
    // RFC 5280 §5.3.1: omit reasonCode rather than say "unspecified".
    if (!ext) reasonExts.set(reason, (ext = reason === 'unspecified' ? new Uint8Array(0) : seq(crlReason(reason))));
    const at = r.revokedAt ?? thisUpdate.toISOString();
    let when = times.get(at);
    if (!when) times.set(at, (when = time(new Date(at))));
    return seq(unsignedInteger(Buffer.from(r.serialHex, 'hex')), when, ext);
  });
  const tbs = seq(
    smallInteger(1), // v2
    sigAlg,
    issuing.issuer.subject,
    time(thisUpdate),
    time(nextUpdate),
    ...(entries.length ? [seqOf(entries)] : []),
    extensionsBlock(0, [authorityKeyIdentifier(issuing.issuer.keyId), crlNumber(number)]),
  );
  return seq(tbs, sigAlg, bitString(signDer(issuing.signingKey, tbs)));
}

export interface ListOptions {
  /** Only certificates still valid that expire within this many days. */
  expiringWithinDays?: number;
}

export interface ListedCertificate extends IssuedRecord {
  expired: boolean;
}

export function listIssued(ca: Pick<Ca, 'index' | 'clock'>, opts: ListOptions = {}): ListedCertificate[] {
  const now = ca.clock().getTime();
  const horizon = opts.expiringWithinDays === undefined ? undefined : now + opts.expiringWithinDays * DAY_MS;
  return ca.index
    .all()
    .map((r) => ({ ...r, expired: Date.parse(r.notAfter) <= now }))
    .filter((r) => horizon === undefined || (r.status === 'valid' && !r.expired && Date.parse(r.notAfter) <= horizon))
    .sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter) || a.cn.localeCompare(b.cn));
}
