// An HTTPS server for firmware bundles, shaped by what ota-http-client sends and expects
// (shared/spec/mongoose-os.md §2.4): 200 with a real Content-Length (never chunked), 304
// when If-None-Match matches, byte ranges (206), optional mTLS, one access log line per request.
import { createHash } from 'node:crypto';
import { createReadStream, realpathSync, statSync, type Stats } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { FleetError } from './errors.ts';

export interface FirmwareServerOptions {
  /** The directory whose files are served (subdirectories too, never anything outside it). */
  bundlesDir: string;
  /** The server certificate chain (leaf then issuing CA) and its key, PEM. */
  certPem: string;
  keyPem: string;
  /** When given, a client certificate issued under this CA (PEM) is required. */
  clientCaPem?: string;
  /** Default 127.0.0.1 and port 0 (any free port). */
  host?: string;
  port?: number;
  /** Receives one entry per request, after the response ended or the client went away. */
  log?: (entry: AccessLogEntry) => void;
  clock?: () => Date;
}

export interface AccessLogEntry {
  time: string;
  remote: string;
  /** The client certificate's CN under mTLS; null without a client certificate. */
  cn: string | null;
  /** What the client says it is (X-MGOS-Device-ID, X-MGOS-FW-Version): claims, not proof. */
  deviceId: string | null;
  fwVersion: string | null;
  method: string;
  path: string;
  status: number;
  /** Body bytes sent (0 for HEAD and 304). */
  bytes: number;
  /** False when the client went away before the body was sent. */
  complete: boolean;
}

