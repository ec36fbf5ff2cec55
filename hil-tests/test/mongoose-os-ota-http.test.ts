// OTA.Update on the Mongoose OS double (spec mongoose-os.md §2.1, §2.4; docs/ota-protocol.md
// §4): the board pulls a fw.zip from the fleet's firmware server over real TLS into the
// inactive slot, answers when the apply is over, and reboots into it uncommitted. A server of
// the test's own covers what the fleet server never does: chunked, redirects, 304, cut bodies.
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initCa, issueDeviceCert, issueServerCert, type IssuedWithKey } from '../../certs/index.ts';
import { caPerFile } from '../../certs/test/helpers.ts';
import { generateSigningKey, mgosPublicKeyConfig, signBundle } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { startFirmwareServer, type AccessLogEntry, type FirmwareServer } from '../../provisioner/fleet/firmware-server.ts';
import { oracleAvailable } from '../../scripts/lib/oracles.ts';
import { ManualClock, type VirtualEsp32 } from '../index.ts';
import { buildRequest, mjsRunner, parseResponseHead, type MongooseOsOptions } from '../mongoose-os/index.ts';
import { RawUart, mgosBoard, waitFor } from './helpers/mgos-board.ts';
import { APP_1, demoBundle, expectEncryptedApp1, otadataSlotOf, powerCycleBoard, rpcOver, runningVersionOf, waitRebooted, type Reply } from './helpers/mgos-ota.ts';

const signer = generateSigningKey();
const other = generateSigningKey();
const keyConf = JSON.stringify({ update: { key0: mgosPublicKeyConfig(signer.publicKeyPem), sig_req_mask: 1 } });
const good = demoBundle({ signer, other });
const badSig = demoBundle({ signer, other }, { sign: 'other' });
const APPLIED = { code: 0, message: 'Update applied, finalizing' };

const fixture = caPerFile();
let serverCert: IssuedWithKey;
let fleet: FirmwareServer;
let mtls: FirmwareServer;
const access: AccessLogEntry[] = [];
let strangerCaPem: string;

/** The test's own server: odd answers the fleet server never gives. */
let odd: HttpsServer;
let oddUrl: string;
let plain: HttpServer;
let plainUrl: string;
const seen: Array<{ path: string; headers: IncomingHttpHeaders }> = [];
let releaseSlow: (() => void) | undefined;

function oddHandler(req: { url?: string; headers: IncomingHttpHeaders; socket: { end(): void; destroy(): void } }, res: import('node:http').ServerResponse): void {
  const path = req.url ?? '/';
  seen.push({ path, headers: req.headers });
  const zip = Buffer.from(good.zip);
  const half = Math.floor(zip.length / 2);
  switch (path) {
    case '/fw.zip':
      res.writeHead(200, { 'Content-Type': 'application/zip', 'Content-Length': zip.length });
      return void res.end(zip);
    case '/chunked':
      res.writeHead(200, { 'Content-Type': 'application/zip' }); // no length: node sends it chunked
      res.write(zip.subarray(0, 1000));
      return void res.end(zip.subarray(1000));
    case '/hop1':
      res.writeHead(302, { Location: '/hop2', 'Content-Length': 0 });
      return void res.end();
    case '/hop2':
      res.writeHead(301, { Location: `${fleet.url}fw.zip`, 'Content-Length': 0 });
      return void res.end();
    case '/loop':
      res.writeHead(302, { Location: '/loop', 'Content-Length': 0 });
      return void res.end();
    case '/not-modified':
      res.writeHead(304);
      return void res.end();
    case '/gone':
      res.writeHead(404, { 'Content-Length': 0 });
      return void res.end();
    case '/short': // a clean close after half the promised body
    case '/cut': // the connection dies after half the body
      res.writeHead(200, { 'Content-Length': zip.length });
      res.write(zip.subarray(0, half), () => setTimeout(() => (path === '/short' ? req.socket.end() : req.socket.destroy()), 50));
      return;
    case '/stall': // headers and a little of the body, then nothing
      res.writeHead(200, { 'Content-Length': zip.length });
      res.write(zip.subarray(0, 3000));
      return;
    case '/slow':
      res.writeHead(200, { 'Content-Length': zip.length });
      res.write(zip.subarray(0, half));
      releaseSlow = () => res.end(zip.subarray(half));
      return;
    default:
      res.writeHead(404, { 'Content-Length': 0 });
      res.end();
  }
}

