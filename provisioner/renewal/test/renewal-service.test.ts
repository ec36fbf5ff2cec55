// The renewal service's decisions, without a broker: hostile CSRs (made by openssl) are each
// refused with a reason and nothing issued; a good one is signed once, journaled before it
// leaves, re-sent unchanged, and the old certificate revoked only when the board's status
// shows the new one; a service killed between signing and publishing re-sends after restart.
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCrl, initCa, issueDeviceCert, openCa, openCaRecords, revoke, type Ca } from '../../../certs/index.ts';
import { expectOk, openssl } from '../../../scripts/lib/oracles.ts';
import { openAuditLog } from '../../station/audit-log.ts';
import type { DeviceRecord } from '../../station/records.ts';
import { openRegistry, type SqliteRegistry } from '../../station/registry-sqlite.ts';
import { parseRateLimit } from '../rate-limit.ts';
import { RenewalService } from '../renewal-service.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-renewal-'));
const passphrase = randomBytes(18).toString('base64');
let ca: Ca;
let registry: SqliteRegistry;
const sent: Array<{ topic: string; msg: { id: string | null; cert?: string; error?: string; code?: string } }> = [];
const oldCerts = new Map<string, { serialHex: string; keyPath: string }>();
let failPublish = false;

afterAll(async () => {
  await registry?.close();
  rmSync(dir, { recursive: true, force: true });
});

function record(id: string, n: number, serial: string, status: DeviceRecord['status'] = 'provisioned'): DeviceRecord {
  const at = new Date().toISOString();
  return {
    deviceId: id, mac: `24:0a:c4:00:00:${n.toString(16).padStart(2, '0')}`, chipRevision: '3', certSerial: serial, certFingerprintSha256: null, certNotAfter: null,
    firmwareVersion: '1.0.0', encryptionMode: 'off', keystoreRef: null, station: 'line1', operator: 'tech', status, reason: null, createdAt: at, updatedAt: at,
  };
}

async function service(opts: { rate?: string; ca?: Ca; onRevoked?: (serials: string[], ca: Ca) => Promise<void> } = {}): Promise<RenewalService> {
  const audit = await openAuditLog(join(dir, 'audit.jsonl'), { anchor: registry });
  return new RenewalService({
    ca: opts.ca ?? ca, registry, audit, actor: 'renewer:test', rateLimit: parseRateLimit(opts.rate ?? '10/1d'),
    ...(opts.onRevoked ? { onRevoked: opts.onRevoked } : {}),
    publish: async (topic, payload) => {
      if (failPublish) throw new Error('killed before the publish');
      sent.push({ topic, msg: JSON.parse(payload) });
    },
  });
}

let n = 0;
async function csr(subject: string, keyArgs: string[] = ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], keyPath?: string): Promise<string> {
  const key = keyPath ?? join(dir, `k${n++}.pem`);
  if (!keyPath) expectOk(await openssl(['genpkey', ...keyArgs, '-out', key]), 'genpkey');
  return expectOk(await openssl(['req', '-new', '-key', key, '-subj', subject]), 'req -new');
}
const msg = (o: unknown) => Buffer.from(JSON.stringify(o));
const auditLines = () => readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
// What is on disk: the service re-reads the CA when another process (this test) changed it.
const onDisk = () => openCaRecords(join(dir, 'ca')).index;
const issuedCount = () => onDisk().all().filter((r) => r.role === 'device').length;

beforeAll(async () => {
  ca = await initCa({ dir: join(dir, 'ca'), passphrase });
  registry = await openRegistry(join(dir, 'registry.sqlite'));
  for (const [i, id] of ['board-a', 'board-b', 'board-c', 'board-r'].entries()) {
    const c = await issueDeviceCert(ca, { cn: id });
    const keyPath = join(dir, `${id}.current.key`);
    writeFileSync(keyPath, c.privateKeyPem, { mode: 0o600 });
    oldCerts.set(id, { serialHex: c.serialHex, keyPath });
    await registry.upsert(record(id, i, c.serialHex, id === 'board-r' ? 'revoked' : 'provisioned'));
  }
}, 60_000);

