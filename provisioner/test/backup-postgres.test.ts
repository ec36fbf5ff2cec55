// `espfleet backup` of a station whose registry is PostgreSQL: provisioning writes devices
// and the audit chain into the database; `backup create` records backup.create in that
// chain and archives a SQLite export of the registry and chain taken at one moment (the
// manifest names the database, never its password); `backup verify` checks it without the
// database; a restore gives a SQLite station whose `audit verify` passes on the same chain,
// or with --registry fills an empty database instead (`registry status` intact). A
// non-empty database or a damaged archive is refused and nothing is written anywhere.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeystore, initCa } from '../../certs/index.ts';
import { generateSigningKey, signBundle } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { VirtualEsp32, registerSimBoard } from '../../hil-tests/index.ts';
import { chainId } from '../station/audit-log.ts';
import { auditLines } from '../station/audit-sql.ts';
import { openRegistryAt } from '../station/open-registry.ts';
import type { AuditEntry } from '../station/records.ts';
import { HISTORY_TABLES } from '../station/registry-move.ts';
import { espfleet } from './cli-harness.ts';
import { registryBackends } from './registry-backends.ts';
import { stationToml as station } from './station-toml.ts';

const pg = registryBackends().find((b) => b.name === 'postgres')!;
const root = mkdtempSync(join(tmpdir(), 'espfleet-backup-pg-'));
const dir = join(root, 'station');
const unregister: Array<() => void> = [];
afterAll(() => {
  for (const u of unregister) u();
  rmSync(root, { recursive: true, force: true });
});

const PASS = randomBytes(18).toString('base64');
const env = { ESPFLEET_BACKUP_PASSPHRASE: PASS };
const keyFile = join(root, 'secrets', 'keystore.key');
const caPass = join(root, 'secrets', 'ca.pass');
let url = '';

function stationToml(ports: string[], registry: string): string {
  return station({ id: 'pg-line', caPassFile: caPass, keyFile, registry, audit: 'audit.jsonl', ports });
}

async function chainOf(location: string): Promise<{ lines: string[]; anchor: unknown }> {
  const reg = await openRegistryAt(location, { readOnly: true });
  try {
    return { lines: await auditLines(reg), anchor: await reg.auditAnchor() };
  } finally {
    await reg.close();
  }
}

/** Devices and every other history table, each row's values as text, rows sorted. */
async function historyOf(location: string): Promise<Record<string, string[]>> {
  const reg = await openRegistryAt(location, { readOnly: true });
  try {
    const out: Record<string, string[]> = {};
    for (const t of HISTORY_TABLES) {
      out[t] = (await reg.query(`SELECT * FROM ${t}`)).map((r) => JSON.stringify(Object.keys(r).sort().map((k) => [k, r[k] === null || r[k] === undefined ? null : String(r[k])]))).sort();
    }
    return out;
  } finally {
    await reg.close();
  }
}

const fileLines = (path: string) => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');

beforeAll(async () => {
  if (!pg.available) return;
  mkdirSync(dir);
  mkdirSync(join(root, 'secrets'));
  const caPassphrase = randomBytes(24).toString('base64');
  await initCa({ dir: join(dir, 'ca'), passphrase: caPassphrase });
  writeFileSync(caPass, `${caPassphrase}\n`, { mode: 0o600 });
  writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  await createKeystore(join(dir, 'keys.json'), { keyFile });
  const signer = generateSigningKey();
  writeFileSync(join(dir, 'sign0.pub.pem'), signer.publicKeyPem);
  const demo = makeDemoFirmware({ version: '2.1.0', appSize: 0x18000 });
  writeFileSync(join(dir, 'fw.zip'), signBundle(demo.bundle, signer.privateKeyPem, 0));
  const boards = ['a', 'b', 'c'].map((n) => {
    const chip = new VirtualEsp32({ name: `bakpg-${n}-${process.pid}` });
    chip.powerOn();
    unregister.push(registerSimBoard(chip.options.name, chip));
    return `sim://${chip.options.name}`;
  });
  url = await pg.fresh();
  writeFileSync(join(dir, 'station.toml'), stationToml(boards, url));
}, 120_000);

