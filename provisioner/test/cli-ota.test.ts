// `espfleet ota serve` in-process: serves a bundle over TLS with the fleet CA's server
// certificate, logs each request on stdout, stops cleanly on Ctrl-C; bad arguments are user errors.
import { writeFileSync, mkdirSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { issueDeviceCert, issueServerCert } from '../../certs/index.ts';
import { caPerFile } from '../../certs/test/helpers.ts';
import { freePort } from '../../certs/test/mosquitto-harness.ts';
import { espfleet } from './cli-harness.ts';

const fixture = caPerFile();

function fetchOnce(port: number, ca: string, cert: { cert: string; key: string }): Promise<{ status: number; length: string | undefined; body: Buffer }> {
  return new Promise((ok, bad) => {
    const req = request({ host: '127.0.0.1', port, path: '/fw.zip', servername: 'localhost', ca, agent: false, ...cert, headers: { 'X-MGOS-Device-ID': 'esp32_cli 24:0a:c4:00:00:02' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, length: res.headers['content-length'], body: Buffer.concat(chunks) }));
    });
    req.on('error', bad);
    req.end();
  });
}

describe('espfleet ota serve', () => {
  it('serves DIR over mTLS, prints the URL and one access line per request, stops on Ctrl-C', async () => {
    const dir = join(fixture.tmp, 'cli');
    mkdirSync(join(dir, 'bundles'), { recursive: true });
    writeFileSync(join(dir, 'bundles', 'fw.zip'), Buffer.alloc(5000, 0x5a));
    const server = await issueServerCert(fixture.ca, { dns: ['localhost'], ip: ['127.0.0.1'] });
    writeFileSync(join(dir, 'ota.pem'), server.chainPem);
    writeFileSync(join(dir, 'ota.key'), server.privateKeyPem);
    writeFileSync(join(dir, 'ca.pem'), fixture.ca.chainPem);
    const dev = await issueDeviceCert(fixture.ca, { cn: 'esp32_cli' });
    const port = await freePort();
    const stop = new AbortController();
    const running = espfleet(['ota', 'serve', '--bundles', 'bundles', '--tls-cert', 'ota.pem', '--tls-key', 'ota.key', '--client-ca', 'ca.pem', '--listen', `127.0.0.1:${port}`], {
      cwd: dir,
      interrupt: stop.signal,
    });
    let reply: Awaited<ReturnType<typeof fetchOnce>> | undefined;
    for (let i = 0; i < 100 && reply === undefined; i++) {
      reply = await fetchOnce(port, fixture.ca.chainPem, { cert: dev.chainPem, key: dev.privateKeyPem }).catch(async () => (await new Promise((r) => setTimeout(r, 50)), undefined));
    }
    expect(reply).toMatchObject({ status: 200, length: '5000' });
    await new Promise((r) => setTimeout(r, 50));
    stop.abort();
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`https://127.0.0.1:${port}/`);
    expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\dT\S+Z \S+ cn=esp32_cli "GET \/fw\.zip" 200 5000 device-id="esp32_cli 24:0a:c4:00:00:02"$/);
    expect(r.stderr).toContain('client certificate required');
    expect(r.stderr).toContain('firmware server stopped');
  });

  it('a missing bundles directory or key file, or a bad --listen, is a user error naming it', async () => {
    const dir = join(fixture.tmp, 'cli-bad');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'x.pem'), 'x');
    const noDir = await espfleet(['ota', 'serve', '--bundles', 'none', '--tls-cert', 'x.pem', '--tls-key', 'x.pem'], { cwd: dir });
    expect(noDir.code).toBe(1);
    expect(noDir.stderr).toMatch(/no bundles directory at .*none \[fleet\.serve\.no_bundles_dir\]/);
    const noKey = await espfleet(['ota', 'serve', '--bundles', '.', '--tls-cert', 'x.pem', '--tls-key', 'missing.key'], { cwd: dir });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/cannot read the server key .*missing\.key: ENOENT \[fleet\.serve\.no_file\]/);
    const badListen = await espfleet(['ota', 'serve', '--bundles', '.', '--tls-cert', 'x.pem', '--tls-key', 'x.pem', '--listen', '8443'], { cwd: dir });
    expect(badListen.code).toBe(1);
    expect(badListen.stderr).toMatch(/--listen.*expected host:port/);
  });
});
