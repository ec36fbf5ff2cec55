// `ca renewd` refuses to start, with one error naming the fix, before it unlocks the CA or
// touches the network: a bad --rate-limit, no registry (it never creates one).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { espfleet } from '../../test/cli-harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-renewd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const base = ['ca', 'renewd', '--ca-dir', join(dir, 'no-ca'), '--registry', join(dir, 'none.sqlite'), '--audit-log', join(dir, 'audit.jsonl'), '--json'];

describe('ca renewd start-up refusals', () => {
  it('a bad --rate-limit', async () => {
    const r = await espfleet([...base, '--rate-limit', 'lots']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'renewal.bad_rate_limit', hint: expect.stringContaining('3/1d') } });
  });

  it('no registry: not created', async () => {
    const r = await espfleet(base);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'renewal.no_registry' } });
    expect((await espfleet(['devices', 'list', '--registry', join(dir, 'none.sqlite')])).stderr).toMatch(/no registry at/);
  });
});