describe.skipIf(!pg.available)('espfleet backup of a station on PostgreSQL (needs initdb)', () => {
  const archive = join(root, 'pg-line.efbak');
  let created: { id: string; auditSeq: number; registryFrom: { backend: string; url: string } };
  let atBackup: { lines: string[]; anchor: unknown };

  it('provisions into the database; backup create records backup.create there and archives an export; backup verify is ok', { timeout: 240_000 }, async () => {
    const p = await espfleet(['provision', '--station', join(dir, 'station.toml')]);
    expect(p.code, p.stderr).toBe(0);
    expect(await historyOf(url)).toMatchObject({ devices: expect.arrayContaining([expect.any(String)]) });
    expect((await historyOf(url)).devices).toHaveLength(3);
    // The station keeps no file chain: it is in the database.
    expect(existsSync(join(dir, 'audit.jsonl'))).toBe(false);

    const c = await espfleet(['backup', 'create', '--station', join(dir, 'station.toml'), '--out', archive, '--json'], { env });
    expect(c.code, c.stderr).toBe(0);
    created = JSON.parse(c.stdout);
    atBackup = await chainOf(url);
    const last = JSON.parse(atBackup.lines.at(-1)!) as AuditEntry;
    expect(last).toMatchObject({ action: 'backup.create', subject: { backup: created.id }, seq: created.auditSeq });
    expect(created).toMatchObject({ counts: { devices: 3, auditEntries: atBackup.lines.length, keystoreRecords: 3 }, registryFrom: { backend: 'postgres', url: url.replace(/:[^:@/]*@/, ':***@') } });
    expect(created.registryFrom.url).toMatch(/^postgres:\/\//);
    expect(existsSync(join(dir, 'audit.jsonl'))).toBe(false);

    const v = await espfleet(['backup', 'verify', archive, '--json'], { env });
    expect(v.code, v.stderr).toBe(0);
    const report = JSON.parse(v.stdout);
    expect(report).toMatchObject({ ok: true, id: created.id, counts: { devices: 3, auditEntries: atBackup.lines.length }, audit: { ok: true, anchored: true }, registryFrom: { backend: 'postgres' } });
    expect(report.files.filter((f: { role: string }) => ['registry', 'audit-log', 'audit-head'].includes(f.role)).map((f: { name: string; role: string }) => [f.role, f.name])).toEqual([
      ['audit-log', 'audit.jsonl'],
      ['audit-head', 'audit.jsonl.head'],
      ['registry', 'registry.sqlite'],
    ]);
  });

  it('restores into a fresh directory as a SQLite station: audit verify passes on the same chain, the devices match', { timeout: 120_000 }, async () => {
    const to = join(root, 'restored-file');
    const r = await espfleet(['backup', 'restore', archive, '--to', to, '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: created.id, auditSeq: atBackup.lines.length, rewritten: { 'paths.registry': 'registry.sqlite' }, registry: join(to, 'registry.sqlite') });
    const station = join(to, 'station.toml');
    expect(readFileSync(station, 'utf8')).toMatch(/registry = "registry.sqlite"/);
    const audit = await espfleet(['audit', 'verify', '--station', station]);
    expect(audit.code, audit.stdout).toBe(0);
    expect(audit.stdout).toContain(`audit log intact: ${atBackup.lines.length + 1} entries`);
    const lines = fileLines(join(to, 'audit.jsonl'));
    expect(lines.slice(0, -1)).toEqual(atBackup.lines);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ action: 'backup.restore', subject: { backup: created.id } });
    const restoredReg = await openRegistryAt(join(to, 'registry.sqlite'), { readOnly: true });
    expect((await restoredReg.auditAnchor())?.chain).toBe(chainId(atBackup.lines[0]!));
    await restoredReg.close();
    expect(await historyOf(join(to, 'registry.sqlite'))).toEqual(await historyOf(url));
  });

  it('restores with --registry into an empty database: devices and chain there, station.toml points at it, registry status intact', { timeout: 120_000 }, async () => {
    const target = await pg.fresh();
    const to = join(root, 'restored-pg');
    const r = await espfleet(['backup', 'restore', archive, '--to', to, '--registry', target, '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: created.id, auditSeq: atBackup.lines.length, rewritten: { 'paths.registry': expect.stringMatching(/^postgres:\/\//) } });
    // No stale file copy of the registry or chain is left in the restored station.
    expect(readdirSync(to).filter((n) => /^(registry\.sqlite|audit\.jsonl)/.test(n))).toEqual([]);
    const chain = await chainOf(target);
    expect(chain.lines.slice(0, -1)).toEqual(atBackup.lines);
    expect(JSON.parse(chain.lines.at(-1)!)).toMatchObject({ action: 'backup.restore', subject: { backup: created.id } });
    expect(await historyOf(target)).toEqual(await historyOf(url));

    const station = join(to, 'station.toml');
    const status = await espfleet(['registry', 'status', '--station', station, '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ backend: 'postgres', devices: 3, audit: { entries: atBackup.lines.length + 1, ok: true } });
    const human = await espfleet(['registry', 'status', '--station', station]);
    expect(human.stdout).toContain('intact');
  });

  it('refuses a database that is not empty and a damaged archive: the database, the target directory and its parent unchanged', { timeout: 120_000 }, async () => {
    const before = await historyOf(url);
    const chainBefore = await chainOf(url);
    const parent = join(root, 'refused');
    mkdirSync(parent);
    const r = await espfleet(['backup', 'restore', archive, '--to', join(parent, 'line'), '--registry', url], { env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('[station.registry.target_not_empty]');
    expect(await historyOf(url)).toEqual(before);
    expect(await chainOf(url)).toEqual(chainBefore);
    expect(readdirSync(parent)).toEqual([]);

    const damaged = join(root, 'damaged.efbak');
    const bytes = readFileSync(archive);
    bytes[bytes.length - 40]! ^= 0x01;
    writeFileSync(damaged, bytes);
    const empty = await pg.fresh();
    const d = await espfleet(['backup', 'restore', damaged, '--to', join(parent, 'line2'), '--registry', empty], { env });
    expect(d.code).not.toBe(0);
    expect(readdirSync(parent)).toEqual([]);
    const untouched = await openRegistryAt(empty, { readOnly: true });
    expect(await untouched.list()).toEqual([]);
    expect(await auditLines(untouched)).toEqual([]);
    await untouched.close();
  });
});
