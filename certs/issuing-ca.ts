// Issuing-CA rollover (docs/pki.md "Rolling over the issuing CA"): a new issuing CA under
// the same root becomes the one that signs, the old one stays trusted ("retiring") while
// certificates it issued are still live, and is retired once none is. ca.json is the
// commit point of each step: a crash before it leaves the CA as it was; openCa finishes
// what follows it (chain.pem).
import { createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildIssuingCert, CA_FILES, issuingCn, issuingFiles, issuingRecords, openCa, saveCaMeta, type Ca, type CaClockOptions, type CaMeta, type IssuingCaRecord } from './ca.ts';
import { readIssuerFacts } from './certificate.ts';
import { writeFileDurable } from './durable-file.ts';
import { CertsError } from './errors.ts';
import { IssuanceIndex, type IssuedRecord, type IssuedRole } from './issuance-index.ts';
import { decryptPrivateKeyPem, encryptedPrivateKeyPem, generateCaKey, spkiDer, stretchPassphrase } from './keys.ts';
import { fromPem, toPem } from './pem.ts';

export interface StartRolloverOptions extends CaClockOptions {
  /** The root key, when it is kept offline (default: root.key.pem in the CA directory). */
  rootKeyPath?: string;
}

/** The issuing CA a record was signed by: entries from before the first rollover name none and are number 1's. */
export function issuerLabelOf(rec: Pick<IssuedRecord, 'issuerKeyIdHex'>, records: readonly IssuingCaRecord[]): number | undefined {
  if (rec.issuerKeyIdHex === undefined) return 1;
  return records.find((r) => r.keyIdHex === rec.issuerKeyIdHex)?.label;
}

/** Makes a new issuing CA the one that signs; the old one keeps being trusted until it is retired. */
export async function startRollover(dir: string, passphrase: string, opts: StartRolloverOptions = {}): Promise<{ ca: Ca; from: IssuingCaRecord; to: IssuingCaRecord }> {
  const ca = openCa(dir, passphrase, opts);
  const records = issuingRecords(dir, ca.meta).map((r) => ({ ...r }));
  const retiring = records.find((r) => r.state === 'retiring');
  if (retiring) {
    throw new CertsError('certs.rollover.in_progress', `a rollover is already running: issuing CA ${retiring.label} (${retiring.cn}) is retiring`, {
      hint: 'finish it first: `espfleet ca rollover status` until it says ready, then `espfleet ca rollover retire`',
    });
  }
  const keyPath = opts.rootKeyPath ?? join(dir, CA_FILES.rootKey);
  if (!existsSync(keyPath)) {
    throw new CertsError('certs.rollover.no_root_key', `the root key is not at ${keyPath}`, { hint: 'a new issuing CA is signed by the root: bring the offline root key and pass --root-key FILE' });
  }
  const rootKey = decryptPrivateKeyPem(readFileSync(keyPath, 'utf8'), stretchPassphrase(passphrase, ca.meta.keyKdf), keyPath);
  const rootDer = fromPem(ca.rootCertPem, 'CERTIFICATE', join(dir, CA_FILES.rootCert));
  const root = readIssuerFacts(rootDer, join(dir, CA_FILES.rootCert));
  if (!Buffer.from(spkiDer(createPublicKey(rootKey))).equals(Buffer.from(root.spki))) {
    throw new CertsError('certs.rollover.wrong_root_key', `${keyPath} is not the key of this CA's root (${join(dir, CA_FILES.rootCert)})`, { hint: 'pass the root key that belongs to this CA' });
  }
  const rootX = new X509Certificate(rootDer);
  const org = /(?:^|\n)O=([^\n]+)/.exec(rootX.subject)?.[1] ?? 'espfleet';
  const label = Math.max(...records.map((r) => r.label)) + 1;
  const now = ca.clock();
  const key = await generateCaKey(ca.keyType);
  const der = buildIssuingCert({
    rootKey,
    root: { subject: root.subject, keyId: root.keyId, notAfter: new Date(rootX.validTo) },
    key: key.publicKey,
    cn: issuingCn(org, label),
    org,
    now,
    random: ca.random,
  });
  const files = issuingFiles(label);
  // The new files first (a crash here leaves unused files the next start overwrites), then ca.json.
  writeFileDurable(join(dir, files.key), encryptedPrivateKeyPem(key.privateKey, stretchPassphrase(passphrase, ca.meta.keyKdf)), { mode: 0o600 });
  writeFileDurable(join(dir, files.cert), toPem('CERTIFICATE', der));
  const x = new X509Certificate(der);
  const to: IssuingCaRecord = {
    label,
    keyIdHex: Buffer.from(readIssuerFacts(der, files.cert).keyId).toString('hex'),
    cn: issuingCn(org, label),
    createdAt: now.toISOString(),
    notAfter: new Date(x.validTo).toISOString(),
    state: 'active',
  };
  const from = records.find((r) => r.state === 'active')!;
  from.state = 'retiring';
  ca.meta.issuing = [...records, to];
  saveCaMeta(ca);
  return { ca: ca.reopen(), from, to };
}

