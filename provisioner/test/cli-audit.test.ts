// `espfleet audit verify`: exit 0 for an intact log, 1 naming the first bad line.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openAuditLog } from '../station/audit-log.ts';
import { espfleet } from './cli-harness.ts';

async function station(n: number): Promise<{ dir: string; log: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-audit-'));
  writeFileSync(join(dir, 'station.toml'), '[station]\nid = "line1"\noperator = "alice"\n[paths]\naudit = "logs/audit.jsonl"\n');
  mkdirSync(join(dir, 'logs'));
  const log = join(dir, 'logs/audit.jsonl');
  const audit = await openAuditLog(log);
  for (let i = 0; i < n; i++) await audit.append({ action: 'provision.done', actor: 'alice', subject: { deviceId: `esp32_00000${i}` } });
  return { dir, log };
}

describe('espfleet audit verify', () => {
  it('an intact log: exit 0, text and JSON', async () => {
    const { dir, log } = await station(5);
    const text = await espfleet(['audit', 'verify', '--station', join(dir, 'station.toml')]);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe(`audit log intact: 5 entries (${log})\n`);
    const json = await espfleet(['audit', 'verify', '--log', 'logs/audit.jsonl', '--json'], { cwd: dir });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ path: log, ok: true, entries: 5 });
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
    const r = await espfleet(['audit', 'verify', '--log', log]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^audit log BROKEN at line 4: incomplete last line/);
  });

  it('a missing log is an error, not "intact"', async () => {
    const r = await espfleet(['audit', 'verify', '--log', join(tmpdir(), 'no-such-audit.jsonl')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no audit log at .* \[station\.audit\.not_found\]/);
  });

  it('--help has examples and the exit status', async () => {
    const r = await espfleet(['audit', 'verify', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Exit status: 0 intact, 1 broken/);
    expect(r.stdout).toMatch(/espfleet audit verify --log audit.jsonl --json/);
  });
});