export interface FirmwareServer {
  /** `https://host:port/` — a bundle `fw.zip` in the directory is at `${url}fw.zip`. */
  url: string;
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** Formats an access log entry as one text line. */
export function formatAccessLine(e: AccessLogEntry): string {
  const who = e.cn === null ? '-' : `cn=${e.cn}`;
  const claims = [e.deviceId === null ? '' : ` device-id=${JSON.stringify(e.deviceId)}`, e.fwVersion === null ? '' : ` fw=${JSON.stringify(e.fwVersion)}`].join('');
  return `${e.time} ${e.remote} ${who} "${e.method} ${e.path}" ${e.status} ${e.bytes}${e.complete ? '' : ' incomplete'}${claims}`;
}

interface Etagged {
  etag: string;
  key: string;
}

export async function startFirmwareServer(opts: FirmwareServerOptions): Promise<FirmwareServer> {
  let root: string;
  try {
    root = realpathSync(resolve(opts.bundlesDir));
    if (!statSync(root).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new FleetError('fleet.serve.no_bundles_dir', `no bundles directory at ${opts.bundlesDir}`, { hint: 'give --bundles the directory holding the signed fw.zip files' });
  }
  const clock = opts.clock ?? (() => new Date());
  const etags = new Map<string, Etagged>();

  // A strong ETag from the content; recomputed when the file's size, mtime or inode changes.
  const etagOf = async (path: string, st: Stats): Promise<string> => {
    const key = `${st.size}:${st.mtimeMs}:${st.ino}`;
    const hit = etags.get(path);
    if (hit && hit.key === key) return hit.etag;
    const h = createHash('sha256');
    for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
    const etag = `"${h.digest('hex').slice(0, 32)}"`;
    etags.set(path, { etag, key });
    return etag;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, entry: AccessLogEntry): Promise<void> => {
    const fail = (status: number, text: string, headers: Record<string, string> = {}) => {
      entry.status = status;
      const body = `${text}\n`;
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
      if (req.method !== 'HEAD') entry.bytes = Buffer.byteLength(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405, 'only GET and HEAD', { Allow: 'GET, HEAD' });
    const file = resolveInside(root, req.url ?? '/');
    if (file === undefined) return fail(400, 'bad path');
    let st: Stats;
    try {
      st = statSync(file);
    } catch {
      return fail(404, 'no such bundle');
    }
    if (!st.isFile()) return fail(404, 'no such bundle');
    const etag = await etagOf(file, st);
    const common = {
      ETag: etag,
      'Last-Modified': st.mtime.toUTCString(),
      'Accept-Ranges': 'bytes',
      'Cache-Control': 'no-cache',
    };
    if (matchesEtag(req.headers['if-none-match'], etag)) {
      entry.status = 304;
      res.writeHead(304, common);
      res.end();
      return;
    }
    const type = /\.zip$/i.test(file) ? 'application/zip' : 'application/octet-stream';
    const ifRange = req.headers['if-range'];
    const range = req.headers.range !== undefined && (ifRange === undefined || ifRange === etag) ? parseRange(req.headers.range, st.size) : null;
    if (range === 'unsatisfiable') return fail(416, 'range not satisfiable', { 'Content-Range': `bytes */${st.size}`, ...common });
    const [start, end] = range ?? [0, st.size - 1];
    const length = end - start + 1;
    entry.status = range ? 206 : 200;
    res.writeHead(entry.status, {
      ...common,
      'Content-Type': type,
      'Content-Length': String(length),
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${st.size}` } : {}),
    });
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return;
    }
    await new Promise<void>((done) => {
      const stream = createReadStream(file, { start, end });
      stream.on('data', (chunk) => {
        entry.bytes += chunk.length;
        if (!res.write(chunk)) stream.pause();
      });
      res.on('drain', () => stream.resume());
      stream.on('end', () => {
        res.end();
        done();
      });
      stream.on('error', () => {
        res.destroy();
        done();
      });
      res.on('close', () => {
        stream.destroy();
        done();
      });
    });
  };

  const server: Server = createServer(
    {
      cert: opts.certPem,
      key: opts.keyPem,
      ...(opts.clientCaPem !== undefined ? { ca: opts.clientCaPem, requestCert: true, rejectUnauthorized: true } : {}),
      minVersion: 'TLSv1.2',
    },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      const peer = opts.clientCaPem !== undefined ? socket.getPeerCertificate() : undefined;
      const cnRaw = peer?.subject?.CN;
      const header = (name: string) => {
        const v = req.headers[name];
        return typeof v === 'string' ? v : null;
      };
      const entry: AccessLogEntry = {
        time: clock().toISOString(),
        remote: socket.remoteAddress ?? '-',
        cn: typeof cnRaw === 'string' ? cnRaw : Array.isArray(cnRaw) ? cnRaw.join(',') : null,
        deviceId: header('x-mgos-device-id'),
        fwVersion: header('x-mgos-fw-version'),
        method: req.method ?? '-',
        path: (req.url ?? '').slice(0, 512),
        status: 0,
        bytes: 0,
        complete: false,
      };
      let logged = false;
      const finish = () => {
        if (logged) return;
        logged = true;
        entry.complete = res.writableFinished;
        opts.log?.(entry);
      };
      res.on('finish', finish);
      res.on('close', finish);
      handle(req, res, entry).catch(() => {
        entry.status = 500;
        if (!res.headersSent) res.writeHead(500, { 'Content-Length': '0' });
        res.destroy();
      });
    },
  );
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((ok, bad) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      bad(new FleetError('fleet.serve.listen', `cannot listen on ${host}:${opts.port ?? 0}: ${e.code ?? e.message}`, { hint: 'pick another --listen address or port', cause: e })),
    );
    server.listen(opts.port ?? 0, host, () => ok());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 0);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `https://${urlHost}:${port}/`,
    host,
    port,
    stop: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

/**
 * The file a request path names inside `root`, or undefined when it would leave it (`..`,
 * an absolute or encoded escape, a NUL, a symlink pointing out). Only the path, no query.
 */
export function resolveInside(root: string, url: string): string | undefined {
  const rawPath = url.split('?')[0] ?? '';
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return undefined;
  }
  if (!path.startsWith('/') || path.includes('\0') || path.includes('\\')) return undefined;
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.length === 0 || parts.some((p) => p === '..' || p === '.')) return undefined;
  const candidate = resolve(root, ...parts);
  if (!inside(root, candidate)) return undefined;
  try {
    const real = realpathSync(candidate);
    return inside(root, real) ? real : undefined;
  } catch {
    return candidate; // does not exist: the caller answers 404
  }
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => t.trim() === '*' || bare(t) === etag);
}

/**
 * One `bytes=` range as [start, end] inclusive; null to ignore the header (several ranges,
 * another unit, malformed: RFC 9110 lets a server answer 200 then), 'unsatisfiable' for 416.
 */
export function parseRange(header: string, size: number): [number, number] | null | 'unsatisfiable' {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return null;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return null;
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(a);
  if (start >= size) return 'unsatisfiable';
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (end < start) return null;
  return [start, end];
}