beforeAll(async () => {
  const ca = fixture.ca;
  const dir = join(fixture.tmp, 'bundles');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'fw.zip'), good.zip);
  writeFileSync(join(dir, 'other-key.zip'), badSig.zip);
  serverCert = await issueServerCert(ca, { dns: ['localhost'], ip: ['127.0.0.1'] });
  const opts = { bundlesDir: dir, certPem: serverCert.chainPem, keyPem: serverCert.privateKeyPem, log: (e: AccessLogEntry) => access.push(e) };
  fleet = await startFirmwareServer(opts);
  mtls = await startFirmwareServer({ ...opts, clientCaPem: ca.chainPem });
  strangerCaPem = (await initCa({ dir: join(fixture.tmp, 'stranger-ca'), passphrase: fixture.passphrase })).chainPem;
  odd = createHttpsServer({ cert: serverCert.chainPem, key: serverCert.privateKeyPem }, (req, res) => oddHandler(req, res));
  plain = createHttpServer((req, res) => oddHandler(req, res));
  for (const s of [odd, plain]) await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  oddUrl = `https://127.0.0.1:${(odd.address() as AddressInfo).port}`;
  plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await fleet?.stop();
  await mtls?.stop();
  for (const s of [odd, plain]) {
    s?.closeAllConnections();
    await new Promise((ok) => s?.close(ok));
  }
});

let chip: VirtualEsp32 | undefined;
let uart: RawUart;
afterEach(() => {
  releaseSlow?.();
  releaseSlow = undefined;
  uart?.close();
  chip?.powerOff();
  chip = undefined;
});

async function boot(opts: { files?: Record<string, string>; key?: Uint8Array; mgos?: MongooseOsOptions; clock?: ManualClock } = {}): Promise<void> {
  chip = await mgosBoard({
    files: { 'conf9.json': keyConf, 'ca.pem': fixture.ca.chainPem, 'device.txt': 'mine', ...opts.files },
    ...(opts.key ? { key: opts.key } : {}),
    ...(opts.clock ? { chip: { clock: opts.clock } } : {}),
    ...(opts.mgos ? { mgos: opts.mgos } : {}),
  });
  uart = new RawUart(chip);
}

const rpc = (method: string, params?: unknown, ms = 3_000) => rpcOver(uart, method, params, ms);
const pull = (url: string, commitTimeout = 300): Promise<Reply> => rpc('OTA.Update', { url, commit_timeout: commitTimeout }, 15_000);
const fleetUrl = (name = 'fw.zip') => `${fleet.url}${name}`;
const otadata = () => Buffer.from(chip!.flash.read(0xd000, 0x2000));
const app0 = () => Buffer.from(chip!.flash.read(0x10000, 0x8000));
const status = async () => (await rpc('OTA.Status')).result as { state: number; msg: string; progress_percent: number };

/** A pull that must fail: -1 with the message, OTA.Status in error, nothing switched, app_0 still boots. */
async function expectRefused(url: string, message: RegExp): Promise<void> {
  const od = otadata();
  const before = app0();
  const r = await pull(url);
  expect(r.error?.code, JSON.stringify(r)).toBe(-1);
  expect(r.error?.message).toMatch(message);
  expect(await status()).toMatchObject({ state: 2, msg: r.error?.message });
  expect(otadata().equals(od)).toBe(true);
  expect(app0().equals(before)).toBe(true);
  await powerCycleBoard(chip!, uart);
  expect(runningVersionOf(chip!)).toBe('app_0 1.2.3');
}

