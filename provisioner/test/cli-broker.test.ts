// `espfleet broker config` end to end: the profile files, their modes, the ACL
// identities taken from the CA, and a mosquitto that starts from the result.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, mosquittoAvailable, startMosquitto } from '../../certs/test/mosquitto-harness.ts';
import { espfleet } from './cli-harness.ts';

const passphrase = `cli-${Math.random().toString(36).slice(2)}-${Date.now()}`;
const env = { ESPFLEET_CA_PASSPHRASE: passphrase };
let dir: string;
let caDir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-broker-'));
  caDir = join(dir, 'ca');
  expect((await espfleet(['ca', 'init', '--ca-dir', caDir], { env })).code).toBe(0);
  const op = await espfleet(['ca', 'client-cert', '--ca-dir', caDir, '--role', 'operator', '--name', 'ops-1', '--out-cert', join(dir, 'op.pem'), '--out-key', join(dir, 'op.key')], { env });
  expect(op.code, op.stderr).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('espfleet broker config', () => {
  it('has help with an example', async () => {
    const h = await espfleet(['broker', 'config', '--help']);
    expect(h.stdout).toMatch(/Example:\n\s+espfleet broker config --ca-dir/);
  });

  it('writes a profile mosquitto starts from, listing the operator in the ACL', async () => {
    const out = join(dir, 'broker');
    const port = await freePort();
    const args = ['broker', 'config', '--ca-dir', caDir, '--out-dir', out, '--listen-port', String(port), '--host', '127.0.0.1', '--bind', '127.0.0.1', '--json'];
    if (process.getuid?.() === 0) args.push('--user', 'root');
    const r = await espfleet(args, { env });
    expect(r.code, r.stderr).toBe(0);
    const data = JSON.parse(r.stdout);
    expect(data.identities).toEqual([{ cn: 'operator:ops-1', role: 'operator' }]);
    expect(statSync(data.files.keyfile).mode & 0o777).toBe(0o600);
    const conf = readFileSync(data.conf, 'utf8');
    expect(conf).toContain(`listener ${port} 127.0.0.1\n`);
    expect(conf).toContain(`crlfile ${data.files.crlfile}\n`);
    expect(readFileSync(data.files.acl, 'utf8')).toContain('user operator:ops-1\n');
    expect(r.stdout + r.stderr).not.toContain(passphrase);
    if (mosquittoAvailable()) {
      const broker = await startMosquitto(data.conf);
      await broker.stop();
      expect(broker.log()).toMatch(/Opening ipv4 listen socket on port \d+/);
    }
  });

  it('keeps the server certificate when run again with the same names, replaces it when they change', async () => {
    const out = join(dir, 'broker-again');
    const run = async (host: string) => {
      const r = await espfleet(['broker', 'config', '--ca-dir', caDir, '--out-dir', out, '--host', host, '--json'], { env });
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { serverSerial: string; serverCertReused: boolean; crlNumber: number };
    };
    const first = await run('mqtt.example.com');
    const second = await run('mqtt.example.com');
    expect(second).toMatchObject({ serverSerial: first.serverSerial, serverCertReused: true });
    expect(second.crlNumber).toBe(first.crlNumber + 1);
    const third = await run('mqtt2.example.com');
    expect(third.serverCertReused).toBe(false);
    expect(third.serverSerial).not.toBe(first.serverSerial);
  });

  it('refuses a wrong CA passphrase with one error line', async () => {
    const r = await espfleet(['broker', 'config', '--ca-dir', caDir, '--out-dir', join(dir, 'b2')], { env: { ESPFLEET_CA_PASSPHRASE: 'not-the-passphrase' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: wrong passphrase .*\[certs\.ca\.bad_passphrase\]\nhint: .*\n$/);
    expect(existsSync(join(dir, 'b2', 'server.key'))).toBe(false);
  });
});
