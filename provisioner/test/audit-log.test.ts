// The hash-chained audit log (DESIGN.md invariant 6): 100 appends verify; every single
// line edit, deletion, adjacent swap and every truncation is found at the right line.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AuditLogError, GENESIS_PREV, canonicalJson, headPath, openAuditLog, verifyAuditLog } from '../station/audit-log.ts';
import { openRegistry } from '../station/registry-sqlite.ts';
import type { AuditAction } from '../station/records.ts';

function tempLog(): string {
  return join(mkdtempSync(join(tmpdir(), 'espfleet-audit-')), 'audit.jsonl');
}

function fixedClock(start = Date.UTC(2026, 10, 23, 10, 0, 0)): () => Date {
  let t = start;
  return () => new Date((t += 1000));
}

const ACTIONS: AuditAction[] = ['provision.start', 'provision.identity', 'provision.escrow', 'provision.efuse', 'provision.flash', 'provision.done'];

async function writeLog(path: string, n: number): Promise<string> {
  const log = await openAuditLog(path, { clock: fixedClock() });
  for (let i = 0; i < n; i++) {
    await log.append({
      action: ACTIONS[i % ACTIONS.length]!,
      actor: 'alice',
      subject: { deviceId: `esp32_${String(i).padStart(6, '0')}`, mac: '24:0a:c4:12:34:56' },
      details: { step: i, ok: true, note: i % 7 === 0 ? 'retry' : undefined },
    });
  }
  return readFileSync(path, 'utf8');
}

describe('audit log: append', () => {
  it('100 appends verify; entries chain, are canonical and use the clock', async () => {
    const path = tempLog();
    const text = await writeLog(path, 100);
    expect(verifyAuditLog(path)).toEqual({ ok: true, entries: 100 });
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(100);
    const first = JSON.parse(lines[0]!);
    expect(first).toMatchObject({ seq: 0, prev: GENESIS_PREV, at: '2026-11-23T10:00:01.000Z', action: 'provision.start', actor: 'alice' });
    expect(first.details).toEqual({ step: 0, ok: true, note: 'retry' });
    expect(JSON.parse(lines[1]!).details).toEqual({ step: 1, ok: true });
    for (const line of lines) expect(canonicalJson(JSON.parse(line))).toBe(line);
    expect(JSON.parse(readFileSync(headPath(path), 'utf8'))).toMatchObject({ entries: 100 });
  });

  it('continues the chain across reopen, and concurrent appends keep file order', async () => {
    const path = tempLog();
    await writeLog(path, 3);
    const log = await openAuditLog(path);
    const entries = await Promise.all(
      ['a', 'b', 'c', 'd'].map((x) => log.append({ action: 'rollout', actor: 'ops', subject: { rollout: x } })),
    );
    expect(entries.map((e) => e.seq)).toEqual([3, 4, 5, 6]);
    // A second writer appending in between is picked up (chain stays linear).
    const other = await openAuditLog(path);
    await other.append({ action: 'reprovision', actor: 'bob', subject: { deviceId: 'x' } });
    expect((await log.append({ action: 'rollout', actor: 'ops', subject: {} })).seq).toBe(8);
    expect(verifyAuditLog(path)).toEqual({ ok: true, entries: 9 });
  });

  it('refuses bad entries and refuses to append to a broken log', async () => {
    const path = tempLog();
    const log = await openAuditLog(path);
    await expect(log.append({ action: 'burn.everything' as AuditAction, actor: 'a', subject: {} })).rejects.toMatchObject({ code: 'station.audit.bad_entry' });
    await expect(log.append({ action: 'rollout', actor: 'a', subject: { n: 1 as unknown as string } })).rejects.toThrow(/subject.n must be a string/);
    await expect(log.append({ action: 'rollout', actor: 'a', subject: {}, details: { x: Number.NaN } })).rejects.toThrow(/finite/);
    await log.append({ action: 'rollout', actor: 'a', subject: {} });
    writeFileSync(path, readFileSync(path, 'utf8').replace('"actor":"a"', '"actor":"b"'));
    await expect(openAuditLog(path)).rejects.toMatchObject({ code: 'station.audit.corrupt' });
    await expect(log.append({ action: 'rollout', actor: 'a', subject: {} })).rejects.toBeInstanceOf(AuditLogError);
  });

  it('a missing or empty log verifies as 0 entries', () => {
    const path = tempLog();
    expect(verifyAuditLog(path)).toEqual({ ok: true, entries: 0 });
    writeFileSync(path, '');
    expect(verifyAuditLog(path)).toEqual({ ok: true, entries: 0 });
  });
});