describe('OTA.Update pulls from the fleet firmware server over TLS', () => {
  it('lands in app_1, answers the 2017 error-0 success, reboots uncommitted; OTA.Commit keeps it; the server saw X-MGOS-* and served the whole bundle', async () => {
    await boot();
    const info = (await rpc('Sys.GetInfo')).result as { id: string; mac: string };
    const before = app0();
    access.length = 0;
    const r = await pull(fleetUrl());
    expect(r).toMatchObject({ error: APPLIED });
    expect(r).not.toHaveProperty('result');
    expect(app0().equals(before)).toBe(true); // the running slot is never written
    expect(Buffer.from(chip!.flash.read(APP_1, good.app.length)).equals(Buffer.from(good.app))).toBe(true);
    await waitRebooted(uart);
    expect(runningVersionOf(chip!)).toBe('app_1 1.3.0');
    expect(otadataSlotOf(chip!)).toBe(0); // tombstoned until commit
    expect((await rpc('OTA.GetBootState')).result).toEqual({ active_slot: 1, is_committed: false, revert_slot: 0, commit_timeout: 300 });
    expect((await pull(fleetUrl())).error).toEqual({ code: -1, message: 'Previous update has not been committed yet' });
    expect((await rpc('OTA.Commit')).error).toBeUndefined();
    expect(otadataSlotOf(chip!)).toBe(1);
    await powerCycleBoard(chip!, uart);
    expect(runningVersionOf(chip!)).toBe('app_1 1.3.0');

    await waitFor(() => access.length >= 1, 'the access log entry');
    const served = access.filter((e) => e.path === '/fw.zip');
    expect(served).toHaveLength(1); // the refused second pull never reached the server
    expect(served[0]).toMatchObject({ method: 'GET', status: 200, bytes: good.zip.length, complete: true, deviceId: `${info.id} ${info.mac}`, fwVersion: 'esp32 1.2.3 20261201-000000', cn: null });
  }, 60_000);

  it('the plain-result reading answers {"result":null} instead of error 0', async () => {
    await boot({ mgos: { ota: { updateReply: 'result' } } });
    const r = await pull(fleetUrl());
    expect(r.error).toBeUndefined();
    expect(r).toHaveProperty('result', null);
    await waitRebooted(uart);
    expect(runningVersionOf(chip!)).toBe('app_1 1.3.0');
  }, 30_000);

  it('a bundle signed by a key the board lacks is refused; otadata untouched', async () => {
    await boot();
    await expectRefused(fleetUrl('other-key.zip'), /Signature check failed/);
  }, 30_000);

  it('mTLS: update.ssl_client_cert_file (certificate and key in one PEM) is presented; without it the server refuses the handshake', async () => {
    const device = await issueDeviceCert(fixture.ca, { cn: 'esp32_0a0b0c' });
    await boot({ files: { 'client.pem': `${device.chainPem}${device.privateKeyPem}` } });
    await expectRefused(`${mtls.url}fw.zip`, /Connection|TLS/);
    expect((await rpc('Config.Set', { config: { update: { ssl_client_cert_file: 'client.pem' } } })).error).toBeUndefined();
    access.length = 0;
    expect(await pull(`${mtls.url}fw.zip`)).toMatchObject({ error: APPLIED });
    await waitFor(() => access.some((e) => e.status === 200), 'the access log entry');
    expect(access.find((e) => e.status === 200)).toMatchObject({ cn: 'esp32_0a0b0c', bytes: good.zip.length });
  }, 30_000);

  it('a CA that did not issue the server certificate: the TLS handshake is refused', async () => {
    await boot({ files: { 'ca.pem': strangerCaPem } });
    await expectRefused(fleetUrl(), /TLS handshake failed/);
  }, 30_000);

  it('update.ssl_server_name that the certificate does not name: refused; the URL host is the default name', async () => {
    await boot({ files: { 'conf8.json': JSON.stringify({ update: { ssl_server_name: 'firmware.example.com' } }) } });
    await expectRefused(fleetUrl(), /TLS handshake failed.*firmware\.example\.com/);
  }, 30_000);

  it('update.ssl_ca_file names a file the board lacks: nothing is fetched', async () => {
    await boot({ files: { 'conf8.json': JSON.stringify({ update: { ssl_ca_file: 'fleet-ca.pem' } }) } });
    await expectRefused(fleetUrl(), /TLS setup failed: fleet-ca\.pem: no such file/);
  }, 30_000);
});

