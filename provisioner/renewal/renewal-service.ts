// The renewal service's decisions (DESIGN.md: `cert/csr` up, `cert/issued` down; issue 16).
// No MQTT here: it is handed a board's message and a `publish`, and answers every CSR —
// with a certificate, or with {id, error, code} — and audits both. A certificate is in the
// journal before the CA index records it and before it leaves; the old certificate is
// revoked only once the board's retained status shows it online with the new one.
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { assertDeviceId, CA_FILES, issuingRecords, openCaRecords, revoke, type Ca, type IssuedCertificate } from '../../certs/index.ts';
import { checkCsrPolicy, parseCsr, signCsr, type ParsedCsr } from '../../certs/csr.ts';
import { isEspfleetError } from '../../firmware-js/errors.ts';
import { withCertificate, type AuditLog, type DeviceRecord } from '../station/records.ts';
import type { Registry } from '../station/open-registry.ts';
import { RenewalError } from './errors.ts';
import { issuedTopic, parseCsrRequest, requestIdOf } from './csr-request.ts';
import type { RateLimit } from './rate-limit.ts';
import { RenewalJournal, type RenewalRow } from './renewal-journal.ts';

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** How long a renewal holds its board against a rotation before the board confirms the new certificate. */
const RENEWAL_CLAIM_MS = 15 * 60_000;

export interface RenewalServiceOptions {
  ca: Ca;
  registry: Registry;
  audit: AuditLog;
  /** Who signs: the renewer identity, e.g. renewer:renewd-1 (the audit actor). */
  actor: string;
  rateLimit: RateLimit;
  /** Validity of renewed certificates (default: the CA's, 365 days). */
  days?: number;
  clock?: () => Date;
  publish(topic: string, payload: string): Promise<void>;
  /** After old certificates were revoked: publish the CRL to the broker (cli: --crl-out), from this CA view. */
  onRevoked?(serials: string[], ca: Ca): Promise<void>;
  /** Fault injection for the restart tests: runs after signing (journal + index), before the publish. */
  afterSign?(row: RenewalRow): void;
  /** One line per decision, never a key or a CSR body. */
  log?(line: string): void;
}

export type CsrOutcome =
  | { kind: 'issued'; deviceId: string; req: string; serial: string; notAfter: string; repeated: boolean }
  | { kind: 'refused'; deviceId: string; req: string | null; code: string; reason: string; repeated: boolean };

export class RenewalService {
  readonly journal: RenewalJournal;
  /** Who holds a board's claim while its renewal is open (registry device_claims). */
  private get claimHolder(): string {
    return `renewd:${this.o.actor}`;
  }
  private readonly clock: () => Date;
  /** The CA as this process last read it; other espfleet processes (ca revoke, a station) append to its index. */
  private ca: Ca;
  private indexSize: number;
  private metaStamp: string;

  constructor(private readonly o: RenewalServiceOptions) {
    this.journal = new RenewalJournal(o.registry);
    this.clock = o.clock ?? (() => new Date());
    this.ca = o.ca;
    this.indexSize = this.indexFileSize();
    this.metaStamp = this.metaFileStamp();
  }

  private indexFileSize(): number {
    try {
      return statSync(join(this.ca.dir, CA_FILES.index)).size;
    } catch {
      return 0;
    }
  }

  /**
   * Re-reads the issuance index and ca.json when another process changed them (or always,
   * before a CRL): a CRL built from a stale index would drop their revocations, and a stale
   * CRL number would go backwards.
   */
  private refreshCa(force = false): Ca {
    const size = this.indexFileSize();
    const metaStamp = this.metaFileStamp();
    if (force || size !== this.indexSize || metaStamp !== this.metaStamp) {
      const meta = JSON.parse(readFileSync(join(this.ca.dir, CA_FILES.meta), 'utf8')) as Ca['meta'];
      // `ca rollover start` in another process made a new issuing CA active: sign with it from now on.
      const active = issuingRecords(this.ca.dir, meta).find((r) => r.state === 'active')?.keyIdHex;
      const rolled = active !== Buffer.from(this.ca.issuer.keyId).toString('hex');
      this.ca = rolled ? this.ca.reopen() : { ...this.ca, index: openCaRecords(this.ca.dir, { clock: this.ca.clock }).index, meta };
    }
    this.indexSize = size;
    this.metaStamp = metaStamp;
    return this.ca;
  }

