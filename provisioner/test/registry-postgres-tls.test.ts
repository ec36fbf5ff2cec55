// TLS to the PostgreSQL registry (issue 18: "TLS to the database when the URL asks"),
// against a real server that speaks TLS only (postgres-cluster.ts, `tls: true`): each
// sslmode opens — or refuses — as libpq's does, the server confirms the session is
// encrypted, and a certificate failure is a station.registry.tls error at once, not a lost
// connection retried for a minute. Plus the URL-to-options mapping without a server.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oracleAvailable } from '../../scripts/lib/oracles.ts';
import { isTransient, openPostgresRegistry, postgresConnection, tlsFailure, type PgRegistry } from '../station/registry-postgres.ts';
import { deviceRecord } from './device-record.ts';
import { startPostgresCluster, type PostgresCluster, type PostgresTls } from './postgres-cluster.ts';

// Both oracles are checked (under CI=true a missing one fails the file instead).
const available = [oracleAvailable('initdb'), oracleAvailable('openssl')].every(Boolean);
const scratch = mkdtempSync(join(tmpdir(), 'espfleet-pgtls-'));
let tlsCluster: PostgresCluster | undefined;
let plainCluster: PostgresCluster | undefined;
let certCluster: PostgresCluster | undefined;
let databases = 0;

