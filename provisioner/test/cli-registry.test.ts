// `espfleet registry migrate` and `registry status`: a SQLite station's devices, rollout,
// renewal journal, signing-key rotations and audit chain moved into PostgreSQL with the
// hashes unchanged (`audit verify` passes on the target, and the chain goes on there), back
// out into a SQLite file and its audit log, and from one database into another; a repeated move doubles
// nothing; another station's history, a broken source chain and a non-empty target are
// refused and change nothing; a URL's password is never printed. Plus the sslmode mapping.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRollout } from '../fleet/rollout-store.ts';
import { initialState } from '../fleet/rollout-plan.ts';
import { parsePolicy } from '../fleet/rollout-policy.ts';
import { RenewalJournal } from '../renewal/renewal-journal.ts';
import { chainId, headPath, openAuditLog } from '../station/audit-log.ts';
import { auditLines, SqlAuditLog, verifyRegistryAudit } from '../station/audit-sql.ts';
import { openRegistryAt } from '../station/open-registry.ts';
import { LATEST_SCHEMA_VERSION } from '../station/registry-migrations.ts';
import { HISTORY_TABLES, moveRegistry } from '../station/registry-move.ts';
import { postgresConnection, redactUrl } from '../station/registry-postgres.ts';
import { espfleet } from './cli-harness.ts';
import { deviceRecord } from './device-record.ts';
import { postgresCluster, registryBackends } from './registry-backends.ts';

const pg = registryBackends().find((b) => b.name === 'postgres')!;
const dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-registry-'));