  private metaFileStamp(): string {
    try {
      const st = statSync(join(this.ca.dir, CA_FILES.meta));
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return '';
    }
  }

  /** Our own appends are not another process's. */
  private sawOwnWrite(): void {
    this.indexSize = this.indexFileSize();
    this.metaStamp = this.metaFileStamp();
  }

  /** At start: certificates journaled but not known to be delivered go out again (same bytes). */
  async recover(): Promise<number> {
    const rows = await this.journal.inState('signed');
    for (const row of rows) {
      await this.ensureIndexed(row);
      await this.sendCert(row);
    }
    return rows.length;
  }

  async handleCsr(deviceId: string, payload: Uint8Array): Promise<CsrOutcome> {
    const req = requestIdOf(payload);
    try {
      return await this.decide(deviceId, payload);
    } catch (e) {
      if (!isEspfleetError(e)) throw e;
      return this.refuse(deviceId, req, e.code, e.message, payload);
    }
  }

  private async decide(deviceId: string, payload: Uint8Array): Promise<CsrOutcome> {
    const r = parseCsrRequest(deviceId, payload);
    const csrSha256 = sha256(r.csrPem);
    const prior = await this.journal.get(deviceId, r.req);
    if (prior) {
      if (prior.csrSha256 !== csrSha256) {
        throw new RenewalError('renewal.csr.replayed', `request id ${JSON.stringify(r.req)} was already used for another CSR`, { hint: 'every renewal attempt needs a new request id' });
      }
      if (prior.state === 'refused') {
        await this.sendError(deviceId, r.req, prior.errorCode ?? 'renewal.refused', prior.error ?? 'refused');
        return { kind: 'refused', deviceId, req: r.req, code: prior.errorCode ?? 'renewal.refused', reason: prior.error ?? 'refused', repeated: true };
      }
      // The same request again (the board or the broker re-sent it): the same certificate.
      await this.ensureIndexed(prior);
      await this.sendCert(prior);
      this.o.log?.(`${deviceId} ${r.req}: re-sent certificate ${prior.serial}`);
      return { kind: 'issued', deviceId, req: r.req, serial: prior.serial!, notAfter: prior.notAfter!, repeated: true };
    }
    assertDeviceId(deviceId);
    this.refreshCa();
    const device = await this.o.registry.get(deviceId);
    if (!device) throw new RenewalError('renewal.device.unknown', `device ${deviceId} is not in the registry`);
    if (device.status !== 'provisioned') {
      throw new RenewalError('renewal.device.not_allowed', `device ${deviceId} is ${device.status} in the registry; only provisioned devices renew`);
    }
    const csr = parseCsr(r.csrPem);
    checkP256(csr);
    checkCsrPolicy(csr, deviceId);
    const spkiSha256 = sha256(csr.spki);
    this.checkKeyIsNew(deviceId, spkiSha256);
    await this.checkRate(deviceId);
    const now = this.clock().toISOString();
    const base: RenewalRow = {
      deviceId, req: r.req, state: 'signed', csrSha256, spkiSha256, oldSerial: device.certSerial, serial: null, notAfter: null,
      certPem: null, errorCode: null, error: null, createdAt: now, updatedAt: now,
    };
    let row = base;
    // One process changes a board's certificate at a time: a USB rotation holding the board
    // refuses this renewal (station.registry.device_busy), and this claim refuses a rotation
    // until the new certificate is confirmed (or the claim expires).
    await this.o.registry.claimDevice(deviceId, this.claimHolder, 'renewal', RENEWAL_CLAIM_MS, this.clock());
    const cert: IssuedCertificate = await signCsr(this.ca, r.csrPem, {
      expectCn: deviceId,
      ...(this.o.days === undefined ? {} : { days: this.o.days }),
      // Journaled before the index records it: a crash after this point re-sends these bytes.
      beforeRecord: async (c) => {
        row = { ...base, serial: c.serialHex, notAfter: c.notAfter.toISOString(), certPem: c.chainPem };
        await this.journal.put(row);
      },
    });
    this.sawOwnWrite();
    await this.o.audit.append({
      action: 'certificate.renew',
      actor: this.o.actor,
      subject: { deviceId, mac: device.mac, serial: cert.serialHex },
      details: { step: 'issued', req: r.req, oldSerial: device.certSerial, notAfter: cert.notAfter.toISOString(), fingerprintSha256: cert.fingerprintSha256 },
    });
    this.o.afterSign?.(row);
    await this.sendCert(row);
    this.o.log?.(`${deviceId} ${r.req}: issued ${cert.serialHex} until ${cert.notAfter.toISOString()}`);
    return { kind: 'issued', deviceId, req: r.req, serial: cert.serialHex, notAfter: cert.notAfter.toISOString(), repeated: false };
  }

