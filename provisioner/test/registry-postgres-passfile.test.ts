// The database password from libpq's password file instead of the URL (so station.toml
// and argv never hold it): parsed as libpq parses it, refused when others can read it,
// and accepted by a real PostgreSQL server that asks for a password (scram-sha-256).
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oracleAvailable } from '../../scripts/lib/oracles.ts';
import { passfilePath, passwordFromPassfile } from '../station/pg-passfile.ts';
import { openPostgresRegistry } from '../station/registry-postgres.ts';
import { deviceRecord } from './device-record.ts';
import { startPostgresCluster, type PostgresCluster } from './postgres-cluster.ts';

const scratch = mkdtempSync(join(tmpdir(), 'espfleet-passfile-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let files = 0;
function passfile(text: string, mode = 0o600): string {
  const path = join(scratch, `pgpass-${++files}`);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}
const target = { host: 'db.example.net', port: 5432, database: 'fleet', user: 'espfleet' };

describe('the password file', () => {
  it('first matching line wins; * matches anything; \\: and \\\\ are escapes; comments and short lines are skipped', () => {
    const path = passfile(['# comment', 'other.example:5432:fleet:espfleet:wrong', 'too:few:fields', 'db.example.net:*:fleet:espfleet:pa\\:ss\\\\word', '*:*:*:*:fallback', ''].join('\n'));
    expect(passwordFromPassfile(path, target)).toBe('pa:ss\\word');
    expect(passwordFromPassfile(path, { ...target, database: 'other' })).toBe('fallback');
    expect(passwordFromPassfile(passfile('db.example.net:5433:fleet:espfleet:x\n'), target)).toBeUndefined();
  });

  it('a Unix-socket host is matched as localhost, as libpq does', () => {
    expect(passwordFromPassfile(passfile('localhost:5432:fleet:espfleet:sock\n'), { ...target, host: '/run/postgresql' })).toBe('sock');
  });

  it('no file: no password; a file others can read is refused, naming it and the fix', () => {
    expect(passwordFromPassfile(join(scratch, 'absent'), target)).toBeUndefined();
    const open = passfile('*:*:*:*:secret\n', 0o644);
    expect(() => passwordFromPassfile(open, target)).toThrow(expect.objectContaining({ code: 'station.registry.passfile_open', hint: `chmod 600 ${open}` }));
  });

  it('which file: the URL parameter, else $PGPASSFILE, else ~/.pgpass', () => {
    expect(passfilePath('/etc/espfleet/pgpass', { PGPASSFILE: '/x' })).toBe('/etc/espfleet/pgpass');
    expect(passfilePath(null, { PGPASSFILE: '/x', HOME: '/home/op' })).toBe('/x');
    expect(passfilePath(null, { HOME: '/home/op' })).toBe('/home/op/.pgpass');
  });
});

const available = oracleAvailable('initdb');
describe.skipIf(!available)('a server that asks for a password (scram-sha-256; needs initdb)', () => {
  const secret = `s3cret-${process.pid}:x`;
  let cluster: PostgresCluster;
  beforeAll(async () => {
    cluster = await startPostgresCluster({ password: secret });
  }, 120_000);
  afterAll(() => cluster?.stop());

  it('the registry opens with the password from `passfile`, and the password is in no message', async () => {
    const url = new URL(cluster.createDatabase(`passfile_${process.pid}`));
    const escaped = secret.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
    url.searchParams.set('passfile', passfile(`127.0.0.1:${cluster.port}:${url.pathname.slice(1)}:espfleet:${escaped}\n`));
    const registry = await openPostgresRegistry(url.toString(), { retryForMs: 0 });
    try {
      const record = deviceRecord();
      await registry.upsert(record);
      expect((await registry.list()).map((d) => d.deviceId)).toEqual([record.deviceId]);
    } finally {
      await registry.close();
    }
    // Without an entry for this server, the server's refusal comes back, without any password.
    url.searchParams.set('passfile', passfile('elsewhere:*:*:*:nope\n'));
    const err = await openPostgresRegistry(url.toString(), { retryForMs: 0 }).then(
      async (r) => {
        await r.close();
        return undefined;
      },
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/password/i);
    expect(err?.message).not.toContain(secret);
  }, 60_000);
});