describe('OTA.Update against odd servers', () => {
  it('sends User-Agent, X-MGOS-* and update.extra_http_headers; plain http:// is fetched too', async () => {
    await boot({ files: { 'conf8.json': JSON.stringify({ update: { extra_http_headers: 'X-Fleet-Token: abc\r\nX-Ring: canary' } }) } });
    const info = (await rpc('Sys.GetInfo')).result as { id: string; mac: string };
    seen.length = 0;
    expect(await pull(`${plainUrl}/fw.zip`)).toMatchObject({ error: APPLIED });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers).toMatchObject({
      'user-agent': 'espfleet-demo/1.2.3 (MongooseOS/2.20.0; esp32)',
      'x-mgos-device-id': `${info.id} ${info.mac}`,
      'x-mgos-fw-version': 'esp32 1.2.3 20261201-000000',
      'x-fleet-token': 'abc',
      'x-ring': 'canary',
    });
    await waitRebooted(uart);
    expect(runningVersionOf(chip!)).toBe('app_1 1.3.0');
  }, 30_000);

  it('a redirect chain (302 relative, then 301 to the fleet server) is followed', async () => {
    await boot();
    seen.length = 0;
    access.length = 0;
    expect(await pull(`${oddUrl}/hop1`)).toMatchObject({ error: APPLIED });
    expect(seen.map((s) => s.path)).toEqual(['/hop1', '/hop2']);
    await waitFor(() => access.length >= 1, 'the access log entry');
    expect(access[0]).toMatchObject({ path: '/fw.zip', status: 200, bytes: good.zip.length });
    await waitRebooted(uart);
    expect(runningVersionOf(chip!)).toBe('app_1 1.3.0');
  }, 30_000);

  const refusals: Array<[string, string, RegExp]> = [
    ['chunked transfer encoding', '/chunked', /Chunked transfer encoding is not supported/],
    ['304 Not Modified (no update)', '/not-modified', /Not Modified \(HTTP 304\): no update/],
    ['a redirect loop', '/loop', /Too many redirects/],
    ['404', '/gone', /Unexpected HTTP status 404/],
    ['a body shorter than its Content-Length (clean close)', '/short', /Connection closed after \d+ of \d+ bytes/],
    ['a connection cut mid-download', '/cut', /Connection (closed after \d+ of \d+ bytes|error)/],
  ];
  for (const [what, path, message] of refusals) {
    it(`${what}: failed, running slot and otadata untouched`, async () => {
      await boot();
      await expectRefused(`${oddUrl}${path}`, message);
    }, 30_000);
  }

  it('update.timeout: a download that stops making progress is abandoned (ManualClock) and answered -1; a new pull then works', async () => {
    const clock = new ManualClock();
    await boot({ clock, files: { 'conf8.json': JSON.stringify({ update: { timeout: 30 } }) } });
    const reply = pull(`${oddUrl}/stall`);
    await waitFor(() => chip!.bootLog().includes('Content-Length'), 'the response head');
    let st = await status();
    for (let i = 0; i < 200 && st.progress_percent === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      st = await status();
    }
    expect(st).toMatchObject({ state: 1, progress_percent: Math.floor((100 * 3000) / good.zip.length) });
    clock.advance(29_000);
    expect((await status()).state).toBe(1);
    clock.advance(1_000);
    expect(await reply).toMatchObject({ error: { code: -1, message: 'Update timed out' } });
    expect(await status()).toMatchObject({ state: 2, msg: 'Update timed out' });
    expect(await pull(fleetUrl())).toMatchObject({ error: APPLIED });
    clock.advance(100);
    await waitRebooted(uart);
    expect(runningVersionOf(chip!)).toBe('app_1 1.3.0');
  }, 30_000);

  it('bad arguments are answered at once: no url, a scheme other than http(s)', async () => {
    await boot();
    expect((await rpc('OTA.Update', { commit_timeout: 300 })).error).toEqual({ code: 400, message: 'url is required' });
    expect((await rpc('OTA.Update', { url: 'ftp://127.0.0.1/fw.zip' })).error).toEqual({ code: 400, message: 'unsupported URL scheme ftp:' });
    expect((await status()).state).toBe(0);
  }, 30_000);

  it('OTA.Status during the pull shows state 1 and the percentage of Content-Length; a second OTA.Update or OTA.Begin is refused', async () => {
    await boot();
    const reply = pull(`${oddUrl}/slow`);
    const half = Math.floor(good.zip.length / 2);
    const want = Math.floor((100 * half) / good.zip.length);
    await waitFor(() => releaseSlow !== undefined, 'the slow response');
    let st = await status();
    for (let i = 0; i < 200 && st.progress_percent < want; i++) {
      await new Promise((r) => setTimeout(r, 10));
      st = await status();
    }
    expect(st).toMatchObject({ state: 1, progress_percent: want });
    expect((await pull(fleetUrl())).error).toEqual({ code: -1, message: 'Update already in progress' });
    expect((await rpc('OTA.Begin', { size: 10 })).error?.message).toMatch(/in progress/);
    releaseSlow!();
    expect(await reply).toMatchObject({ error: APPLIED });
    await waitRebooted(uart);
    expect(runningVersionOf(chip!)).toBe('app_1 1.3.0');
  }, 30_000);
});