  private checkKeyIsNew(deviceId: string, spkiSha256: string): void {
    for (const rec of this.ca.index.all()) {
      if (rec.spkiSha256 !== spkiSha256) continue;
      if (rec.cn === deviceId) {
        throw new RenewalError('renewal.csr.same_key', `the CSR's key was already certified for ${deviceId} (certificate ${rec.serialHex}); a renewal needs a new key`, { hint: 'the board makes a new key for every renewal' });
      }
      throw new RenewalError('renewal.csr.key_in_use', `the CSR's key is certified for another identity (${rec.cn})`);
    }
  }

  private async checkRate(deviceId: string): Promise<void> {
    const since = this.clock().getTime() - this.o.rateLimit.windowMs;
    const recent = (await this.journal.forDevice(deviceId)).filter((r) => r.state !== 'refused' && Date.parse(r.createdAt) > since);
    if (recent.length >= this.o.rateLimit.count) {
      throw new RenewalError('renewal.rate_limited', `${deviceId} already got ${recent.length} certificate(s) within the rate-limit window (${this.o.rateLimit.count} per ${this.o.rateLimit.windowMs / 1000} s)`, {
        hint: 'try again later, or raise --rate-limit',
      });
    }
  }

  private async refuse(deviceId: string, req: string | null, code: string, reason: string, payload: Uint8Array): Promise<CsrOutcome> {
    const now = this.clock().toISOString();
    // A replayed id keeps its first row; any other refusal with an id is journaled (the last attempt).
    if (req !== null && code !== 'renewal.csr.replayed' && (await this.journal.get(deviceId, req)) === undefined) {
      await this.journal.put({
        deviceId, req, state: 'refused', csrSha256: sha256(payload), spkiSha256: null, oldSerial: null, serial: null, notAfter: null, certPem: null,
        errorCode: code, error: reason, createdAt: now, updatedAt: now,
      });
    }
    await this.o.audit.append({
      action: 'certificate.renew_refused',
      actor: this.o.actor,
      subject: { deviceId },
      details: { req, code, reason, bytes: payload.length },
    });
    await this.sendError(deviceId, req, code, reason);
    this.o.log?.(`${deviceId} ${req ?? '(no id)'}: refused [${code}] ${reason}`);
    return { kind: 'refused', deviceId, req, code, reason, repeated: false };
  }

  /**
   * devices/<id>/status (retained): online with the cert_expiry of a certificate we sent
   * means the broker took the new certificate; then the registry names it and the old one
   * (and any sent but never used) is revoked.
   */
  async handleStatus(deviceId: string, payload: Uint8Array): Promise<RenewalRow | undefined> {
    let s: { online?: unknown; cert_expiry?: unknown };
    try {
      s = JSON.parse(Buffer.from(payload).toString('utf8')) as typeof s;
    } catch {
      return undefined;
    }
    if (s?.online !== true || typeof s.cert_expiry !== 'number') return undefined;
    const open = (await this.journal.forDevice(deviceId)).filter((r) => r.state === 'signed' || r.state === 'published');
    const row = open.find((r) => r.notAfter !== null && Date.parse(r.notAfter) / 1000 === s.cert_expiry);
    if (!row) return undefined;
    await this.confirm(row, open.filter((r) => r !== row && r.createdAt <= row.createdAt));
    return row;
  }