export interface IssuingCaStatus extends IssuingCaRecord {
  /** Certificates it signed that are neither expired nor revoked, by role. */
  live: Record<IssuedRole, number>;
  /** Device ids whose live certificate it signed (those that must renew before it can retire). */
  devices: string[];
}

export interface RolloverStatus {
  issuing: IssuingCaStatus[];
  /** The retiring CA, when a rollover runs. */
  retiring?: number;
  /** True when a rollover runs and no live certificate depends on the retiring CA. */
  ready: boolean;
}

/** Which live certificates depend on which issuing CA; needs no passphrase. */
export function rolloverStatus(dir: string, opts: CaClockOptions = {}): RolloverStatus {
  const meta = JSON.parse(readFileSync(join(dir, CA_FILES.meta), 'utf8')) as CaMeta;
  const records = issuingRecords(dir, meta);
  const now = (opts.clock ?? (() => new Date()))().getTime();
  const index = IssuanceIndex.load(join(dir, CA_FILES.index));
  const issuing = records.map((r): IssuingCaStatus => ({ ...r, live: { device: 0, server: 0, operator: 0, renewer: 0 }, devices: [] }));
  for (const rec of index.all()) {
    if (rec.status !== 'valid' || Date.parse(rec.notAfter) <= now) continue;
    const s = issuing.find((i) => i.label === issuerLabelOf(rec, records));
    if (!s) continue;
    s.live[rec.role]++;
    if (rec.role === 'device') s.devices.push(rec.cn);
  }
  for (const s of issuing) s.devices.sort();
  const retiring = issuing.find((s) => s.state === 'retiring');
  const liveCount = (s: IssuingCaStatus) => Object.values(s.live).reduce((a, b) => a + b, 0);
  return { issuing, ...(retiring ? { retiring: retiring.label } : {}), ready: retiring !== undefined && liveCount(retiring) === 0 };
}

/** Stops trusting the retiring CA; refused while a live certificate depends on it. */
export function retireIssuing(ca: Ca): { ca: Ca; retired: IssuingCaRecord } {
  const status = rolloverStatus(ca.dir, { clock: ca.clock });
  const s = status.issuing.find((i) => i.state === 'retiring');
  if (!s) {
    throw new CertsError('certs.rollover.none', 'no issuing CA is retiring: there is nothing to retire', { hint: 'start a rollover with `espfleet ca rollover start`' });
  }
  if (!status.ready) {
    const parts = Object.entries(s.live).filter(([, n]) => n > 0).map(([role, n]) => `${n} ${role}`);
    const some = s.devices.slice(0, 5).join(', ');
    throw new CertsError('certs.rollover.still_used', `issuing CA ${s.label} (${s.cn}) still signs live certificates: ${parts.join(', ')}${some ? ` (devices ${some}${s.devices.length > 5 ? ', …' : ''})` : ''}`, {
      hint: 'let the boards renew onto the new CA (`espfleet ca rollover migrate`), re-issue server and client certificates, or revoke what is left; then retire',
    });
  }
  const records = issuingRecords(ca.dir, ca.meta).map((r) => ({ ...r }));
  const retired = records.find((r) => r.label === s.label)!;
  retired.state = 'retired';
  retired.retiredAt = ca.clock().toISOString();
  ca.meta.issuing = records;
  saveCaMeta(ca);
  return { ca: ca.reopen(), retired };
}