/** A SQLite station with `boards` devices, a rollout, a renewal row and an audit log. */
async function sqliteStation(boards: number, tag = 'a'): Promise<{ registry: string; log: string }> {
  const d = mkdtempSync(join(dir, `station-${tag}-`));
  const registry = join(d, 'registry.sqlite');
  const log = join(d, 'audit.jsonl');
  const reg = await openRegistryAt(registry);
  const audit = await openAuditLog(log, { anchor: reg });
  for (let i = 0; i < boards; i++) {
    const id = `esp32_${tag.toUpperCase()}000${i}`;
    await reg.upsert(deviceRecord({ deviceId: id, mac: `24:0a:c4:${tag === 'a' ? '0a' : '0b'}:00:0${i}`, certSerial: `${tag}${i}` }));
    await audit.append({ action: 'provision.done', actor: 'alice', subject: { deviceId: id }, details: { station: `line-${tag}` } });
  }
  const policy = parsePolicy({ waves: '100%', rate: '10/min', maxFailures: '1', minSample: 0, deviceTimeout: '10m' });
  await createRollout(reg, {
    id: `r-${tag}`, actor: 'operator:alice', createdAt: '2026-12-02T10:00:00.000Z',
    spec: { bundle: { path: 'fw.zip', version: '1.1.0', sha256: 'ab'.repeat(32), signedBy: ['k1'] }, url: 'https://ota.example/fw.zip', select: 'all', policy },
    state: initialState([[`esp32_${tag.toUpperCase()}0000`]]),
  });
  await new RenewalJournal(reg).put({
    deviceId: `esp32_${tag.toUpperCase()}0000`, req: 'q1', state: 'confirmed', csrSha256: 'cd'.repeat(32), spkiSha256: null, oldSerial: `${tag}0`, serial: `${tag}9`, notAfter: null,
    certPem: null, errorCode: null, error: null, createdAt: '2026-12-02T11:00:00.000Z', updatedAt: '2026-12-02T11:00:00.000Z',
  });
  await audit.append({ action: 'rollout.start', actor: 'operator:alice', subject: { rollout: `r-${tag}` } });
  // Migration 7's history: a signing-key rotation, one board's step in it, a board's reported keys.
  const T = tag.toUpperCase();
  await reg.run('INSERT INTO signing_key_rotations (rotation_id, status, step, spec_json, actor, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [`rot-${tag}`, 'waiting', 2, '{"old":0,"new":1}', 'operator:alice', '2026-12-02T12:00:00.000Z', '2026-12-02T12:05:00.000Z']);
  await reg.run('INSERT INTO signing_key_rotation_boards (rotation_id, device_id, step, cmd_id, seq, commanded_at) VALUES (?, ?, ?, ?, ?, ?)', [`rot-${tag}`, `esp32_${T}0000`, 2, `cmd-${tag}`, 7, '2026-12-02T12:01:00.000Z']);
  await reg.run('INSERT INTO board_signing_keys (device_id, seq, mask, fingerprints_json, reported_at) VALUES (?, ?, ?, ?, ?)', [`esp32_${T}0000`, 7, 3, '["aa","bb","","","","","",""]', '2026-12-02T12:02:00.000Z']);
  // A lease of a renewal in progress: transient, never moved.
  await reg.claimDevice(`esp32_${T}0000`, 'renewd@line-a', 'renewal', 600_000);
  await reg.close();
  return { registry, log };
}

const fileLines = (path: string) => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');

/** Every history table of a registry, each row's values as text (PostgreSQL returns BIGINT as a string), rows sorted. */
async function historyOf(location: string): Promise<Record<string, string[]>> {
  const reg = await openRegistryAt(location, { readOnly: true });
  try {
    const out: Record<string, string[]> = {};
    for (const t of HISTORY_TABLES) {
      const rows = await reg.query(`SELECT * FROM ${t}`);
      out[t] = rows.map((r) => JSON.stringify(Object.keys(r).sort().map((k) => [k, r[k] === null || r[k] === undefined ? null : String(r[k])]))).sort();
    }
    return out;
  } finally {
    await reg.close();
  }
}

describe.skipIf(!pg.available)('espfleet registry migrate (SQLite ⇄ PostgreSQL, PostgreSQL → PostgreSQL; needs initdb)', () => {
  it('moves devices, rollout, renewals and the audit chain with hashes unchanged; audit verify passes on the target; a repeat doubles nothing', { timeout: 120_000 }, async () => {
    const src = await sqliteStation(3);
    const url = await pg.fresh();
    const r = await espfleet(['registry', 'migrate', '--from', `sqlite:${src.registry}`, '--to', url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('3 devices, 1 rollouts (1 board rows), 1 renewal rows');
    expect(r.stdout).toContain('4 audit entries, hashes unchanged');
    expect(r.stdout).toContain("1 signing-key rotations (1 board rows), 1 boards' reported signing keys");
    // Every history table arrives row for row, migration 7's signing-key tables too; the claim does not.
    const moved = await historyOf(url);
    expect(moved).toEqual(await historyOf(src.registry));
    expect(moved.signing_key_rotations).toHaveLength(1);
    expect(moved.board_signing_keys).toHaveLength(1);

    const reg = await openRegistryAt(url);
    expect(await reg.deviceClaim('esp32_A0000')).toBeUndefined();
    expect(await auditLines(reg)).toEqual(fileLines(src.log));
    expect((await reg.list()).map((d) => d.deviceId)).toEqual(['esp32_A0000', 'esp32_A0001', 'esp32_A0002']);
    expect((await new RenewalJournal(reg).get('esp32_A0000', 'q1'))?.serial).toBe('a9');
    const verify = await espfleet(['audit', 'verify', '--registry', url]);
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.stdout).toMatch(/^audit chain intact: 4 entries \(in the registry postgres:\/\/.*\); matches its anchor \(4 entries\)/);

    await reg.close();

    // The same move again: accepted (same chain), nothing doubled.
    const again = await espfleet(['registry', 'migrate', '--from', src.registry, '--to', url, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ devices: 3, auditEntries: 4, auditAlreadyThere: 4 });
    const after = await openRegistryAt(url);
    expect(await after.list()).toHaveLength(3);
    expect(await verifyRegistryAudit(after)).toMatchObject({ ok: true, entries: 4 });
    expect(Number((await after.query('SELECT COUNT(*) AS n FROM rollouts'))[0]?.n)).toBe(1);
    expect(Number((await after.query('SELECT COUNT(*) AS n FROM rollout_boards'))[0]?.n)).toBe(1);

    // The chain goes on in the database, one entry after the moved ones.
    const next = await new SqlAuditLog(after).append({ action: 'certificate.revoke', actor: 'alice', subject: { deviceId: 'esp32_A0001' } });
    expect(next.seq).toBe(4);
    expect(await verifyRegistryAudit(after)).toMatchObject({ ok: true, entries: 5 });
    await after.close();
    // Once the database has gone on, the old file is not moved over it again.
    const stale = await espfleet(['registry', 'migrate', '--from', src.registry, '--to', url]);
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toContain('[station.registry.target_not_empty]');
  });

  it("refuses another station's history into a non-empty target, and a broken source chain; neither changes the target", { timeout: 120_000 }, async () => {
    const a = await sqliteStation(2, 'a');
    const b = await sqliteStation(2, 'b');
    const url = await pg.fresh();
    expect((await espfleet(['registry', 'migrate', '--from', a.registry, '--to', url])).code).toBe(0);
    const refused = await espfleet(['registry', 'migrate', '--from', b.registry, '--to', url]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('[station.registry.target_not_empty]');
    const reg = await openRegistryAt(url, { readOnly: true });
    expect((await reg.list()).map((d) => d.deviceId)).toEqual(['esp32_A0000', 'esp32_A0001']);
    expect(await auditLines(reg)).toEqual(fileLines(a.log));
    await reg.close();

    // One edited character in the source log: refused before the target is opened.
    const broken = await sqliteStation(2, 'c');
    const lines = fileLines(broken.log);
    lines[0] = lines[0]!.replace('alice', 'mallo');
    writeFileSync(broken.log, `${lines.join('\n')}\n`);
    const empty = await pg.fresh();
    const bad = await espfleet(['registry', 'migrate', '--from', broken.registry, '--to', empty]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/fails verification at line 1.*nothing was moved \[station\.registry\.bad_move\]/);
    const untouched = await openRegistryAt(empty, { readOnly: true });
    expect(await untouched.list()).toEqual([]);
    expect(await auditLines(untouched)).toEqual([]);
    await untouched.close();
  });

  it('PostgreSQL → SQLite: a new registry file and audit.jsonl (and head) beside it; audit verify passes with the same chain; a repeat adds nothing', { timeout: 120_000 }, async () => {
    const src = await sqliteStation(2, 'd');
    const url = await pg.fresh();
    expect((await espfleet(['registry', 'migrate', '--from', src.registry, '--to', url])).code).toBe(0);
    // The chain goes on in the database before it is exported again.
    const pgReg = await openRegistryAt(url);
    await new SqlAuditLog(pgReg).append({ action: 'certificate.revoke', actor: 'alice', subject: { deviceId: 'esp32_D0001' } });
    const pgLines = await auditLines(pgReg);
    const pgAnchor = await pgReg.auditAnchor();
    await pgReg.close();
    expect(pgLines).toHaveLength(4);

    const out = join(mkdtempSync(join(dir, 'export-')), 'registry.sqlite');
    const log = join(dirname(out), 'audit.jsonl');
    const r = await espfleet(['registry', 'migrate', '--from', url, '--to', `sqlite:${out}`, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ to: out, targetAuditLog: log, devices: 2, auditEntries: 4, auditAlreadyThere: 0, signingKeyRotations: 1, boardSigningKeys: 1 });
    expect(fileLines(log)).toEqual(pgLines);
    expect(existsSync(headPath(log))).toBe(true);
    const verify = await espfleet(['audit', 'verify', '--registry', out, '--audit-log', log, '--json']);
    expect(verify.code, verify.stdout).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, entries: 4 });
    const fileReg = await openRegistryAt(out, { readOnly: true });
    expect(await fileReg.auditAnchor()).toEqual(pgAnchor);
    expect(pgAnchor?.chain).toBe(chainId(fileLines(src.log)[0]!));
    await fileReg.close();
    expect(await historyOf(out)).toEqual(await historyOf(url));

    // Again: nothing added, the files as they were.
    const before = [readFileSync(out), readFileSync(log)];
    const again = await espfleet(['registry', 'migrate', '--from', url, '--to', out, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ auditEntries: 4, auditAlreadyThere: 4 });
    expect(fileLines(log)).toEqual(pgLines);
    expect(readFileSync(log)).toEqual(before[1]);
    expect(await historyOf(out)).toEqual(await historyOf(url));
  });

  it('PostgreSQL → PostgreSQL: every table and the chain; a repeat adds nothing; the source is unchanged', { timeout: 120_000 }, async () => {
    const src = await sqliteStation(3, 'e');
    const a = await pg.fresh();
    expect((await espfleet(['registry', 'migrate', '--from', src.registry, '--to', a])).code).toBe(0);
    const sourceBefore = await historyOf(a);
    const b = await pg.fresh();
    const r = await espfleet(['registry', 'migrate', '--from', a, '--to', b]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('3 devices, 1 rollouts (1 board rows), 1 renewal rows');
    expect(await historyOf(b)).toEqual(sourceBefore);
    const regA = await openRegistryAt(a, { readOnly: true });
    const regB = await openRegistryAt(b, { readOnly: true });
    expect(await auditLines(regB)).toEqual(await auditLines(regA));
    expect(await regB.auditAnchor()).toEqual(await regA.auditAnchor());
    await regA.close();
    await regB.close();
    const verify = await espfleet(['audit', 'verify', '--registry', b]);
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.stdout).toMatch(/^audit chain intact: 4 entries/);
    const again = await espfleet(['registry', 'migrate', '--from', a, '--to', b, '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ auditEntries: 4, auditAlreadyThere: 4 });
    expect(await historyOf(b)).toEqual(sourceBefore);
    expect(await historyOf(a)).toEqual(sourceBefore);
  });

  it('a station appending meanwhile cannot tear the export: each one is a verified prefix of the chain', { timeout: 120_000 }, async () => {
    const src = await sqliteStation(1, 'h');
    const url = await pg.fresh();
    expect((await espfleet(['registry', 'migrate', '--from', src.registry, '--to', url])).code).toBe(0);
    const writer = await openRegistryAt(url);
    const log = new SqlAuditLog(writer);
    let appending = true;
    const appends = (async () => {
      for (let i = 0; appending && i < 200; i++) await log.append({ action: 'certificate.renew', actor: 'renewd', subject: { deviceId: 'esp32_H0000' }, details: { i } });
    })();
    const exports: string[][] = [];
    for (let k = 0; k < 4; k++) {
      const out = join(mkdtempSync(join(dir, 'during-')), 'registry.sqlite');
      await moveRegistry({ from: url, to: out });
      const verdict = await espfleet(['audit', 'verify', '--registry', out, '--audit-log', join(dirname(out), 'audit.jsonl'), '--json']);
      expect(verdict.code, verdict.stdout).toBe(0);
      exports.push(fileLines(join(dirname(out), 'audit.jsonl')));
    }
    appending = false;
    await appends;
    const final = await auditLines(writer);
    await writer.close();
    for (const lines of exports) expect(final.slice(0, lines.length)).toEqual(lines);
    expect(exports.at(-1)!.length).toBeGreaterThanOrEqual(exports[0]!.length);
  });

  it('refuses a foreign non-empty target of either kind and leaves it as it was; a refused new file is not left behind', { timeout: 120_000 }, async () => {
    const a = await sqliteStation(1, 'f');
    const b = await sqliteStation(1, 'g');
    const url = await pg.fresh();
    expect((await espfleet(['registry', 'migrate', '--from', a.registry, '--to', url])).code).toBe(0);
    // PostgreSQL → a SQLite file of another station.
    const before = [readFileSync(b.registry), readFileSync(b.log)];
    const intoFile = await espfleet(['registry', 'migrate', '--from', url, '--to', b.registry]);
    expect(intoFile.code).not.toBe(0);
    expect(intoFile.stderr).toContain('[station.registry.target_not_empty]');
    expect(readFileSync(b.registry)).toEqual(before[0]);
    expect(readFileSync(b.log)).toEqual(before[1]);
    // A new registry file beside another station's audit log: refused, and no registry file is created.
    const lonely = join(mkdtempSync(join(dir, 'lonely-')), 'registry.sqlite');
    writeFileSync(join(dirname(lonely), 'audit.jsonl'), readFileSync(b.log));
    const beside = await espfleet(['registry', 'migrate', '--from', url, '--to', lonely]);
    expect(beside.stderr).toContain('[station.registry.target_not_empty]');
    expect(existsSync(lonely)).toBe(false);
    // PostgreSQL → a database holding another station.
    const other = await pg.fresh();
    expect((await espfleet(['registry', 'migrate', '--from', b.registry, '--to', other])).code).toBe(0);
    const otherBefore = await historyOf(other);
    const intoPg = await espfleet(['registry', 'migrate', '--from', url, '--to', other]);
    expect(intoPg.stderr).toContain('[station.registry.target_not_empty]');
    expect(await historyOf(other)).toEqual(otherBefore);
  });

  it('registry status names the backend and what it holds, never the password', { timeout: 60_000 }, async () => {
    const src = await sqliteStation(1);
    const url = await pg.fresh();
    await espfleet(['registry', 'migrate', '--from', src.registry, '--to', url]);
    // The test cluster trusts local connections: the password is accepted and ignored.
    const withPassword = url.replace('espfleet@', 'espfleet:s3cr3t-pw@');
    const r = await espfleet(['registry', 'status', '--registry', withPassword, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ backend: 'postgres', schemaVersion: LATEST_SCHEMA_VERSION, devices: 1, audit: { entries: 2, ok: true } });
    expect(r.stdout + r.stderr).not.toContain('s3cr3t-pw');
    expect(JSON.parse(r.stdout).registry).toContain('espfleet:***@');
    const viaEnv = await espfleet(['registry', 'status'], { env: { ESPFLEET_REGISTRY: withPassword } });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    expect(viaEnv.stdout).toContain('registry: PostgreSQL postgres://espfleet:***@127.0.0.1');
    expect(viaEnv.stdout).toContain('audit chain: 2 entries in the registry, intact');
    const sqlite = await espfleet(['registry', 'status', '--registry', src.registry]);
    expect(sqlite.code, sqlite.stderr).toBe(0);
    expect(sqlite.stdout).toContain(`registry: SQLite file ${src.registry}`);
    expect(sqlite.stdout).toContain(`audit chain: 2 entries in ${src.log}, intact`);
  });

  it('a database that does not answer: station.registry.unreachable after the bounded retry, the password redacted', { timeout: 60_000 }, async () => {
    const cluster = await postgresCluster();
    // A port next to the cluster's with nothing listening.
    const url = `postgres://espfleet:s3cr3t-pw@127.0.0.1:${cluster.port === 65535 ? 1 : cluster.port + 1}/espfleet`;
    const err = await openRegistryAt(url, { retryForMs: 800 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'station.registry.unreachable' });
    expect((err as Error).message).toContain('postgres://espfleet:***@127.0.0.1');
    expect((err as Error).message).not.toContain('s3cr3t-pw');
  });
});

describe('database URLs', () => {
  it('sslmode maps to TLS options; an unknown mode and an unreadable root certificate are refused', () => {
    const ca = join(dir, 'root.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    expect(postgresConnection('postgres://u:p%40ss@db.example:6543/fleet')).toMatchObject({ host: 'db.example', port: 6543, user: 'u', password: 'p@ss', database: 'fleet', ssl: false });
    expect(postgresConnection('postgres://db.example/fleet?sslmode=require').ssl).toEqual({ rejectUnauthorized: false });
    const full = postgresConnection(`postgres://db.example/fleet?sslmode=verify-full&sslrootcert=${ca}`).ssl as { ca: string; rejectUnauthorized: boolean; checkServerIdentity?: unknown };
    expect(full).toEqual({ ca: readFileSync(ca, 'utf8'), rejectUnauthorized: true });
    const vca = postgresConnection(`postgres://db.example/fleet?sslmode=verify-ca&sslrootcert=${ca}`).ssl as { checkServerIdentity?: unknown };
    expect(typeof vca.checkServerIdentity).toBe('function');
    expect(() => postgresConnection('postgres://db.example/fleet?sslmode=prefer')).toThrow(expect.objectContaining({ code: 'station.registry.bad_url' }));
    expect(() => postgresConnection('postgres://db.example/fleet?sslmode=verify-full&sslrootcert=/nonexistent.pem')).toThrow(/cannot read sslrootcert \/nonexistent.pem/);
    expect(redactUrl('postgres://alice:hunter2@db.example/fleet')).toBe('postgres://alice:***@db.example/fleet');
    expect(redactUrl('postgres://alice@db.example/fleet')).toBe('postgres://alice@db.example/fleet');
  });
});