  private async confirm(row: RenewalRow, stale: RenewalRow[]): Promise<void> {
    const now = this.clock().toISOString();
    const ca = this.refreshCa(true);
    const device = await this.o.registry.get(row.deviceId);
    const rec = ca.index.get(row.serial!);
    if (device && device.certSerial !== row.serial) {
      await this.o.registry.upsert(withCertificate(device, { serialHex: row.serial!, fingerprintSha256: rec?.fingerprintSha256 ?? null, notAfter: row.notAfter }, now));
    }
    const revokedNow: string[] = [];
    for (const serial of [row.oldSerial, ...stale.map((r) => r.serial)]) {
      if (serial === null || serial === row.serial) continue;
      const old = ca.index.get(serial);
      if (!old || old.status !== 'valid') continue;
      await revoke(ca, serial, 'superseded');
      this.sawOwnWrite();
      revokedNow.push(serial);
      await this.o.audit.append({
        action: 'certificate.revoke',
        actor: this.o.actor,
        subject: { serial, cn: row.deviceId, deviceId: row.deviceId, ...(device ? { mac: device.mac } : {}) },
        details: { reason: 'superseded', role: 'device', by: 'espfleet ca renewd', replacedBy: row.serial },
      });
    }
    for (const r of stale) await this.journal.put({ ...r, state: 'superseded', updatedAt: now });
    await this.journal.put({ ...row, state: 'confirmed', updatedAt: now });
    await this.o.registry.releaseDevice(row.deviceId, this.claimHolder);
    await this.o.audit.append({
      action: 'certificate.renew',
      actor: this.o.actor,
      subject: { deviceId: row.deviceId, serial: row.serial!, ...(device ? { mac: device.mac } : {}) },
      details: { step: 'confirmed', req: row.req, revoked: revokedNow },
    });
    this.o.log?.(`${row.deviceId}: online on ${row.serial}; revoked ${revokedNow.join(', ') || 'nothing'}`);
    if (revokedNow.length > 0) await this.o.onRevoked?.(revokedNow, this.refreshCa(true));
  }

  /** A journaled certificate the index lost (killed between the two writes) is recorded again. */
  private async ensureIndexed(row: RenewalRow): Promise<void> {
    if (row.serial === null || row.certPem === null || this.refreshCa().index.get(row.serial)) return;
    const x = new X509Certificate(row.certPem);
    const der = x.raw;
    const spki = x.publicKey.export({ type: 'spki', format: 'der' });
    await this.ca.index.append({
      op: 'issue', serialHex: row.serial, cn: row.deviceId, role: 'device', notBefore: new Date(x.validFrom).toISOString(), notAfter: new Date(x.validTo).toISOString(),
      fingerprintSha256: sha256(der), spkiSha256: sha256(spki),
    });
    this.sawOwnWrite();
  }

  private async sendCert(row: RenewalRow): Promise<void> {
    await this.o.publish(issuedTopic(row.deviceId), JSON.stringify({ id: row.req, cert: row.certPem }));
    if (row.state === 'signed') await this.journal.put({ ...row, state: 'published', updatedAt: this.clock().toISOString() });
  }

  private async sendError(deviceId: string, req: string | null, code: string, reason: string): Promise<void> {
    // The agent ignores an answer whose id is not its request's, and gives up on one without a cert.
    await this.o.publish(issuedTopic(deviceId), JSON.stringify({ id: req, error: reason, code }));
  }
}

function checkP256(csr: ParsedCsr): void {
  const type = csr.publicKey.asymmetricKeyType;
  const d = csr.publicKey.asymmetricKeyDetails ?? {};
  if (type === 'ec' && d.namedCurve === 'prime256v1') return;
  const what = type === 'rsa' ? `RSA-${d.modulusLength ?? '?'}` : type === 'ec' ? `EC ${d.namedCurve ?? '?'}` : (type ?? 'unknown');
  throw new RenewalError('renewal.csr.key_not_allowed', `the CSR key is ${what}; renewed device certificates are EC P-256 only`, { hint: 'the board makes P-256 keys (espfleet_keygen)' });
}
