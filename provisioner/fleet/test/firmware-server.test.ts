// The firmware server over real TLS with certificates from the fleet CA: what
// ota-http-client needs (Content-Length, ETag/304, ranges), mTLS, the access log and path
// traversal; checked with node's https client and with openssl s_client (and curl when present).
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCa, issueDeviceCert, issueServerCert, type IssuedWithKey } from '../../../certs/index.ts';
import { caPerFile } from '../../../certs/test/helpers.ts';
import { oracleAvailable, openssl, run } from '../../../scripts/lib/oracles.ts';
import { formatAccessLine, parseRange, resolveInside, startFirmwareServer, type AccessLogEntry, type FirmwareServer } from '../firmware-server.ts';

const fixture = caPerFile();
const BIG = 32 << 20;
const bundle = new Uint8Array(200_000).map((_, i) => (i * 31 + 7) & 0xff);

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(url: string, opts: RequestOptions & { path?: string } = {}): Promise<Reply> {
  return new Promise((ok, bad) => {
    const u = new URL(url);
    const req = request({ host: u.hostname, port: u.port, path: opts.path ?? u.pathname, method: 'GET', servername: 'localhost', agent: false, ...opts }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', bad);
    });
    req.on('error', bad);
    req.end();
  });
}

/** The entry for the last request: the server logs when its response ends, which may be just after the client saw the end. */
async function lastOf(list: AccessLogEntry[], n: number): Promise<AccessLogEntry | undefined> {
  for (let i = 0; i < 200 && list.length < n; i++) await new Promise((r) => setTimeout(r, 5));
  return list.at(-1);
}

