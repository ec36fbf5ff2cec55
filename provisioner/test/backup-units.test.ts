// The parts of `backup` that the CLI round trip does not single out: the snapshot waits for
// the audit log's and the registry's locks (a station writing meanwhile finishes first),
// station files holding a clear private key are refused, and station.toml is rewritten only
// for paths that were outside the station directory (and points at the database of a
// restore into PostgreSQL, keeping the notes of the earlier rewrite).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import TOML from '@iarna/toml';
import { afterAll, describe, expect, it } from 'vitest';
import { sealArchive, openArchive } from '../backup/archive-format.ts';
import { pointRegistryAt, rewriteStationConfig } from '../backup/rewrite-config.ts';
import { snapshotStation } from '../backup/snapshot.ts';
import type { Manifest } from '../backup/manifest.ts';
import { parseStationConfig } from '../station/config.ts';
import { withFileLock } from '../station/file-lock.ts';

const root = mkdtempSync(join(tmpdir(), 'espfleet-backup-units-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function station(name: string, extra = ''): ReturnType<typeof parseStationConfig> {
  const dir = join(root, name);
  mkdirSync(join(dir, 'ca'), { recursive: true });
  writeFileSync(join(dir, 'ca', 'ca.json'), '{}\n');
  writeFileSync(join(dir, 'keys.json'), '{}\n');
  const text = `[station]\nid = "u"\noperator = "o"\n[ca]\ndir = "ca"\n[keystore]\npath = "keys.json"\n${extra}`;
  writeFileSync(join(dir, 'station.toml'), text);
  return { ...parseStationConfig(text, { baseDir: dir, source: join(dir, 'station.toml') }) };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe('backup snapshot', () => {
  it('waits while another writer holds the audit log or the registry lock', async () => {
    const cfg = station('locks');
    for (const held of [cfg.paths.audit, cfg.paths.registry]) {
      let release!: () => void;
      let holding = false;
      const holder = withFileLock(held, () => new Promise<void>((r) => ((holding = true), (release = r))));
      while (!holding) await tick();
      let done = false;
      const snap = snapshotStation(cfg).then((s) => ((done = true), s));
      for (let i = 0; i < 10; i++) await tick();
      expect(done).toBe(false);
      release();
      await holder;
      expect((await snap).files.map((f) => f.role).sort()).toEqual(['ca', 'keystore', 'station-config']);
      expect((await snap).absent).toEqual(['paths.audit', 'paths.registry']);
    }
  });

  it('refuses a station file holding an unencrypted private key', async () => {
    const cfg = station('clear');
    writeFileSync(join(root, 'clear', 'ca', 'device.key.pem'), '-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n');
    await expect(snapshotStation(cfg)).rejects.toMatchObject({ code: 'backup.clear_secret' });
  });

  it('keeps passphrase and key files out, even inside the CA directory', async () => {
    const cfg = station('secrets', '');
    writeFileSync(join(root, 'secrets', 'ca', 'pass'), 'secret\n');
    const withPass = { ...cfg, ca: { ...cfg.ca, passphraseFile: join(root, 'secrets', 'ca', 'pass') } };
    const snap = await snapshotStation(withPass);
    expect(snap.files.map((f) => f.name)).not.toContain('ca/pass');
    expect(snap.secretsNotIncluded).toEqual({ 'ca.passphrase_file': join(root, 'secrets', 'ca', 'pass') });
  });
});

describe('station.toml after a restore', () => {
  const manifest = (locations: Manifest['locations']) => ({ locations }) as Manifest;

  it('is kept byte for byte when every path was under the station directory', () => {
    const text = '# comment\n[ca]\ndir = "ca"\n[keystore]\npath = "./keys.json"\n';
    const r = rewriteStationConfig(text, manifest({ 'ca.dir': 'ca', 'keystore.path': 'keys.json', 'keystore.mirrors': [] }), 'note');
    expect(r).toEqual({ text, rewritten: {} });
  });

  it('points outside paths at the restored files and moves an outside journal dir in', () => {
    const text = '[station]\nid = "u"\noperator = "o"\n[ca]\ndir = "/srv/ca"\n[keystore]\npath = "keys.json"\nmirrors = ["/mnt/usb/k.json"]\n[paths]\njournal_dir = "/var/lib/journal"\n';
    const r = rewriteStationConfig(text, manifest({ 'ca.dir': 'external/ca/ca', 'keystore.path': 'keys.json', 'keystore.mirrors': ['external/keystore-mirror-1/k.json'] }), 'restored');
    expect(r.rewritten).toEqual({ 'ca.dir': 'external/ca/ca', 'keystore.mirrors[0]': 'external/keystore-mirror-1/k.json', 'paths.journal_dir': 'journal' });
    const cfg = parseStationConfig(r.text, { baseDir: '/new' });
    expect(cfg.ca.dir).toBe('/new/external/ca/ca');
    expect(cfg.keystore.mirrors).toEqual(['/new/external/keystore-mirror-1/k.json']);
    expect(cfg.paths.journalDir).toBe('/new/journal');
    expect(r.text.startsWith('# restored\n')).toBe(true);
  });
});

describe('archive format', () => {
  it('round-trips, and tells a wrong passphrase from a damaged header', async () => {
    const cost = { N: 1 << 10, r: 8, p: 1 };
    const sealed = await sealArchive(new TextEncoder().encode('payload'), 'right passphrase', cost);
    expect(new TextDecoder().decode(await openArchive(sealed, 'right passphrase', 'x'))).toBe('payload');
    await expect(openArchive(sealed, 'wrong', 'x')).rejects.toMatchObject({ code: 'backup.bad_passphrase' });
    const text = Buffer.from(sealed).toString('latin1');
    const salt = text.indexOf('"salt":"') + 8;
    const bad = Buffer.from(sealed);
    bad[salt] = bad[salt] === 0x30 ? 0x31 : 0x30;
    await expect(openArchive(bad, 'right passphrase', 'x')).rejects.toMatchObject({ code: 'backup.damaged' });
  });
});

describe('restore into PostgreSQL: station.toml', () => {
  it('sets paths.registry to the URL and keeps every other key and the earlier notes', () => {
    const before = '# Restored by espfleet backup restore from x.efbak.\n# Paths rewritten to the restored files: paths.registry.\n[station]\nid = "u"\noperator = "o"\n\n[paths]\nregistry = "registry.sqlite"\naudit = "audit.jsonl"\n';
    const after = pointRegistryAt(before, 'postgres://espfleet@db.example/fleet2', 'Registry restored into postgres://espfleet@db.example/fleet2.');
    expect(after.split('\n').slice(0, 3)).toEqual(['# Restored by espfleet backup restore from x.efbak.', '# Paths rewritten to the restored files: paths.registry.', '# Registry restored into postgres://espfleet@db.example/fleet2.']);
    expect(TOML.parse(after)).toEqual({ station: { id: 'u', operator: 'o' }, paths: { registry: 'postgres://espfleet@db.example/fleet2', audit: 'audit.jsonl' } });
    expect(TOML.parse(pointRegistryAt('[station]\nid = "u"\n', 'postgres://h/db', 'n'))).toEqual({ station: { id: 'u' }, paths: { registry: 'postgres://h/db' } });
  });
});
