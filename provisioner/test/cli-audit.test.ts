// `espfleet audit verify`: exit 0 for an intact log, 1 naming the first bad line.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJson, headPath, openAuditLog } from '../station/audit-log.ts';
import { openRegistry } from '../station/registry-sqlite.ts';
import { espfleet } from './cli-harness.ts';

/** A station directory whose log has n entries; `anchored`: written as the station does, with the registry's anchor. */
async function station(n: number, anchored = false): Promise<{ dir: string; log: string; registry: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-audit-'));
  writeFileSync(join(dir, 'station.toml'), '[station]\nid = "line1"\noperator = "alice"\n[paths]\naudit = "logs/audit.jsonl"\n');
  mkdirSync(join(dir, 'logs'));
  const log = join(dir, 'logs/audit.jsonl');
  const registry = join(dir, 'registry.sqlite');
  const reg = anchored ? await openRegistry(registry) : undefined;
  const audit = await openAuditLog(log, reg ? { anchor: reg } : {});
  for (let i = 0; i < n; i++) await audit.append({ action: 'provision.done', actor: 'alice', subject: { deviceId: `esp32_00000${i}` } });
  await reg?.close();
  return { dir, log, registry };
}

describe('espfleet audit verify', () => {
  it('an intact log: exit 0, text and JSON', async () => {
    const { dir, log } = await station(5);
    const text = await espfleet(['audit', 'verify', '--station', join(dir, 'station.toml')]);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe(`audit log intact: 5 entries (${log}); not checked against a registry anchor (no registry at ${join(dir, 'registry.sqlite')})\n`);
    const json = await espfleet(['audit', 'verify', '--audit-log', 'logs/audit.jsonl', '--json'], { cwd: dir });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ path: log, ok: true, entries: 5, anchor: null });
    const viaCwd = await espfleet(['audit', 'verify'], { cwd: dir });
    expect(viaCwd.code).toBe(0);
  });

  it('an edited line: exit 1 with the line and the reason', async () => {
    const { dir, log } = await station(5);
    const lines = readFileSync(log, 'utf8').split('\n');
    lines[2] = lines[2]!.replace('esp32_000002', 'esp32_999999');
    writeFileSync(log, lines.join('\n'));
    const r = await espfleet(['audit', 'verify'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`audit log BROKEN at line 3: hash does not match the entry (the line was edited) (${log}; 2 entries verified before it)\n`);
    const json = await espfleet(['audit', 'verify', '--json'], { cwd: dir });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, entries: 2, problem: { line: 3 } });
  });

  it('a truncated log: exit 1 naming the last line', async () => {
    const { log } = await station(4);
    const text = readFileSync(log, 'utf8');
    writeFileSync(log, text.slice(0, text.length - 20));
    const r = await espfleet(['audit', 'verify', '--audit-log', log]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^audit log BROKEN at line 4: incomplete last line/);
  });

  it('the last line removed and the head deleted: exit 1 (a missing head is a finding)', async () => {
    const { log } = await station(4);
    const lines = readFileSync(log, 'utf8').trimEnd().split('\n');
    writeFileSync(log, `${lines.slice(0, 3).join('\n')}\n`);
    rmSync(headPath(log));
    const r = await espfleet(['audit', 'verify', '--audit-log', log]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`audit log BROKEN at line 4: the head file ${headPath(log)} is missing: lines may have been removed from the end (${log}; 3 entries verified before it)\n`);
  });

  it('lines removed with a matching head written: the station registry anchor finds it', async () => {
    const { dir, log, registry } = await station(5, true);
    const ok = await espfleet(['audit', 'verify'], { cwd: dir });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe(`audit log intact: 5 entries (${log}); matches the anchor in ${registry} (5 entries)\n`);
    const lines = readFileSync(log, 'utf8').trimEnd().split('\n');
    writeFileSync(log, `${lines.slice(0, 3).join('\n')}\n`);
    writeFileSync(headPath(log), `${canonicalJson({ entries: 3, last: createHash('sha256').update(lines[2]!).digest('hex') })}\n`);
    const r = await espfleet(['audit', 'verify', '--station', join(dir, 'station.toml')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`audit log BROKEN at line 4: missing: the registry ${registry} anchors 5 entries but the log has 3 (lines removed from the end) (${log}; 3 entries verified before it)\n`);
    const byFlags = await espfleet(['audit', 'verify', '--audit-log', log, '--registry', registry, '--json']);
    expect(byFlags.code).toBe(1);
    expect(JSON.parse(byFlags.stdout)).toMatchObject({ ok: false, entries: 3, anchor: { registry, entries: 5 } });
    // The log and its head deleted altogether: still found.
    rmSync(log);
    rmSync(headPath(log));
    const gone = await espfleet(['audit', 'verify'], { cwd: dir });
    expect(gone.code).toBe(1);
    expect(gone.stdout).toMatch(/^audit log BROKEN at line 1: missing: the registry .* anchors 5 entries but the log has 0/);
  });

  it('a missing log is an error, not "intact"', async () => {
    const r = await espfleet(['audit', 'verify', '--audit-log', join(tmpdir(), 'no-such-audit.jsonl')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no audit log at .* \[station\.audit\.not_found\]/);
  });

  it('--help has examples and the exit status', async () => {
    const r = await espfleet(['audit', 'verify', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Exit status: 0 intact, 1 broken/);
    expect(r.stdout).toMatch(/espfleet audit verify --audit-log audit.jsonl --json/);
  });
});