describe('firmware server', () => {
  let server: FirmwareServer;
  let mtls: FirmwareServer;
  let serverCert: IssuedWithKey;
  let device: IssuedWithKey;
  let stranger: IssuedWithKey;
  const log: AccessLogEntry[] = [];
  const mtlsLog: AccessLogEntry[] = [];
  let dir: string;

  beforeAll(async () => {
    const ca = fixture.ca;
    dir = join(fixture.tmp, 'bundles');
    mkdirSync(join(dir, 'v2'), { recursive: true });
    writeFileSync(join(dir, 'fw.zip'), bundle);
    writeFileSync(join(dir, 'v2', 'fw.zip'), bundle.subarray(0, 1000));
    writeFileSync(join(dir, 'big.zip'), new Uint8Array(BIG)); // more than socket buffers hold
    writeFileSync(join(fixture.tmp, 'secret.txt'), 'TOP SECRET');
    symlinkSync(join(fixture.tmp, 'secret.txt'), join(dir, 'link.zip'));
    serverCert = await issueServerCert(ca, { dns: ['localhost'], ip: ['127.0.0.1'] });
    device = await issueDeviceCert(ca, { cn: 'esp32_0a0b0c' });
    const other = await initCa({ dir: join(fixture.tmp, 'other-ca'), passphrase: fixture.passphrase });
    stranger = await issueDeviceCert(other, { cn: 'esp32_intruder' });
    const clock = () => new Date('2026-12-02T10:00:00Z');
    server = await startFirmwareServer({ bundlesDir: dir, certPem: serverCert.chainPem, keyPem: serverCert.privateKeyPem, log: (e) => log.push(e), clock });
    mtls = await startFirmwareServer({ bundlesDir: dir, certPem: serverCert.chainPem, keyPem: serverCert.privateKeyPem, clientCaPem: ca.chainPem, log: (e) => mtlsLog.push(e), clock });
  });
  afterAll(async () => {
    await server?.stop();
    await mtls?.stop();
  });

  const trust = () => ({ ca: fixture.ca.chainPem });

  it('serves a bundle with a real Content-Length (not chunked), an ETag and the bytes', async () => {
    const r = await get(`${server.url}fw.zip`, { ...trust(), headers: { 'X-MGOS-Device-ID': 'esp32_0a0b0c 24:0a:c4:00:00:01', 'X-MGOS-FW-Version': 'esp32 1.0.0 20261201-000000' } });
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(bundle.length));
    expect(r.headers['transfer-encoding']).toBeUndefined();
    expect(r.headers['content-type']).toBe('application/zip');
    expect(r.headers['etag']).toMatch(/^"[0-9a-f]{32}"$/);
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(Buffer.compare(r.body, Buffer.from(bundle))).toBe(0);
    const e = (await lastOf(log, 1))!;
    expect(e).toMatchObject({ method: 'GET', path: '/fw.zip', status: 200, bytes: bundle.length, complete: true, cn: null, deviceId: 'esp32_0a0b0c 24:0a:c4:00:00:01' });
    expect(formatAccessLine(e)).toBe(`2026-12-02T10:00:00.000Z ${e.remote} - "GET /fw.zip" 200 200000 device-id="esp32_0a0b0c 24:0a:c4:00:00:01" fw="esp32 1.0.0 20261201-000000"`);
  });

  it('answers 304 with no body when If-None-Match matches (one tag, a list, weak, *), 200 otherwise', async () => {
    const etag = (await get(`${server.url}fw.zip`, { ...trust(), method: 'HEAD' })).headers['etag'] as string;
    for (const inm of [etag, `"other", ${etag}`, `W/${etag}`, '*']) {
      const r = await get(`${server.url}fw.zip`, { ...trust(), headers: { 'If-None-Match': inm } });
      expect(r.status, inm).toBe(304);
      expect(r.body.length).toBe(0);
      expect(r.headers['etag']).toBe(etag);
    }
    expect(await lastOf(log, 6)).toMatchObject({ status: 304, bytes: 0 });
    const changed = await get(`${server.url}fw.zip`, { ...trust(), headers: { 'If-None-Match': '"not-this-one"' } });
    expect(changed.status).toBe(200);
    // Another file, another tag.
    const v2 = await get(`${server.url}v2/fw.zip`, { ...trust(), method: 'HEAD' });
    expect(v2.headers['etag']).not.toBe(etag);
    expect(v2.headers['content-length']).toBe('1000');
  });

  it('serves byte ranges as 206 with Content-Range; 416 past the end; If-Range with an old tag gets the whole file', async () => {
    const cases: [string, number, number][] = [
      ['bytes=10-19', 10, 19],
      ['bytes=199990-', 199990, 199999],
      ['bytes=-5', 199995, 199999],
      ['bytes=0-999999', 0, 199999],
    ];
    const before = log.length;
    for (const [range, start, end] of cases) {
      const r = await get(`${server.url}fw.zip`, { ...trust(), headers: { Range: range } });
      expect(r.status, range).toBe(206);
      expect(r.headers['content-range']).toBe(`bytes ${start}-${end}/${bundle.length}`);
      expect(r.headers['content-length']).toBe(String(end - start + 1));
      expect(Buffer.compare(r.body, Buffer.from(bundle.subarray(start, end + 1)))).toBe(0);
    }
    await lastOf(log, before + 4);
    expect(log.slice(-4).map((e) => [e.status, e.bytes])).toEqual(cases.map(([, a, b]) => [206, b - a + 1]));
    const past = await get(`${server.url}fw.zip`, { ...trust(), headers: { Range: 'bytes=200000-' } });
    expect(past.status).toBe(416);
    expect(past.headers['content-range']).toBe(`bytes */${bundle.length}`);
    const stale = await get(`${server.url}fw.zip`, { ...trust(), headers: { Range: 'bytes=10-19', 'If-Range': '"old"' } });
    expect(stale.status).toBe(200);
    expect(stale.body.length).toBe(bundle.length);
  });

  it('refuses path traversal, encoded or through a symlink, and never sends what lies outside', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/v2/..%2f..%2fsecret.txt', '/..%5csecret.txt', '/%00fw.zip', '/link.zip', '/', '/v2', '/nothing.zip']) {
      const r = await get(`${server.url}`, { ...trust(), path });
      expect([400, 404], path).toContain(r.status);
      expect(r.body.toString()).not.toContain('SECRET');
    }
    const post = await get(`${server.url}fw.zip`, { ...trust(), method: 'POST' });
    expect(post.status).toBe(405);
    expect(resolveInside('/srv/b', '/a/../../etc/passwd')).toBeUndefined();
    expect(resolveInside('/srv/b', '/a/fw.zip?x=1')).toBe('/srv/b/a/fw.zip');
  });

  it('with --client-ca: a device certificate of the fleet CA is required and its CN is logged', async () => {
    const ok = await get(`${mtls.url}fw.zip`, { ...trust(), cert: device.chainPem, key: device.privateKeyPem });
    expect(ok.status).toBe(200);
    expect(await lastOf(mtlsLog, 1)).toMatchObject({ cn: 'esp32_0a0b0c', status: 200, bytes: bundle.length });
    expect(formatAccessLine(mtlsLog.at(-1)!)).toContain(' cn=esp32_0a0b0c "GET /fw.zip" 200 200000');
    await expect(get(`${mtls.url}fw.zip`, trust())).rejects.toThrow();
    await expect(get(`${mtls.url}fw.zip`, { ...trust(), cert: stranger.chainPem, key: stranger.privateKeyPem })).rejects.toThrow();
    expect(mtlsLog.filter((e) => e.cn !== 'esp32_0a0b0c')).toEqual([]);
  });

  it('a client that goes away mid-download is logged as incomplete, with the bytes actually read', async () => {
    const before = log.length;
    await new Promise<void>((done, bad) => {
      const u = new URL(`${server.url}big.zip`);
      const req = request({ host: u.hostname, port: u.port, path: u.pathname, servername: 'localhost', agent: false, ...trust() }, (res) => {
        res.once('data', () => {
          req.destroy();
          done();
        });
      });
      req.on('error', () => undefined);
      req.on('timeout', bad);
      req.end();
    });
    const e = (await lastOf(log, before + 1))!;
    expect(e).toMatchObject({ status: 200, complete: false });
    expect(e.bytes).toBeLessThan(BIG);
    expect(formatAccessLine(e)).toMatch(/ 200 \d+ incomplete$/);
  });

  it('parses ranges as RFC 9110 says (one range; others ignored)', () => {
    expect(parseRange('bytes=0-0', 10)).toEqual([0, 0]);
    expect(parseRange('bytes=0-1,4-5', 10)).toBeNull();
    expect(parseRange('items=0-1', 10)).toBeNull();
    expect(parseRange('bytes=5-2', 10)).toBeNull();
    expect(parseRange('bytes=-0', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
  });

  it.skipIf(!oracleAvailable('openssl'))('openssl s_client: verifies the chain, presents the device cert, reads Content-Length and the ETag', async () => {
    const files = join(fixture.tmp, 'openssl');
    mkdirSync(files, { recursive: true });
    writeFileSync(join(files, 'ca.pem'), fixture.ca.chainPem);
    writeFileSync(join(files, 'dev.pem'), device.chainPem);
    writeFileSync(join(files, 'dev.key'), device.privateKeyPem);
    const r = await openssl(
      ['s_client', '-connect', `127.0.0.1:${mtls.port}`, '-servername', 'localhost', '-CAfile', join(files, 'ca.pem'), '-cert', join(files, 'dev.pem'), '-key', join(files, 'dev.key'), '-verify_return_error', '-ign_eof', '-quiet'],
      { input: 'HEAD /fw.zip HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', timeoutMs: 20_000 },
    );
    expect(r.stdout, r.stderr).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.stdout).toMatch(/\r\nContent-Length: 200000\r\n/i);
    expect(r.stdout).not.toMatch(/Transfer-Encoding/i);
    expect(r.stdout).toMatch(/\r\nETag: "[0-9a-f]{32}"\r\n/i);
    expect(await lastOf(mtlsLog, 2)).toMatchObject({ method: 'HEAD', cn: 'esp32_0a0b0c', bytes: 0 });
    // Without a client certificate the handshake is refused.
    const anon = await openssl(['s_client', '-connect', `127.0.0.1:${mtls.port}`, '-servername', 'localhost', '-CAfile', join(files, 'ca.pem'), '-ign_eof', '-quiet'], {
      input: 'GET /fw.zip HTTP/1.1\r\nHost: localhost\r\n\r\n',
      timeoutMs: 20_000,
    });
    expect(anon.stdout).not.toMatch(/^HTTP\//);
  });

  const hasCurl = spawnSync('curl', ['--version']).status === 0;
  it.skipIf(!hasCurl)('curl (when installed): a range download with the device certificate', async () => {
    const files = join(fixture.tmp, 'curl');
    mkdirSync(files, { recursive: true });
    writeFileSync(join(files, 'ca.pem'), fixture.ca.chainPem);
    writeFileSync(join(files, 'dev.pem'), device.chainPem);
    writeFileSync(join(files, 'dev.key'), device.privateKeyPem);
    const r = await run('curl', ['-sS', '--cacert', join(files, 'ca.pem'), '--cert', join(files, 'dev.pem'), '--key', join(files, 'dev.key'), '-r', '100-199', '-D', join(files, 'h.txt'), '-o', join(files, 'part.bin'), '-w', '%{http_code} %{size_download}', `https://localhost:${mtls.port}/fw.zip`]);
    expect(r.stdout, r.stderr).toBe('206 100');
    expect(await lastOf(mtlsLog, 3)).toMatchObject({ status: 206, bytes: 100, cn: 'esp32_0a0b0c' });
  });
});