describe('hostile CSRs: each refused with a reason on cert/issued, audited, nothing issued', () => {
  const cases: Array<{ name: string; device: string; payload: () => Promise<Buffer>; code: string; id: string | null }> = [
    { name: 'wrong CN in the CSR', device: 'board-a', id: 'h1', code: 'certs.csr.cn_mismatch', payload: async () => msg({ id: 'h1', cn: 'board-a', csr: await csr('/CN=someone-else') }) },
    { name: "another registered device's CN on its own topic", device: 'board-a', id: 'h2', code: 'certs.csr.cn_mismatch', payload: async () => msg({ id: 'h2', cn: 'board-a', csr: await csr('/CN=board-b') }) },
    { name: "another device's id in the message", device: 'board-a', id: 'h3', code: 'renewal.csr.cn_mismatch', payload: async () => msg({ id: 'h3', cn: 'board-b', csr: await csr('/CN=board-b') }) },
    { name: 'an RSA-2048 key', device: 'board-a', id: 'h4', code: 'renewal.csr.key_not_allowed', payload: async () => msg({ id: 'h4', cn: 'board-a', csr: await csr('/CN=board-a', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']) }) },
    { name: 'a weak RSA-1024 key', device: 'board-a', id: 'h5', code: 'renewal.csr.key_not_allowed', payload: async () => msg({ id: 'h5', cn: 'board-a', csr: await csr('/CN=board-a', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024']) }) },
    { name: 'an EC P-384 key', device: 'board-a', id: 'h6', code: 'renewal.csr.key_not_allowed', payload: async () => msg({ id: 'h6', cn: 'board-a', csr: await csr('/CN=board-a', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384']) }) },
    { name: 'the same key as the current certificate', device: 'board-a', id: 'h7', code: 'renewal.csr.same_key', payload: async () => msg({ id: 'h7', cn: 'board-a', csr: await csr('/CN=board-a', [], oldCerts.get('board-a')!.keyPath) }) },
    { name: "another device's certified key", device: 'board-a', id: 'h8', code: 'renewal.csr.key_in_use', payload: async () => msg({ id: 'h8', cn: 'board-a', csr: await csr('/CN=board-a', [], oldCerts.get('board-b')!.keyPath) }) },
    { name: 'garbage (not JSON)', device: 'board-a', id: null, code: 'renewal.csr.not_json', payload: async () => Buffer.from(randomBytes(300)) },
    { name: 'a message without an id', device: 'board-a', id: null, code: 'renewal.csr.bad_message', payload: async () => msg({ csr: 'x' }) },
    { name: 'a CSR that is not one', device: 'board-a', id: 'h9', code: 'certs.csr.malformed', payload: async () => msg({ id: 'h9', csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' }) },
    { name: 'a tampered CSR (signature does not verify)', device: 'board-a', id: 'h10', code: 'certs.csr.bad_signature', payload: async () => msg({ id: 'h10', csr: tamper(await csr('/CN=board-a')) }) },
    { name: 'an oversized message', device: 'board-a', id: null, code: 'renewal.csr.too_large', payload: async () => msg({ id: 'h11', csr: 'A'.repeat(9000) }) },
    { name: 'an unknown device', device: 'board-x', id: 'h12', code: 'renewal.device.unknown', payload: async () => msg({ id: 'h12', csr: await csr('/CN=board-x') }) },
    { name: 'a revoked device', device: 'board-r', id: 'h13', code: 'renewal.device.not_allowed', payload: async () => msg({ id: 'h13', csr: await csr('/CN=board-r') }) },
  ];
  for (const c of cases) {
    it(`refuses ${c.name} [${c.code}]`, async () => {
      const s = await service();
      const before = issuedCount();
      const k = sent.length;
      const out = await s.handleCsr(c.device, await c.payload());
      expect(out).toMatchObject({ kind: 'refused', code: c.code, req: c.id });
      expect(sent.slice(k)).toEqual([{ topic: `devices/${c.device}/cert/issued`, msg: { id: c.id, error: expect.any(String), code: c.code } }]);
      expect(issuedCount()).toBe(before);
      if (c.id !== null) expect(await s.journal.get(c.device, c.id)).toMatchObject({ state: 'refused', errorCode: c.code, serial: null });
      expect(auditLines().at(-1)).toMatchObject({ action: 'certificate.renew_refused', subject: { deviceId: c.device }, details: { req: c.id, code: c.code } });
    }, 30_000);
  }
});

function tamper(pem: string): string {
  const lines = pem.trim().split('\n');
  const body = Buffer.from(lines.slice(1, -1).join(''), 'base64');
  body[body.length - 5] = body[body.length - 5]! ^ 0x01; // inside the signature
  return `${lines[0]}\n${body.toString('base64')}\n${lines.at(-1)}\n`;
}

describe('a good CSR', () => {
  let req1: Buffer;
  let serial = '';
  it('is signed once, journaled, published as {id, cert}; the same message again gets the same certificate', async () => {
    const s = await service();
    const before = issuedCount();
    req1 = msg({ id: 'g1', cn: 'board-a', csr: await csr('/CN=board-a') });
    const out = await s.handleCsr('board-a', req1);
    expect(out).toMatchObject({ kind: 'issued', repeated: false });
    serial = (out as { serial: string }).serial;
    const answer = sent.at(-1)!;
    expect(answer.topic).toBe('devices/board-a/cert/issued');
    expect(answer.msg.id).toBe('g1');
    const leaf = new X509Certificate(answer.msg.cert!);
    expect(leaf.subject).toBe('CN=board-a');
    expect(leaf.serialNumber.toLowerCase()).toBe(serial);
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(await s.journal.get('board-a', 'g1')).toMatchObject({ state: 'published', serial, oldSerial: oldCerts.get('board-a')!.serialHex });
    expect(issuedCount()).toBe(before + 1);
    const again = await s.handleCsr('board-a', req1);
    expect(again).toMatchObject({ kind: 'issued', repeated: true, serial });
    expect(sent.at(-1)!.msg.cert).toBe(answer.msg.cert);
    expect(issuedCount()).toBe(before + 1);
  }, 30_000);

  it('replays are refused: the same id with another CSR, and the certified CSR under a new id', async () => {
    const s = await service();
    const before = issuedCount();
    expect(await s.handleCsr('board-a', msg({ id: 'g1', cn: 'board-a', csr: await csr('/CN=board-a') }))).toMatchObject({ kind: 'refused', code: 'renewal.csr.replayed' });
    const old = JSON.parse(req1.toString()) as { csr: string };
    expect(await s.handleCsr('board-a', msg({ id: 'g1-again', cn: 'board-a', csr: old.csr }))).toMatchObject({ kind: 'refused', code: 'renewal.csr.same_key' });
    expect(issuedCount()).toBe(before);
    expect((await s.journal.get('board-a', 'g1'))?.state).toBe('published'); // the first row is kept
  }, 30_000);

  it('keeps the old certificate until the status shows the new one, then revokes it and the registry names the new one', async () => {
    const s = await service();
    const row = (await s.journal.get('board-a', 'g1'))!;
    const oldSerial = oldCerts.get('board-a')!.serialHex;
    // Online, but still on the old certificate: nothing changes.
    expect(await s.handleStatus('board-a', msg({ online: true, cert_expiry: 12345 }))).toBeUndefined();
    expect(onDisk().get(oldSerial)?.status).toBe('valid');
    const exp = Date.parse(row.notAfter!) / 1000;
    expect(await s.handleStatus('board-a', msg({ online: false, cert_expiry: exp }))).toBeUndefined();
    expect(await s.handleStatus('board-a', msg({ online: true, cert_expiry: exp }))).toMatchObject({ serial });
    expect(onDisk().get(oldSerial)).toMatchObject({ status: 'revoked', reason: 'superseded' });
    expect(await registry.get('board-a')).toMatchObject({ certSerial: serial, certNotAfter: row.notAfter });
    expect((await s.journal.get('board-a', 'g1'))?.state).toBe('confirmed');
    // The retained status again (a restart): nothing more to do.
    expect(await s.handleStatus('board-a', msg({ online: true, cert_expiry: exp }))).toBeUndefined();
  }, 30_000);

  it('is rate limited per device', async () => {
    const s = await service({ rate: '1/1d' });
    const before = issuedCount();
    expect(await s.handleCsr('board-a', msg({ id: 'g2', csr: await csr('/CN=board-a') }))).toMatchObject({ kind: 'refused', code: 'renewal.rate_limited' });
    expect(issuedCount()).toBe(before);
  }, 30_000);
});

describe('one process changes a board at a time', () => {
  it('a board a USB rotation holds is refused with station.registry.device_busy, nothing issued; free again once released', async () => {
    const s = await service();
    const before = issuedCount();
    await registry.claimDevice('board-b', 'rotate-cert:bob@bench2:4242', 'rotation', 60_000);
    const out = await s.handleCsr('board-b', msg({ id: 'b1', cn: 'board-b', csr: await csr('/CN=board-b') }));
    expect(out).toMatchObject({ kind: 'refused', code: 'station.registry.device_busy' });
    expect((out as { reason: string }).reason).toContain('claimed for rotation by rotate-cert:bob@bench2:4242');
    expect(issuedCount()).toBe(before);
    expect(await s.journal.get('board-b', 'b1')).toMatchObject({ state: 'refused', errorCode: 'station.registry.device_busy', serial: null });
    await registry.releaseDevice('board-b', 'rotate-cert:bob@bench2:4242');
    expect(await registry.deviceClaim('board-b')).toBeUndefined();
  }, 30_000);
});

describe('killed between signing and publishing', () => {
  it('after a restart the journaled certificate goes out again, once; a re-sent CSR gets it too', async () => {
    const first = await service();
    const before = issuedCount();
    const k = sent.length;
    const m = msg({ id: 'k1', cn: 'board-c', csr: await csr('/CN=board-c') });
    failPublish = true;
    await expect(first.handleCsr('board-c', m)).rejects.toThrow(/killed before the publish/);
    failPublish = false;
    expect(sent.length).toBe(k);
    const row = (await first.journal.get('board-c', 'k1'))!;
    expect(row).toMatchObject({ state: 'signed' });
    // Restart: the CA opened again from disk, a new service.
    const again = await service({ ca: openCa(join(dir, 'ca'), passphrase) });
    expect(await again.recover()).toBe(1);
    expect(sent.slice(k)).toEqual([{ topic: 'devices/board-c/cert/issued', msg: { id: 'k1', cert: row.certPem } }]);
    expect((await again.journal.get('board-c', 'k1'))?.state).toBe('published');
    expect(await again.handleCsr('board-c', m)).toMatchObject({ kind: 'issued', repeated: true, serial: row.serial });
    expect(issuedCount()).toBe(before + 1);
    expect(await again.recover()).toBe(0);

    // Another espfleet process (ca revoke, ca crl) changes the CA while this service runs. The
    // CRL published when board-c comes online on its new certificate carries its revocation
    // too, and its CRL number follows the other process's.
    const third = await service({ ca: openCa(join(dir, 'ca'), passphrase), onRevoked: async (_s, current) => void (crl = buildCrl(current, { writeToCaDir: false })) });
    let crl: ReturnType<typeof buildCrl> | undefined;
    const other = openCa(join(dir, 'ca'), passphrase);
    await revoke(other, oldCerts.get('board-b')!.serialHex, 'keyCompromise');
    const otherNumber = buildCrl(other, { writeToCaDir: false }).crlNumber;
    expect(await third.handleStatus('board-c', msg({ online: true, cert_expiry: Date.parse(row.notAfter!) / 1000 }))).toMatchObject({ serial: row.serial });
    expect(crl?.revokedSerials).toEqual(expect.arrayContaining([oldCerts.get('board-c')!.serialHex, oldCerts.get('board-b')!.serialHex]));
    expect(crl?.crlNumber).toBe(otherNumber + 1);
  }, 30_000);
});
