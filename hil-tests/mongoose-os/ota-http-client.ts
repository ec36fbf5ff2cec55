// OTA.Update for the Mongoose OS double: ota-http-client's pull (spec mongoose-os.md §2.1,
// §2.4). GETs the URL over the firmware host's network (TLS per update.ssl_*), takes only a
// 200 with a real Content-Length, follows 301/302, and streams the body into the updater's
// one session path (begin → feed → finish), so the pull and the push judge bundles alike.
// The reply is deferred: it comes when the download and apply are over.
import type { Duplex } from 'node:stream';
import { checkServerIdentity, connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { FirmwareHost } from '../virtual-esp32/firmware-host.ts';
import { lookup, type ConfigStore } from './config-store.ts';
import { ESP32_TLS_CIPHERS } from './mqtt-conn.ts';
import { num, obj, type OtaReadings, type OtaUpdater, type UpdateSession } from './ota-updater.ts';
import type { RootFs } from './root-fs.ts';
import { RpcFail } from './rpc-fail.ts';
import type { RpcHandler } from './services.ts';
import { concatBytes } from '../../firmware-js/bytes.ts';

/** Redirects followed before giving up (the 2017 code's bound is not known; any loop must end). */
export const MAX_REDIRECTS = 5;
/** Response status line + headers larger than this are refused (a board buffers them in RAM). */
const MAX_HEAD_BYTES = 8192;

export interface OtaHttpContext {
  host: FirmwareHost;
  fs: RootFs;
  config: ConfigStore;
  log(line: string): void;
  updater: OtaUpdater;
  readings: OtaReadings;
  /** What the request headers say the board is (§2.4). */
  identity(): { deviceId: string; mac: string; app: string; fwVersion: string; fwId: string; mgVersion: string };
}

export interface ResponseHead {
  status: number;
  /** Lower-case names; a repeated header keeps its last value. */
  headers: Map<string, string>;
  /** Bytes the status line and headers took, including the blank line. */
  length: number;
}

/** The status line and headers once the blank line is in `buf`; undefined while more is needed. */
export function parseResponseHead(buf: Uint8Array): ResponseHead | undefined {
  const text = Buffer.from(buf).toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) {
    if (buf.length > MAX_HEAD_BYTES) throw new Error(`response headers exceed ${MAX_HEAD_BYTES} bytes`);
    return undefined;
  }
  const lines = text.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!m) throw new Error(`malformed status line ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) throw new Error(`malformed header line ${JSON.stringify(line.slice(0, 80))}`);
    headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return { status: Number(m[1]), headers, length: end + 4 };
}

/** The GET the board sends (§2.4 headers); `extra` is update.extra_http_headers, one header per line. */
export function buildRequest(url: URL, headers: ReadonlyArray<[string, string]>, extra: string): string {
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, ...headers.map(([k, v]) => `${k}: ${v}`), 'Connection: close'];
  for (const l of extra.split(/\r?\n/)) if (l.trim() !== '') lines.push(l.trim());
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** The OTA.Update handler: refusals (in progress, uncommitted, bad args) answer at once, the rest when the pull ends. */
export function otaUpdateHandler(ctx: OtaHttpContext): RpcHandler {
  return (params) => {
    const p = obj(params);
    if (typeof p.url !== 'string' || p.url === '') throw new RpcFail(400, 'url is required');
    let url: URL;
    try {
      url = new URL(p.url);
    } catch {
      throw new RpcFail(400, `invalid url ${p.url}`);
    }
    // §2.4: TLS for https://; plain http:// is fetched as it is (the library allows it).
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RpcFail(400, `unsupported URL scheme ${url.protocol}`);
    const cfg = (k: string) => lookup(ctx.config.get(), k);
    const commitTimeout = num(p.commit_timeout, Number(cfg('update.commit_timeout') ?? 0));
    return new Promise<unknown>((resolve, reject) => {
      const pull = new Pull(ctx, (outcome) => {
        if (outcome.ok) {
          if (ctx.readings.updateReply === 'result') resolve(null);
          else reject(new RpcFail(0, ctx.updater.message)); // the 2017 form: success as error code 0
        } else {
          reject(new RpcFail(-1, outcome.message));
        }
      });
      const session = ctx.updater.beginSession({ timeout: Number(cfg('update.timeout') ?? 600), commitTimeout, size: 0, onAbort: (m) => pull.abandon(m) });
      pull.start(session, url);
    });
  };
}

type Outcome = { ok: true } | { ok: false; message: string };
type Phase = { kind: 'head'; buf: Uint8Array } | { kind: 'body'; left: number; total: number } | { kind: 'over' };

/** One OTA.Update: its connections (one per redirect) and how far the body got. */
class Pull {
  private session!: UpdateSession;
  private socket: Duplex | undefined;
  private phase: Phase = { kind: 'over' };
  private redirects = 0;
  private settled = false;

  constructor(
    private readonly ctx: OtaHttpContext,
    private readonly done: (o: Outcome) => void,
  ) {
    // Power cut or reset: the host closes the socket; nothing more is written or answered.
    ctx.host.signal.addEventListener(
      'abort',
      () => {
        this.settled = true;
        this.socket?.destroy();
      },
      { once: true },
    );
  }

  start(session: UpdateSession, url: URL): void {
    this.session = session;
    this.connect(url);
  }

  /** The updater gave up by itself (update.timeout). */
  abandon(message: string): void {
    this.end({ ok: false, message });
  }

  private get stopped(): boolean {
    return this.settled || this.ctx.host.signal.aborted;
  }

  private connect(url: URL): void {
    const tls = url.protocol === 'https:';
    const port = url.port !== '' ? Number(url.port) : tls ? 443 : 80;
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.ctx.log(`mgos_ota_http_start  GET ${url.href}`);
    let tlsOptions: ConnectionOptions | undefined;
    try {
      if (tls) tlsOptions = this.tlsOptions(host);
    } catch (e) {
      return this.end({ ok: false, message: `TLS setup failed: ${(e as Error).message}` });
    }
    let socket: Duplex;
    try {
      const tcp = this.ctx.host.connect({ host, port });
      socket = tlsOptions ? tlsConnect({ ...tlsOptions, socket: tcp }) : tcp;
    } catch (e) {
      return this.end({ ok: false, message: `Connection to ${host}:${port} failed: ${(e as Error).message}` });
    }
    this.socket = socket;
    let up = false;
    const send = () => {
      up = true;
      if (this.stopped || this.socket !== socket) return;
      this.phase = { kind: 'head', buf: new Uint8Array(0) };
      socket.write(buildRequest(url, this.headers(), this.cfgStr('update.extra_http_headers')));
    };
    socket.once(tls ? 'secureConnect' : 'connect', send);
    socket.on('data', (chunk: Buffer) => {
      if (this.stopped || this.socket !== socket) return;
      try {
        this.receive(url, new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
      } catch (e) {
        this.bug(e);
      }
    });
    socket.on('error', (e: Error) => {
      if (this.stopped || this.socket !== socket) return;
      const what = !up && tls ? 'TLS handshake failed' : up ? 'Connection error' : `Connection to ${host}:${port} failed`;
      this.end({ ok: false, message: `${what}: ${e.message}` });
    });
    socket.on('close', () => {
      if (this.stopped || this.socket !== socket) return;
      const ph = this.phase;
      if (ph.kind === 'body') this.end({ ok: false, message: `Connection closed after ${ph.total - ph.left} of ${ph.total} bytes` });
      else this.end({ ok: false, message: 'Connection closed before a response' });
    });
  }

  private receive(url: URL, bytes: Uint8Array): void {
    const ph = this.phase;
    if (ph.kind === 'head') {
      const buf = concatBytes([ph.buf, bytes]);
      let head: ResponseHead | undefined;
      try {
        head = parseResponseHead(buf);
      } catch (e) {
        return this.end({ ok: false, message: `Bad response: ${(e as Error).message}` });
      }
      if (!head) {
        this.phase = { kind: 'head', buf };
        return;
      }
      this.onHead(url, head, buf.subarray(head.length));
      return;
    }
    if (ph.kind !== 'body') return;
    const take = bytes.subarray(0, Math.min(bytes.length, ph.left)); // bytes past Content-Length are ignored
    if (take.length === 0) return;
    try {
      this.ctx.updater.feed(this.session, take);
    } catch (e) {
      if (e instanceof RpcFail) return this.end({ ok: false, message: e.message });
      throw e;
    }
    ph.left -= take.length;
    if (ph.left === 0) this.complete();
  }

  private onHead(url: URL, head: ResponseHead, rest: Uint8Array): void {
    const { status, headers } = head;
    this.ctx.log(`mgos_ota_http_ev     HTTP ${status}`);
    if (status === 301 || status === 302) {
      const location = headers.get('location');
      if (!location) return this.end({ ok: false, message: `HTTP ${status} without a Location` });
      if (++this.redirects > MAX_REDIRECTS) return this.end({ ok: false, message: `Too many redirects (more than ${MAX_REDIRECTS})` });
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        return this.end({ ok: false, message: `Bad redirect Location ${location}` });
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') return this.end({ ok: false, message: `Redirect to unsupported scheme ${next.protocol}` });
      const old = this.socket;
      this.socket = undefined;
      this.phase = { kind: 'over' };
      old?.destroy();
      return this.connect(next);
    }
    if (status === 304) return this.end({ ok: false, message: 'Not Modified (HTTP 304): no update available' });
    if (status !== 200) return this.end({ ok: false, message: `Unexpected HTTP status ${status}` });
    if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) return this.end({ ok: false, message: 'Chunked transfer encoding is not supported; a Content-Length is required' });
    const lengthText = headers.get('content-length');
    if (lengthText === undefined || !/^\d+$/.test(lengthText)) return this.end({ ok: false, message: 'No Content-Length in the response' });
    const total = Number(lengthText);
    this.ctx.updater.setSize(this.session, total);
    this.ctx.log(`mgos_ota_http_ev     Content-Length ${total}`);
    this.phase = { kind: 'body', left: total, total };
    if (total === 0) return this.complete();
    if (rest.length > 0) this.receive(url, rest);
  }

  private complete(): void {
    this.phase = { kind: 'over' };
    try {
      this.ctx.updater.finish(this.session);
    } catch (e) {
      if (e instanceof RpcFail) return this.end({ ok: false, message: e.message });
      throw e;
    }
    this.end({ ok: true });
  }

  private end(o: Outcome): void {
    if (this.stopped) return;
    this.settled = true;
    this.phase = { kind: 'over' };
    const s = this.socket;
    this.socket = undefined;
    s?.destroy();
    if (!o.ok) {
      this.ctx.updater.abort(this.session, o.message); // no-op when the updater already failed it
      this.ctx.log(`mgos_ota_http_ev     Update failed: ${o.message}`);
    }
    this.done(o);
  }

  /** A bug in the double (not the server's or the bundle's fault): the chip faults visibly. */
  private bug(e: unknown): void {
    this.settled = true;
    this.socket?.destroy();
    this.ctx.host.fault(e);
  }

  private cfgStr(k: string): string {
    const v = lookup(this.ctx.config.get(), k);
    return typeof v === 'string' ? v : '';
  }

  private headers(): Array<[string, string]> {
    const id = this.ctx.identity();
    // [U] the MAC's text form: the ro var mac_address (12 hex digits, as Sys.GetInfo shows it).
    return [
      ['User-Agent', `${id.app}/${id.fwVersion} (MongooseOS/${id.mgVersion}; esp32)`],
      ['X-MGOS-Device-ID', `${id.deviceId || '-'} ${id.mac}`],
      ['X-MGOS-FW-Version', `esp32 ${id.fwVersion} ${id.fwId}`],
    ];
  }

  /**
   * §2.4: ssl_ca_cert = update.ssl_ca_file, ssl_cert = update.ssl_client_cert_file,
   * ssl_server_name = update.ssl_server_name (empty → the URL host). TLS 1.2 with the
   * ESP32's suites, as the MQTT connection offers.
   */
  private tlsOptions(host: string): ConnectionOptions {
    const ca = this.cfgStr('update.ssl_ca_file');
    const cert = this.cfgStr('update.ssl_client_cert_file');
    const serverName = this.cfgStr('update.ssl_server_name');
    const o: ConnectionOptions = { host, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: ESP32_TLS_CIPHERS };
    const name = serverName || host;
    // The name is both SNI and what the certificate must match (mbedtls_ssl_set_hostname);
    // node takes no IP address as SNI, but still checks an IP host against the certificate.
    if (!/^[\d.]+$|:/.test(name)) o.servername = name;
    else if (serverName) o.checkServerIdentity = (_h, c) => checkServerIdentity(serverName, c);
    // Empty: no CA, so mbedTLS does not verify the server (mongoose's NULL ssl_ca_cert); "*" likewise.
    if (ca === '' || ca === '*') o.rejectUnauthorized = false;
    else o.ca = this.readFile(ca);
    if (cert !== '') {
      // [U] ota-http-client sets only ssl_cert; mongoose then loads the key from the same
      // file (ssl_key NULL → cert file), so the PEM holds the certificate and its key. A
      // later build with a separate key setting is not public; not modelled.
      const pem = this.readFile(cert);
      o.cert = pem;
      o.key = pem;
    }
    return o;
  }

  private readFile(name: string): Buffer {
    const path = name.replace(/^\/+/, '');
    if (!this.ctx.fs.exists(path)) throw new Error(`${name}: no such file`);
    return Buffer.from(this.ctx.fs.read(path));
  }
}