describe('audit log: tampering is found at the right line', () => {
  const N = 12;
  let pristine = '';
  let pristineHead = '';
  const path = tempLog();

  async function setup(): Promise<string[]> {
    if (pristine === '') {
      pristine = await writeLog(path, N);
      pristineHead = readFileSync(headPath(path), 'utf8');
    }
    return pristine.trimEnd().split('\n');
  }

  function check(lines: string[] | string, expectedLine: number, reason?: RegExp, keepHead = true): void {
    writeFileSync(path, typeof lines === 'string' ? lines : `${lines.join('\n')}\n`);
    if (keepHead) writeFileSync(headPath(path), pristineHead);
    else rmSync(headPath(path), { force: true });
    const result = verifyAuditLog(path);
    expect(result.ok).toBe(false);
    expect(result.problem?.line).toBe(expectedLine);
    expect(result.entries).toBe(expectedLine - 1);
    if (reason) expect(result.problem?.reason).toMatch(reason);
  }

  it('every single-line edit (a value changed, keeping valid JSON)', async () => {
    const lines = await setup();
    for (let i = 0; i < N; i++) {
      const edited = [...lines];
      edited[i] = edited[i]!.replace('"actor":"alice"', '"actor":"mallory"');
      check(edited, i + 1, /hash does not match/);
    }
  });

  it('every edit of one character anywhere in a line', async () => {
    const lines = await setup();
    for (let i = 0; i < N; i++) {
      const line = lines[i]!;
      for (let at = 0; at < line.length; at += 17) {
        const c = line[at]!;
        const swapped = c === 'a' ? 'b' : c === '0' ? '1' : c === '"' ? "'" : 'a';
        const edited = [...lines];
        edited[i] = line.slice(0, at) + swapped + line.slice(at + 1);
        check(edited, i + 1);
      }
    }
  }, 60_000);

  it('an edit with a recomputed hash is found at the next line (its prev no longer matches)', async () => {
    const lines = await setup();
    const { createHash } = await import('node:crypto');
    const e = JSON.parse(lines[4]!);
    e.actor = 'mallory';
    delete e.hash;
    e.hash = createHash('sha256').update(canonicalJson(e)).digest('hex');
    const edited = [...lines];
    edited[4] = canonicalJson(e);
    check(edited, 6, /prev does not match/);
  });

  it('every single-line deletion', async () => {
    const lines = await setup();
    for (let i = 0; i < N; i++) {
      const edited = lines.filter((_, j) => j !== i);
      check(edited, i + 1, i === N - 1 ? /head file records 12 entries but the log has 11/ : /seq is/);
    }
  });

  it('deleting the last line and the head file is found: a missing head is itself a finding', async () => {
    const lines = await setup();
    for (const keep of [N - 1, N, 1]) {
      writeFileSync(path, `${lines.slice(0, keep).join('\n')}\n`);
      rmSync(headPath(path), { force: true });
      expect(verifyAuditLog(path)).toEqual({ ok: false, entries: keep, problem: { line: keep + 1, reason: `the head file ${headPath(path)} is missing: lines may have been removed from the end` } });
    }
  });

  it('every swap of two adjacent lines, and of two distant lines', async () => {
    const lines = await setup();
    for (let i = 0; i + 1 < N; i++) {
      const edited = [...lines];
      [edited[i], edited[i + 1]] = [edited[i + 1]!, edited[i]!];
      check(edited, i + 1, /seq is/);
    }
    const edited = [...lines];
    [edited[2], edited[9]] = [edited[9]!, edited[2]!];
    check(edited, 3);
  });

  it('an inserted line (a copy, or a blank) anywhere', async () => {
    const lines = await setup();
    for (let i = 0; i <= N; i++) {
      const edited = [...lines];
      edited.splice(i, 0, lines[i === 0 ? 5 : i - 1]!);
      check(edited, i + 1, undefined, false);
      const blank = [...lines];
      blank.splice(i, 0, '');
      check(blank, i + 1, /empty line/, false);
    }
  });

  it('every truncation of the file is found (a cut line, or whole lines via the head)', async () => {
    await setup();
    const bytes = Buffer.from(pristine, 'utf8');
    const lineStarts = [0];
    for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a) lineStarts.push(i + 1);
    for (let cut = 0; cut < bytes.length; cut += 7) {
      const text = bytes.subarray(0, cut).toString('utf8');
      const complete = lineStarts.filter((s) => s <= cut).length - 1; // full lines kept
      const atBoundary = lineStarts.includes(cut);
      // A cut inside line k+1 is reported there; a cut at a line boundary loses line k+1 entirely.
      check(text, complete + 1, atBoundary ? /head file records/ : /incomplete last line/);
    }
    check(pristine.slice(0, -1), N, /incomplete last line/);
  }, 60_000);

  it('a whole log rewritten as a different valid chain is found through the head', async () => {
    await setup();
    const other = tempLog();
    const forged = await openAuditLog(other, { clock: fixedClock(0) });
    for (let i = 0; i < N; i++) await forged.append({ action: 'rollout', actor: 'mallory', subject: {} });
    writeFileSync(path, readFileSync(other, 'utf8'));
    writeFileSync(headPath(path), pristineHead);
    expect(verifyAuditLog(path).problem?.reason).toMatch(/does not match the head file/);
  });

  it('the intact copy still verifies (the harness does not fool itself)', async () => {
    await setup();
    writeFileSync(path, pristine);
    writeFileSync(headPath(path), pristineHead);
    expect(verifyAuditLog(path)).toEqual({ ok: true, entries: N });
  });
});

