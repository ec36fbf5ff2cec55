// `espfleet ca …` end to end, in-process, with openssl checking what lands on disk.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOk, openssl } from '../../scripts/lib/oracles.ts';
import { espfleet } from './cli-harness.ts';

const passphrase = `cli-${Math.random().toString(36).slice(2)}-${Date.now()}`;
const env = { ESPFLEET_CA_PASSPHRASE: passphrase };
let dir: string;
let caDir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-ca-'));
  caDir = join(dir, 'ca');
  const r = await espfleet(['ca', 'init', '--ca-dir', caDir], { env });
  expect(r.code, r.stderr).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectOneLineError(r: { code: number; stderr: string; stdout: string }, code: string): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines[0]).toMatch(new RegExp(`^error: .*\\[${code.replace(/\./g, '\\.')}\\]$`));
  expect(lines.slice(1).every((l) => l.startsWith('hint: '))).toBe(true);
  expect(lines.length).toBeLessThanOrEqual(2);
  expect(r.stdout + r.stderr).not.toContain(passphrase);
}

describe('espfleet ca', () => {
  it('has help with an example for every subcommand', async () => {
    const top = await espfleet(['ca', '--help']);
    for (const sub of ['init', 'issue', 'sign-csr', 'server-cert', 'client-cert', 'revoke', 'crl', 'list']) {
      expect(top.stdout).toContain(sub);
      const h = await espfleet(['ca', sub, '--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(/Example:\n\s+.*espfleet ca /);
      expect(h.stdout).not.toMatch(/--passphrase </);
    }
    expect((await espfleet(['ca', 'issue', '--help'])).stdout).toMatch(/lab/);
  });

  it('init takes the passphrase from a file or a prompt (asked twice), and says how to give one without a terminal', async () => {
    const file = join(dir, 'pass.txt');
    writeFileSync(file, `${passphrase}\n`, { mode: 0o600 });
    const viaFile = await espfleet(['ca', 'init', '--ca-dir', join(dir, 'ca-file'), '--passphrase-file', file, '--json']);
    expect(viaFile.code, viaFile.stderr).toBe(0);
    expect(JSON.parse(viaFile.stdout)).toMatchObject({ keyType: 'ec-p256' });
    const viaPrompt = await espfleet(['ca', 'init', '--ca-dir', join(dir, 'ca-prompt')], { answers: [passphrase, passphrase] });
    expect(viaPrompt.code, viaPrompt.stderr).toBe(0);
    const none = await espfleet(['ca', 'init', '--ca-dir', join(dir, 'ca-none')]);
    expectOneLineError(none, 'secret.missing');
    expect(none.stderr).toMatch(/ESPFLEET_CA_PASSPHRASE/);
    const bad = await espfleet(['ca', 'init', '--ca-dir', join(dir, 'ca-bad'), '--key-type', 'dsa'], { env });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/ec-p256, rsa-2048, rsa-3072/);
  });

  it('refuses a wrong passphrase with one error line and a hint', async () => {
    const r = await espfleet(['ca', 'issue', '--ca-dir', caDir, '--cn', 'x1', '--out-cert', join(dir, 'x.pem'), '--out-key', join(dir, 'x.key')], {
      env: { ESPFLEET_CA_PASSPHRASE: `${passphrase}-wrong` },
    });
    expectOneLineError(r, 'certs.ca.bad_passphrase');
    expect(r.stderr).toMatch(/^hint: /m);
  });

  it('issue writes a verified device certificate and a 0600 key', async () => {
    const cert = join(dir, 'dev.pem');
    const key = join(dir, 'dev.key');
    const r = await espfleet(['ca', 'issue', '--ca-dir', caDir, '--cn', 'esp32_0A1B2C', '--out-cert', cert, '--out-key', key, '--days', '30', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.serial).toMatch(/^[0-9a-f]{32}$/);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const v = await openssl(['verify', '-CAfile', join(caDir, 'root.pem'), '-untrusted', join(caDir, 'intermediate.pem'), cert]);
    expect(v.stdout).toMatch(/: OK/);
    expect(expectOk(await openssl(['x509', '-noout', '-serial', '-in', cert]), 'serial').trim().toLowerCase()).toBe(`serial=${out.serial}`);
    const bad = await espfleet(['ca', 'issue', '--ca-dir', caDir, '--cn', 'a/b', '--out-cert', cert, '--out-key', join(dir, 'bad.key')], { env });
    expectOneLineError(bad, 'certs.device.bad_id');
  });

  it('sign-csr signs a matching CSR and refuses a CN mismatch', async () => {
    const key = join(dir, 'board.key');
    expectOk(await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]), 'genpkey');
    const csr = join(dir, 'board.csr');
    expectOk(await openssl(['req', '-new', '-key', key, '-subj', '/CN=board-42', '-out', csr]), 'req');
    const out = join(dir, 'board.pem');
    const ok = await espfleet(['ca', 'sign-csr', '--ca-dir', caDir, '--csr', csr, '--expect-cn', 'board-42', '--out', out], { env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/serial: +[0-9a-f]{32}/);
    expect(expectOk(await openssl(['x509', '-noout', '-subject', '-in', out]), 'subject')).toMatch(/CN ?= ?board-42/);
    const mismatch = await espfleet(['ca', 'sign-csr', '--ca-dir', caDir, '--csr', csr, '--expect-cn', 'board-43', '--out', out], { env });
    expectOneLineError(mismatch, 'certs.csr.cn_mismatch');
    expect(mismatch.stderr).toMatch(/"board-42".*"board-43"/);
  });

  it('server-cert and client-cert issue the broker and operator identities', async () => {
    const srv = await espfleet(['ca', 'server-cert', '--ca-dir', caDir, '--dns', 'mqtt.example.com', '--ip', '192.0.2.10', '--out-cert', join(dir, 'srv.pem'), '--out-key', join(dir, 'srv.key'), '--json'], { env });
    expect(srv.code, srv.stderr).toBe(0);
    const t = expectOk(await openssl(['x509', '-noout', '-text', '-in', join(dir, 'srv.pem')]), 'x509');
    expect(t).toMatch(/DNS:mqtt.example.com, IP Address:192.0.2.10/);
    const op = await espfleet(['ca', 'client-cert', '--ca-dir', caDir, '--role', 'operator', '--name', 'alice', '--out-cert', join(dir, 'op.pem'), '--out-key', join(dir, 'op.key'), '--json'], { env });
    expect(op.code, op.stderr).toBe(0);
    expect(JSON.parse(op.stdout).cn).toBe('operator:alice');
    const badRole = await espfleet(['ca', 'client-cert', '--ca-dir', caDir, '--role', 'admin', '--name', 'x', '--out-cert', 'a', '--out-key', 'b'], { env });
    expect(badRole.code).not.toBe(0);
    expect(badRole.stderr).toMatch(/operator, renewer/);
  });

  it('revoke, crl and list work together', async () => {
    const listed = await espfleet(['ca', 'list', '--ca-dir', caDir, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const records = JSON.parse(listed.stdout) as Array<{ serialHex: string; cn: string; status: string }>;
    const dev = records.find((r) => r.cn === 'esp32_0A1B2C');
    expect(dev?.status).toBe('valid');
    const rv = await espfleet(['ca', 'revoke', '--ca-dir', caDir, '--serial', dev?.serialHex ?? '', '--reason', 'keyCompromise'], { env });
    expect(rv.code, rv.stderr).toBe(0);
    expect(rv.stderr).toMatch(/ca crl/);
    const crlPath = join(dir, 'crl.pem');
    const crl = await espfleet(['ca', 'crl', '--ca-dir', caDir, '--out', crlPath, '--json'], { env });
    expect(crl.code, crl.stderr).toBe(0);
    expect(JSON.parse(crl.stdout)).toMatchObject({ revoked: 1 });
    const crlText = expectOk(await openssl(['crl', '-noout', '-text', '-in', crlPath]), 'crl');
    expect(crlText).toContain(`Serial Number: ${dev?.serialHex.toUpperCase()}`);
    const after = await espfleet(['ca', 'list', '--ca-dir', caDir]);
    expect(after.stdout).toMatch(new RegExp(`${dev?.serialHex}.*esp32_0A1B2C.*revoked \\(keyCompromise\\)`));
    const short = await espfleet(['ca', 'issue', '--ca-dir', caDir, '--cn', 'short-1', '--days', '10', '--out-cert', join(dir, 's.pem'), '--out-key', join(dir, 's.key')], { env });
    expect(short.code, short.stderr).toBe(0);
    const soon = JSON.parse((await espfleet(['ca', 'list', '--ca-dir', caDir, '--expiring-within', '60', '--json'])).stdout) as Array<{ cn: string }>;
    expect(soon.map((r) => r.cn)).toEqual(['short-1']); // the 30-day one is revoked; the rest last a year
    const unknown = await espfleet(['ca', 'revoke', '--ca-dir', caDir, '--serial', 'ff'], { env });
    expectOneLineError(unknown, 'certs.revoke.unknown_serial');
    expect(readFileSync(crlPath, 'utf8')).toMatch(/BEGIN X509 CRL/);
  });
});

describe('espfleet ca never silently overwrites a private key', () => {
  it('issue, server-cert and client-cert refuse an existing --out-key before anything is issued; --force replaces it', async () => {
    const ca2 = join(dir, 'ca-overwrite');
    expect((await espfleet(['ca', 'init', '--ca-dir', ca2], { env })).code).toBe(0);
    const issued = () => (existsSync(join(ca2, 'issued.jsonl')) ? readFileSync(join(ca2, 'issued.jsonl'), 'utf8') : '');
    const cmds: Array<[string, string[]]> = [
      ['issue', ['--cn', 'esp32_000001']],
      ['server-cert', ['--dns', 'mqtt.example.com']],
      ['client-cert', ['--role', 'operator', '--name', 'bob']],
    ];
    for (const [sub, args] of cmds) {
      const key = join(dir, `${sub}-existing.key`);
      writeFileSync(key, 'the only copy of an older key\n', { mode: 0o600 });
      const before = issued();
      const r = await espfleet(['ca', sub, '--ca-dir', ca2, ...args, '--out-cert', join(dir, `${sub}-new.pem`), '--out-key', key], { env });
      expectOneLineError(r, 'io.exists');
      expect(r.stderr).toMatch(new RegExp(`refusing to overwrite ${key.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}, which may be the only copy of a private key: it already exists \\[io\\.exists\\]\\nhint: .*--force`));
      expect(readFileSync(key, 'utf8')).toBe('the only copy of an older key\n');
      expect(issued()).toBe(before);

      const forced = await espfleet(['ca', sub, '--ca-dir', ca2, ...args, '--out-cert', join(dir, `${sub}-new.pem`), '--out-key', key, '--force'], { env });
      expect(forced.code, forced.stderr).toBe(0);
      expect(readFileSync(key, 'utf8')).toMatch(/BEGIN (EC )?PRIVATE KEY/);
      expect(statSync(key).mode & 0o777).toBe(0o600);
    }
  });
});