afterAll(() => {
  tlsCluster?.stop();
  plainCluster?.stop();
  certCluster?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** A fresh database on `cluster`, reached at `host`, with the URL's query set to `params`. */
function urlOn(cluster: PostgresCluster, host: string, params: Record<string, string>): string {
  const u = new URL(cluster.createDatabase(`tls_${process.pid}_${++databases}`));
  u.hostname = host;
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

async function sessionTls(registry: PgRegistry): Promise<{ ssl: boolean; version: string | null }> {
  const [row] = await registry.query('SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
  return row as { ssl: boolean; version: string | null };
}

/** The error `openPostgresRegistry` fails with (a minute of retries allowed, as in production). */
async function openError(url: string): Promise<Error & { code?: string; hint?: string }> {
  const err = await openPostgresRegistry(url, { retryForMs: 60_000 }).then(
    async (r) => {
      await r.close();
      return undefined;
    },
    (e: unknown) => e as Error,
  );
  if (err === undefined) throw new Error(`opened ${url}, expected a refusal`);
  return err;
}

describe.skipIf(!available)('the registry over TLS to a TLS-only PostgreSQL server (needs initdb and openssl)', () => {
  let tls: PostgresTls;
  beforeAll(async () => {
    tlsCluster = await startPostgresCluster({ tls: true });
    plainCluster = await startPostgresCluster();
    tls = tlsCluster.tls as PostgresTls;
  }, 120_000);

  it('verify-full with the right CA: records are written and read on an encrypted session', async () => {
    const registry = await openPostgresRegistry(urlOn(tlsCluster!, '127.0.0.1', { sslmode: 'verify-full', sslrootcert: tls.caFile }));
    try {
      const record = deviceRecord({ deviceId: 'esp32-tls-0001' });
      await registry.upsert(record);
      expect(await registry.get('esp32-tls-0001')).toEqual(record);
      const session = await sessionTls(registry);
      expect(session.ssl).toBe(true);
      expect(session.version).toMatch(/^TLSv1\.[23]$/);
    } finally {
      await registry.close();
    }
  }, 30_000);

  it('a server restart under an open TLS registry is a lost connection like any other: retried, then written', async () => {
    const registry = await openPostgresRegistry(urlOn(tlsCluster!, '127.0.0.1', { sslmode: 'verify-full', sslrootcert: tls.caFile }), { retryForMs: 60_000 });
    try {
      await registry.upsert(deviceRecord({ deviceId: 'esp32-tls-0003' }));
      tlsCluster!.restart();
      await registry.upsert(deviceRecord({ deviceId: 'esp32-tls-0004', mac: '24:0a:c4:00:00:04' }));
      expect((await registry.list()).map((r) => r.deviceId).sort()).toEqual(['esp32-tls-0003', 'esp32-tls-0004']);
      expect((await sessionTls(registry)).ssl).toBe(true);
    } finally {
      await registry.close();
    }
  }, 60_000);

  it('verify-full by the name localhost, which the certificate carries as a DNS name', async () => {
    const registry = await openPostgresRegistry(urlOn(tlsCluster!, 'localhost', { sslmode: 'verify-full', sslrootcert: tls.caFile }));
    try {
      expect((await sessionTls(registry)).ssl).toBe(true);
    } finally {
      await registry.close();
    }
  }, 30_000);

  it('verify-full with a CA that did not sign the server certificate fails with station.registry.tls, not a minute of retries', async () => {
    const err = await openError(urlOn(tlsCluster!, '127.0.0.1', { sslmode: 'verify-full', sslrootcert: tls.wrongCaFile }));
    expect(err.code).toBe('station.registry.tls');
    expect(err.message).toContain(`registry database postgres://espfleet@127.0.0.1:${tlsCluster!.port}/`);
    expect(err.message).toMatch(/certificate is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    expect(err.hint).toMatch(/sslrootcert must name the CA/);
  }, 30_000);

  it('an address the certificate does not name: verify-full refuses it, verify-ca (any name) accepts it', async () => {
    const err = await openError(urlOn(tlsCluster!, tls.unnamedHost, { sslmode: 'verify-full', sslrootcert: tls.caFile }));
    expect(err.code).toBe('station.registry.tls');
    expect(err.message).toMatch(/does not name the host .*127\.0\.0\.2/);
    const registry = await openPostgresRegistry(urlOn(tlsCluster!, tls.unnamedHost, { sslmode: 'verify-ca', sslrootcert: tls.caFile }));
    try {
      expect((await sessionTls(registry)).ssl).toBe(true);
    } finally {
      await registry.close();
    }
  }, 30_000);

  it('verify-ca still checks the chain: the wrong CA is refused', async () => {
    const err = await openError(urlOn(tlsCluster!, tls.unnamedHost, { sslmode: 'verify-ca', sslrootcert: tls.wrongCaFile }));
    expect(err.code).toBe('station.registry.tls');
    expect(err.message).toMatch(/not trusted/);
  }, 30_000);

  it('require without sslrootcert: encrypted, the certificate unchecked; with the wrong sslrootcert it is checked, as libpq does', async () => {
    const registry = await openPostgresRegistry(urlOn(tlsCluster!, '127.0.0.1', { sslmode: 'require' }));
    try {
      const session = await sessionTls(registry);
      expect(session).toMatchObject({ ssl: true });
      expect(session.version).toMatch(/^TLSv1\.[23]$/);
    } finally {
      await registry.close();
    }
    const err = await openError(urlOn(tlsCluster!, '127.0.0.1', { sslmode: 'require', sslrootcert: tls.wrongCaFile }));
    expect(err.code).toBe('station.registry.tls');
  }, 30_000);

  it('sslmode=disable against the TLS-only server: pg_hba.conf refuses it, and the error says to ask for TLS', async () => {
    const err = await openError(urlOn(tlsCluster!, '127.0.0.1', { sslmode: 'disable' }));
    expect(err.code).toBe('station.registry.tls');
    expect(err.message).toMatch(/refuses connections without TLS \(pg_hba\.conf rejects connection .*no encryption\)/);
    expect(err.hint).toMatch(/sslmode=verify-full/);
  }, 30_000);

  it('TLS asked of a server without TLS fails at once, naming the server', async () => {
    for (const sslmode of ['require', 'verify-full']) {
      const err = await openError(urlOn(plainCluster!, '127.0.0.1', { sslmode, sslrootcert: tls.caFile }));
      expect(err.code).toBe('station.registry.tls');
      expect(err.message).toContain(`postgres://espfleet@127.0.0.1:${plainCluster!.port}/`);
      expect(err.message).toMatch(/the server does not speak TLS/);
    }
  }, 30_000);

  it('an unknown sslmode is refused before any connection, naming the accepted ones', async () => {
    const err = await openError(urlOn(tlsCluster!, '127.0.0.1', { sslmode: 'verify_full' }));
    expect(err.code).toBe('station.registry.bad_url');
    expect(err.message).toMatch(/unknown sslmode=verify_full/);
    expect(err.hint).toBe('use one of disable, require, verify-ca, verify-full');
  }, 30_000);
});

describe.skipIf(!available)('client certificates: pg_hba.conf `cert` on the server, sslcert/sslkey in the URL (needs initdb and openssl)', () => {
  let tls: PostgresTls;
  beforeAll(async () => {
    certCluster = await startPostgresCluster({ clientCerts: true });
    tls = certCluster.tls as PostgresTls;
  }, 120_000);
  const url = (client: Record<string, string>) => urlOn(certCluster!, '127.0.0.1', { sslmode: 'verify-full', sslrootcert: tls.caFile, ...client });

  it('the certificate from the server\'s CA, CN = user: the server sees it on the session', async () => {
    const registry = await openPostgresRegistry(url({ sslcert: tls.clientCertFile!, sslkey: tls.clientKeyFile! }));
    try {
      await registry.upsert(deviceRecord({ deviceId: 'esp32-tls-0002' }));
      expect((await registry.get('esp32-tls-0002'))?.deviceId).toBe('esp32-tls-0002');
      const [row] = await registry.query('SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      expect(row).toEqual({ ssl: true, client_dn: '/CN=espfleet' });
    } finally {
      await registry.close();
    }
  }, 30_000);

  it('no client certificate: refused with station.registry.tls, saying one is asked for', async () => {
    const err = await openError(url({}));
    expect(err.code).toBe('station.registry.tls');
    expect(err.message).toMatch(/the server asks for a client certificate \(connection requires a valid client certificate\)/);
    expect(err.hint).toMatch(/sslcert and sslkey/);
  }, 30_000);

  it('a client certificate from another CA: the server\'s alert becomes station.registry.tls', async () => {
    const err = await openError(url({ sslcert: tls.wrongClientCertFile!, sslkey: tls.wrongClientKeyFile! }));
    expect(err.code).toBe('station.registry.tls');
    expect(err.message).toMatch(/the server does not accept our client certificate \(ERR_SSL_TLSV1_ALERT_UNKNOWN_CA\)$/);
    expect(err.message).not.toContain('BEGIN');
  }, 30_000);
});

describe('sslmode and its files as pool options', () => {
  const ca = join(scratch, 'root.pem');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const sslOf = (query: string) => postgresConnection(`postgres://u:secret@db.example/fleet?${query}`).ssl as Record<string, unknown> | false;

  it('no sslmode and disable are plain; a CA file without sslmode is refused, since it meant TLS', () => {
    expect(postgresConnection('postgres://db.example/fleet').ssl).toBe(false);
    expect(sslOf('sslmode=disable')).toBe(false);
    expect(() => sslOf(`sslrootcert=${ca}`)).toThrow(expect.objectContaining({ code: 'station.registry.bad_url', message: expect.stringMatching(/sslrootcert is given but no sslmode/) }));
  });

  it('require with sslrootcert checks the chain but not the name; verify-full keeps the default name check', () => {
    const req = sslOf(`sslmode=require&sslrootcert=${ca}`) as { rejectUnauthorized: boolean; checkServerIdentity?: () => unknown; ca: string };
    expect(req.rejectUnauthorized).toBe(true);
    expect(req.ca).toContain('BEGIN CERTIFICATE');
    expect(req.checkServerIdentity?.()).toBeUndefined();
    expect(sslOf(`sslmode=verify-full&sslrootcert=${ca}`)).not.toHaveProperty('checkServerIdentity');
  });

  it('a Unix socket is plain whatever sslmode says (as in libpq), but the sslmode must still be a known one', () => {
    expect(postgresConnection('postgres://u@localhost/fleet?host=/run/postgresql&sslmode=verify-full').ssl).toBe(false);
    expect(() => postgresConnection('postgres://u@localhost/fleet?host=/run/postgresql&sslmode=on')).toThrow(/unknown sslmode=on/);
  });

  it('sslrootcert=system (or none) trusts the CAs Node trusts', () => {
    expect(sslOf('sslmode=verify-full&sslrootcert=system')).toEqual({ rejectUnauthorized: true });
    expect(sslOf('sslmode=verify-full')).toEqual({ rejectUnauthorized: true });
  });

  it('prefer and allow are refused: they would fall back to plain TCP; the password stays out of the message', () => {
    for (const mode of ['prefer', 'allow']) {
      let err: Error | undefined;
      try {
        sslOf(`sslmode=${mode}`);
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).toBe(`sslmode=${mode} is not supported in postgres://u:***@db.example/fleet?sslmode=${mode}: it falls back to plain TCP when TLS fails`);
    }
  });

  it('a client certificate needs both sslcert and sslkey', () => {
    // The key is only read (a PEM stand-in will do), but as libpq it must be closed to others.
    const key = join(scratch, 'client-standin.key');
    writeFileSync(key, readFileSync(ca), { mode: 0o600 });
    chmodSync(key, 0o600);
    const withBoth = sslOf(`sslmode=verify-full&sslrootcert=${ca}&sslcert=${ca}&sslkey=${key}`) as { cert?: string; key?: string };
    expect(withBoth.cert).toContain('BEGIN CERTIFICATE');
    expect(withBoth.key).toContain('BEGIN CERTIFICATE');
    expect(() => sslOf(`sslmode=verify-full&sslcert=${ca}`)).toThrow(/sslcert is given without sslkey/);
    expect(() => sslOf(`sslmode=require&sslkey=/nonexistent.key`)).toThrow(/cannot read sslkey \/nonexistent.key: ENOENT/);
    chmodSync(key, 0o644);
    expect(() => sslOf(`sslmode=verify-full&sslrootcert=${ca}&sslcert=${ca}&sslkey=${key}`)).toThrow(expect.objectContaining({ code: 'station.registry.bad_url', message: expect.stringMatching(/can be read by others \(mode 644\)/), hint: `chmod 600 ${key}` }));
  });

  it('certificate failures are TLS failures and never transient; a reset connection still is', () => {
    const altname = Object.assign(new Error("Hostname/IP does not match certificate's altnames"), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    const expired = Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' });
    const noTls = new Error('The server does not support SSL connections');
    for (const e of [altname, expired, noTls]) {
      expect(tlsFailure(e)).toBeDefined();
      expect(isTransient(e)).toBe(false);
    }
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(tlsFailure(reset)).toBeUndefined();
    expect(isTransient(reset)).toBe(true);
  });
});