describe('audit log: anchored in the registry', () => {
  const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

  it('a new log has its head from the start, so a log without one is never normal', async () => {
    const path = tempLog();
    await openAuditLog(path);
    expect(JSON.parse(readFileSync(headPath(path), 'utf8'))).toEqual({ entries: 0, last: GENESIS_PREV });
    expect(verifyAuditLog(path)).toEqual({ ok: true, entries: 0 });
  });

  it('lines cut from the end with the head rewritten to match are found through the anchor, and the station will not append to it', async () => {
    const path = tempLog();
    const registry = await openRegistry(join(path, '..', 'registry.sqlite'));
    const log = await openAuditLog(path, { clock: fixedClock(), anchor: registry });
    for (let i = 0; i < 12; i++) await log.append({ action: 'provision.done', actor: 'alice', subject: { deviceId: `esp32_${String(i).padStart(6, '0')}` } });
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    const anchor = await registry.auditAnchor();
    expect(anchor).toEqual({ chain: sha(lines[0]!), entries: 12, last: sha(lines[11]!) });
    expect(verifyAuditLog(path, { anchor: anchor! })).toEqual({ ok: true, entries: 12 });

    // Two lines removed and a consistent head written: the log and head alone agree …
    writeFileSync(path, `${lines.slice(0, 10).join('\n')}\n`);
    writeFileSync(headPath(path), `${canonicalJson({ entries: 10, last: sha(lines[9]!) })}\n`);
    expect(verifyAuditLog(path)).toEqual({ ok: true, entries: 10 });
    // … the registry does not.
    expect(verifyAuditLog(path, { anchor: anchor!, anchorSource: 'the registry' })).toEqual({
      ok: false,
      entries: 10,
      problem: { line: 11, reason: 'missing: the registry anchors 12 entries but the log has 10 (lines removed from the end)' },
    });
    await expect(openAuditLog(path, { anchor: registry })).rejects.toMatchObject({ code: 'station.audit.corrupt' });
    // A whole new chain in its place is found too.
    rmSync(path);
    rmSync(headPath(path));
    const forged = await openAuditLog(path);
    for (let i = 0; i < 12; i++) await forged.append({ action: 'provision.done', actor: 'mallory', subject: {} });
    expect(verifyAuditLog(path, { anchor: anchor! }).problem).toEqual({ line: 1, reason: 'the log is not the chain the registry anchors (it was replaced)' });
    await registry.close();
  });

  it('an append whose anchor was not written yet (a crash) still verifies: the anchor may be one entry behind', async () => {
    const path = tempLog();
    const registry = await openRegistry(join(path, '..', 'registry.sqlite'));
    const log = await openAuditLog(path, { anchor: registry });
    for (let i = 0; i < 3; i++) await log.append({ action: 'rollout', actor: 'ops', subject: {} });
    const anchor = (await registry.auditAnchor())!;
    const plain = await openAuditLog(path);
    await plain.append({ action: 'rollout', actor: 'ops', subject: {} });
    expect(verifyAuditLog(path, { anchor })).toEqual({ ok: true, entries: 4 });
    await plain.append({ action: 'rollout', actor: 'ops', subject: {} });
    expect(verifyAuditLog(path, { anchor }).problem?.reason).toMatch(/anchors 3 entries; lines after 4 were not anchored/);
    await registry.close();
  });

  it('two processes appending at once chain one after the other: the log verifies, the anchor is at the end', { timeout: 60_000 }, async () => {
    const path = tempLog();
    const registryPath = join(path, '..', 'registry.sqlite');
    await (await openRegistry(registryPath)).close();
    const writer = fileURLToPath(new URL('./audit-writer.ts', import.meta.url));
    const start = String(Date.now() + 1500);
    const count = 30;
    const outs = await Promise.all(
      ['alice', 'bob'].map((actor) => promisify(execFile)(process.execPath, ['--import', 'tsx', writer, path, registryPath, actor, String(count), start], { timeout: 50_000 })),
    );
    expect(outs.map((o) => o.stdout.trim())).toEqual([`appended ${count}`, `appended ${count}`]);
    const registry = await openRegistry(registryPath, { readOnly: true });
    const anchor = await registry.auditAnchor();
    await registry.close();
    expect(anchor?.entries).toBe(2 * count);
    expect(verifyAuditLog(path, { anchor: anchor! })).toEqual({ ok: true, entries: 2 * count });
    const actors = readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l).actor as string);
    expect(actors.filter((a) => a === 'alice')).toHaveLength(count);
  });
});