describe('OTA.Update and power', () => {
  const fw = makeDemoFirmware({ version: '1.3.0', seed: 7 });
  // Each 4 KiB sector of the two wanted files is one erase and one program (§1.1: the tail padded).
  const downloadEvents = 2 * (Math.ceil(fw.parts.app.length / 0x1000) + Math.ceil(fw.parts.fs.length / 0x1000));
  const cuts: Array<[string, number]> = [
    ['at the download start (first erase)', 1],
    ['in the middle of the download', Math.floor(downloadEvents / 2)],
    ['at the end of the download (last sector, before finalize)', downloadEvents],
  ];
  for (const [what, at] of cuts) {
    it(`a power cut ${what}: no flash write after it, and the board boots the old firmware`, async () => {
      await boot();
      let events = 0;
      let afterCut = 0;
      let cut = false;
      const off = chip!.onCommit((w) => {
        if (!w.startsWith('APP_FLASH')) return;
        if (cut) return void afterCut++;
        if (++events === at) {
          cut = true;
          chip!.powerOff();
        }
      });
      void pull(fleetUrl()).catch(() => undefined);
      await waitFor(() => cut, 'the cut', 10_000);
      await new Promise((r) => setTimeout(r, 100));
      off();
      expect(afterCut).toBe(0);
      expect(chip!.state).toBe('off');
      chip!.powerOn();
      await waitFor(() => chip!.state === 'app' && chip!.bootLog().includes('Init done'), 'the boot after the cut');
      uart.take();
      expect(runningVersionOf(chip!)).toBe('app_0 1.2.3');
      expect((await status()).state).toBe(0);
      expect((await rpc('OTA.GetBootState')).result).toMatchObject({ active_slot: 0, is_committed: true });
    }, 30_000);
  }

  it('the board is updatable again after a cut', async () => {
    await boot();
    let n = 0;
    const off = chip!.onCommit((w) => {
      if (w.startsWith('APP_FLASH') && ++n === 7) chip!.powerOff();
    });
    void pull(fleetUrl()).catch(() => undefined);
    await waitFor(() => chip!.state === 'off', 'the cut', 10_000);
    off();
    chip!.powerOn();
    await waitFor(() => chip!.state === 'app' && chip!.bootLog().includes('Init done'), 'the boot after the cut');
    uart.take();
    expect(await pull(fleetUrl())).toMatchObject({ error: APPLIED });
    await waitRebooted(uart);
    expect(runningVersionOf(chip!)).toBe('app_1 1.3.0');
  }, 30_000);
});

describe('OTA.Update through RPC.LOCAL (the agent\'s path, docs/ota-protocol.md §4)', () => {
  it('the mJS callback gets (null, 0, "Update applied, finalizing") with the error-0 reading, then the board reboots into app_1', async () => {
    const initJs = `load('api_rpc.js');
RPC.call(RPC.LOCAL, 'OTA.Update', { url: '${fleetUrl()}', commit_timeout: 300 }, function(res, code, msg, ud) {
  print('ota reply', JSON.stringify(res), code, msg);
}, null);
`;
    await boot({ files: { 'init.js': initJs }, mgos: { scripts: mjsRunner() } });
    await waitFor(() => uart.peek().includes('ota reply'), 'the callback', 10_000);
    expect(uart.peek()).toContain('ota reply null 0 Update applied, finalizing');
    await waitRebooted(uart);
    expect(runningVersionOf(chip!)).toBe('app_1 1.3.0');
  }, 30_000);

  it('a failure reaches the callback as -1 with the updater\'s message', async () => {
    const initJs = `load('api_rpc.js');
RPC.call(RPC.LOCAL, 'OTA.Update', { url: '${fleetUrl('other-key.zip')}', commit_timeout: 300 }, function(res, code, msg, ud) {
  print('ota reply', JSON.stringify(res), code, msg);
}, null);
`;
    await boot({ files: { 'init.js': initJs }, mgos: { scripts: mjsRunner() } });
    await waitFor(() => uart.peek().includes('ota reply'), 'the callback', 10_000);
    expect(uart.peek()).toMatch(/ota reply null -1 Signature check failed/);
  }, 30_000);
});

describe.skipIf(!oracleAvailable('esptool') || !oracleAvailable('espsecure'))('OTA.Update on an encrypted board', () => {
  it('esptool read-flash + espsecure decrypt-flash-data show the pulled app in app_1', async () => {
    const key = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
    await boot({ key });
    expect(await pull(fleetUrl())).toMatchObject({ error: APPLIED });
    await waitRebooted(uart);
    expect(runningVersionOf(chip!)).toBe('app_1 1.3.0');
    expect((await rpc('OTA.Commit')).error).toBeUndefined();
    await expectEncryptedApp1(chip!, key, good.app);
  }, 200_000);
});

describe('ota-http-client request and response codecs', () => {
  it('builds the GET with Host, the headers, Connection: close and the extra lines', () => {
    const text = buildRequest(new URL('https://fw.example.com:8443/a/fw.zip?v=2'), [['X-MGOS-FW-Version', 'esp32 1 2']], 'X-A: 1\nX-B: 2\n');
    expect(text).toBe('GET /a/fw.zip?v=2 HTTP/1.1\r\nHost: fw.example.com:8443\r\nX-MGOS-FW-Version: esp32 1 2\r\nConnection: close\r\nX-A: 1\r\nX-B: 2\r\n\r\n');
  });

  it('parses a head once complete, with lower-case names and the body offset', () => {
    const raw = new TextEncoder().encode('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: "x"\r\n\r\nhello');
    expect(parseResponseHead(raw.subarray(0, 20))).toBeUndefined();
    const h = parseResponseHead(raw)!;
    expect(h.status).toBe(200);
    expect(h.headers.get('content-length')).toBe('5');
    expect(h.headers.get('etag')).toBe('"x"');
    expect(new TextDecoder().decode(raw.subarray(h.length))).toBe('hello');
    expect(() => parseResponseHead(new TextEncoder().encode('SSH-2.0\r\n\r\n'))).toThrow(/malformed status line/);
  });
});
