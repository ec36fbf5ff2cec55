// The dashboard's HTTP server (node:http, docs/dashboard.md): the page's static files from
// public/, a JSON API over data.ts, the live feed as Server-Sent Events (/events), and the
// rollout buttons — pause, resume, abort through fleet/rollout-control.ts, the very calls of
// `espfleet ota rollout pause|resume|abort`. Who may do what:
// - on loopback without a token, any local client reads; Host must name this server (no
//   DNS rebinding from a web page);
// - with a token (required off loopback) every request needs the session cookie that
//   POST /login sets for the right token, or `Authorization: Bearer <token>`;
// - control exists only when the dashboard holds an operator's broker identity, and each
//   POST needs the CSRF header from /api/session, a JSON body confirming the rollout id,
//   and (when sent) an Origin of this server.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MqttClient } from 'mqtt';
import { isEspfleetError } from '../../firmware-js/errors.ts';
import type { FleetWatch } from '../fleet/fleet-watch.ts';
import { controlRollout, resumeRollout, type ControlStores } from '../fleet/rollout-control.ts';
import { driveRollout, type DriverEvent } from '../fleet/rollout-driver.ts';
import { DEVICE_STATUSES } from '../station/registry-sqlite.ts';
import type { DeviceStatus } from '../station/records.ts';
import { DashboardError } from './errors.ts';
import type { DashboardData, DeviceQuery } from './data.ts';
import type { LiveFeed } from './live.ts';

export interface DashboardControl {
  /** The operator certificate's CN: the actor of every audit entry the buttons cause. */
  actor: string;
  /** The registry opened for writing and its audit log. */
  stores: ControlStores;
  /** The operator's broker connection: a resumed rollout is driven from here. */
  client: MqttClient;
  watch: FleetWatch;
}

export interface DashboardServerOptions {
  data: DashboardData;
  feed: LiveFeed;
  host: string;
  port: number;
  /** Required when host is not loopback. */
  token?: string;
  control?: DashboardControl;
  /** The broker's view of boards (online, version), merged into the device table. */
  watch?: FleetWatch;
  /** Why the page is read-only (shown on it), when control is absent. */
  readOnlyReason?: string;
  assetsDir?: string;
}

export interface DashboardServer {
  url: string;
  port: number;
  /** Drivers of rollouts resumed from the page that are still running. */
  drivers(): string[];
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** public/ beside this module; from the compiled dist/ build, the one in the sources. */
export function defaultAssetsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, 'public');
  if (existsSync(join(beside, 'index.html'))) return beside;
  return join(here, '..', '..', '..', 'provisioner', 'dashboard', 'public');
}

const ASSETS: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/charts.js': 'charts.js',
  '/style.css': 'style.css',
};
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};
const COOKIE = 'espfleet_dashboard';
const CSRF_HEADER = 'x-espfleet-csrf';

const digest = (s: string) => createHash('sha256').update(s).digest();
const sameSecret = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

function send(res: ServerResponse, status: number, body: string | Buffer, type: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)), 'cache-control': 'no-store', ...SECURITY_HEADERS, ...extra });
  res.end(body);
}

const json = (res: ServerResponse, status: number, data: unknown) => send(res, status, JSON.stringify(data), 'application/json; charset=utf-8');
const problem = (res: ServerResponse, status: number, code: string, message: string, hint?: string) => json(res, status, { error: { code, message, ...(hint ? { hint } : {}) } });

function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), decodeURIComponent(part.slice(i + 1).trim()));
  }
  return out;
}

async function readBody(req: IncomingMessage, max = 16_384): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) throw new DashboardError('dashboard.body_too_large', `request body over ${max} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describe(e: DriverEvent): string | undefined {
  switch (e.type) {
    case 'wave-started':
      return `wave ${e.wave + 1} of ${e.waves} started: ${e.boards} boards`;
    case 'wave-passed':
      return `wave ${e.wave + 1} of ${e.waves} passed`;
    case 'commanded':
      return e.ids.length > 0 ? `commanded ${e.ids.join(' ')}` : undefined;
    case 'redelivered':
      return `sent again: ${e.ids.join(' ')}`;
    case 'timed-out':
      return `timed out: ${e.ids.join(' ')}`;
    case 'report':
      return `${e.id}: ${e.status}${e.report.reason !== undefined ? ` (${e.report.reason})` : ''}`;
    case 'online':
      return undefined;
  }
}

function deviceQuery(u: URL): DeviceQuery {
  const p = u.searchParams;
  const int = (name: string, min: number, max: number): number | undefined => {
    const v = p.get(name);
    if (v === null || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new DashboardError('dashboard.bad_query', `${name} must be a whole number in ${min}..${max}, got ${JSON.stringify(v)}`);
    return n;
  };
  const status = p.get('status') || undefined;
  if (status !== undefined && !DEVICE_STATUSES.includes(status as DeviceStatus)) {
    throw new DashboardError('dashboard.bad_query', `status must be one of ${DEVICE_STATUSES.join(', ')}, got ${JSON.stringify(status)}`);
  }
  const q: DeviceQuery = {};
  const text = p.get('q');
  if (text) q.q = text.slice(0, 200);
  if (status) q.status = status as DeviceStatus;
  const version = p.get('version');
  if (version) q.version = version;
  const expires = int('expires', 0, 36_500);
  if (expires !== undefined) q.expiresWithinDays = expires;
  const offset = int('offset', 0, 10_000_000);
  if (offset !== undefined) q.offset = offset;
  const limit = int('limit', 1, 500);
  if (limit !== undefined) q.limit = limit;
  return q;
}

export async function startDashboardServer(opts: DashboardServerOptions): Promise<DashboardServer> {
  const loopback = isLoopback(opts.host);
  if (!loopback && opts.token === undefined) {
    throw new DashboardError('dashboard.needs_token', `the dashboard listens on ${opts.host}, which is not loopback: it needs a token`, {
      hint: 'give --token-file (a file holding a long random token), or --listen 127.0.0.1:PORT and reach it through an SSH tunnel',
    });
  }
  const assets = opts.assetsDir ?? defaultAssetsDir();
  const csrf = randomBytes(24).toString('base64url');
  const sessions = new Set<string>();
  const drivers = new Map<string, Promise<void>>();
  // Closing the dashboard stops its drivers between steps (the rollout stays resumable).
  const stopDrivers = new AbortController();
  const streams = new Set<ServerResponse>();
  let port = opts.port;

  const hostAllowed = (req: IncomingMessage) => {
    if (!loopback) return true;
    const h = (req.headers.host ?? '').toLowerCase();
    return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${opts.host}:${port}`].includes(h);
  };
  const authorized = (req: IncomingMessage) => {
    if (opts.token === undefined) return true;
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer !== undefined) return sameSecret(bearer, opts.token);
    const sid = cookies(req).get(COOKIE);
    return sid !== undefined && sessions.has(sid);
  };

  const loginPage = (res: ServerResponse, status: number, note: string) =>
    send(
      res,
      status,
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>espfleet dashboard: sign in</title><link rel="stylesheet" href="/style.css"></head><body><main class="login"><h1>espfleet dashboard</h1><p>${note}</p><form method="post" action="/login"><label>Token <input type="password" name="token" autocomplete="current-password" autofocus></label> <button type="submit">Sign in</button></form></main></body></html>`,
      TYPES.html!,
    );

  async function control(req: IncomingMessage, res: ServerResponse, id: string, verb: 'pause' | 'resume' | 'abort'): Promise<void> {
    if (!opts.control) {
      return problem(res, 403, 'dashboard.read_only', `this dashboard is read-only${opts.readOnlyReason ? `: ${opts.readOnlyReason}` : ''}`, 'start it with the broker flags of an operator certificate (--client-cert/--client-key)');
    }
    const header = req.headers[CSRF_HEADER];
    if (typeof header !== 'string' || !sameSecret(header, csrf)) return problem(res, 403, 'dashboard.csrf', `missing or wrong ${CSRF_HEADER} header`, 'reload the page');
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}`) return problem(res, 403, 'dashboard.origin', `a request from ${origin} is not from this dashboard`);
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return problem(res, 415, 'dashboard.bad_body', 'the body must be JSON');
    let body: { confirm?: unknown; reason?: unknown };
    try {
      body = JSON.parse(await readBody(req)) as typeof body;
    } catch (e) {
      return problem(res, 400, 'dashboard.bad_body', `the body is not JSON: ${(e as Error).message}`);
    }
    if (body?.confirm !== id) return problem(res, 400, 'dashboard.not_confirmed', `confirm must be the rollout id ${JSON.stringify(id)}`, 'the page asks for a confirmation first');
    const c = opts.control;
    let result;
    if (verb === 'resume') {
      if (drivers.has(id)) return problem(res, 409, 'dashboard.driving', `rollout ${id} is already being driven by this dashboard`);
      result = await resumeRollout(c.stores, id, c.actor);
      drive(id);
    } else {
      const reason = typeof body.reason === 'string' && body.reason.trim() !== '' ? body.reason.trim().slice(0, 500) : undefined;
      result = await controlRollout(c.stores, id, verb, c.actor, reason !== undefined ? { reason } : {});
    }
    opts.data.invalidate();
    void opts.feed.look();
    json(res, 200, result);
  }

  /** A resumed rollout needs a driver: this process drives it until it ends or pauses again. */
  function drive(id: string): void {
    const c = opts.control!;
    const line = (text: string) => opts.feed.emit({ type: 'driver', data: { id, line: text } });
    line(`driving rollout ${id} as ${c.actor}`);
    const job = driveRollout({
      registry: c.stores.registry,
      audit: c.stores.audit,
      client: c.client,
      watch: c.watch,
      id,
      actor: c.actor,
      signal: stopDrivers.signal,
      onEvent: (e) => {
        const t = describe(e);
        if (t !== undefined) line(t);
        void opts.feed.look();
      },
    })
      .then((r) => line(`rollout ${id} ${r.ended}`))
      .catch((e: unknown) => line(`rollout ${id}: driver stopped: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => {
        drivers.delete(id);
        void opts.feed.look();
      });
    drivers.set(id, job);
  }

  async function api(req: IncomingMessage, res: ServerResponse, u: URL): Promise<void> {
    const path = u.pathname;
    if (req.method === 'GET' && path === '/api/session') {
      return json(res, 200, {
        csrf,
        control: opts.control !== undefined,
        actor: opts.control?.actor ?? null,
        readOnlyReason: opts.control ? null : (opts.readOnlyReason ?? 'started without an operator certificate'),
        broker: opts.watch !== undefined,
      });
    }
    if (req.method === 'GET' && path === '/api/devices') {
      const page = await opts.data.devices(deviceQuery(u));
      const boards = opts.watch?.boards;
      return json(res, 200, { ...page, rows: page.rows.map((r) => ({ ...r, online: boards?.get(r.deviceId)?.online ?? null })) });
    }
    if (req.method === 'GET' && path === '/api/rollouts') return json(res, 200, await opts.data.rollouts());
    const m = /^\/api\/rollouts\/([A-Za-z0-9_.:-]{1,60})(?:\/(pause|resume|abort))?$/.exec(path);
    if (m) {
      const id = m[1]!;
      if (m[2] === undefined && req.method === 'GET') {
        const v = await opts.data.rollout(id);
        return v ? json(res, 200, v) : problem(res, 404, 'fleet.rollout.not_found', `no rollout ${id} in the registry`);
      }
      if (m[2] !== undefined && req.method === 'POST') return control(req, res, id, m[2] as 'pause' | 'resume' | 'abort');
    }
    if (req.method === 'GET' && path === '/api/charts') return json(res, 200, await opts.data.charts());
    if (req.method === 'GET' && path === '/api/audit') return json(res, 200, await opts.data.audit());
    if (req.method === 'GET' && path === '/api/stations') return json(res, 200, opts.data.stations());
    problem(res, req.method === 'GET' || req.method === 'POST' ? 404 : 405, 'dashboard.not_found', `no ${req.method} ${path}`);
  }

  function events(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', ...SECURITY_HEADERS });
    res.write(`retry: 2000\nevent: hello\ndata: {}\n\n`);
    streams.add(res);
    const unsubscribe = opts.feed.subscribe((e) => res.write(`event: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`));
    const beat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    req.on('close', () => {
      clearInterval(beat);
      unsubscribe();
      streams.delete(res);
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostAllowed(req)) return problem(res, 421, 'dashboard.bad_host', `Host ${JSON.stringify(req.headers.host ?? '')} is not this dashboard`, `open http://127.0.0.1:${port}/`);
    const u = new URL(req.url ?? '/', 'http://dashboard.invalid');
    if (u.pathname === '/login' && opts.token !== undefined) {
      if (req.method === 'POST') {
        const token = new URLSearchParams(await readBody(req, 4096)).get('token') ?? '';
        if (!sameSecret(token, opts.token)) return loginPage(res, 401, 'Wrong token.');
        const sid = randomBytes(24).toString('base64url');
        sessions.add(sid);
        res.writeHead(303, { location: '/', 'set-cookie': `${COOKIE}=${sid}; HttpOnly; SameSite=Strict; Path=/`, ...SECURITY_HEADERS });
        return void res.end();
      }
      return loginPage(res, 200, 'This dashboard needs its token.');
    }
    if (u.pathname === '/style.css' || authorized(req)) {
      const asset = ASSETS[u.pathname];
      if (asset !== undefined && req.method === 'GET') return send(res, 200, readFileSync(join(assets, asset)), TYPES[asset.split('.').pop()!]!);
    }
    if (!authorized(req)) {
      if (u.pathname === '/' || u.pathname === '/index.html') {
        res.writeHead(303, { location: '/login', ...SECURITY_HEADERS });
        return void res.end();
      }
      return problem(res, 401, 'dashboard.unauthorized', 'this dashboard needs its token', 'sign in at /login, or send Authorization: Bearer <token>');
    }
    if (u.pathname === '/events' && req.method === 'GET') return events(req, res);
    if (u.pathname.startsWith('/api/')) return api(req, res, u);
    problem(res, 404, 'dashboard.not_found', `no ${u.pathname}`);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return void res.end();
      if (isEspfleetError(e)) {
        const status = /not_found$/.test(e.code) ? 404 : /^dashboard\./.test(e.code) ? 400 : 409;
        return problem(res, status, e.code, e.message, e.hint);
      }
      problem(res, 500, 'dashboard.internal', e instanceof Error ? e.message : String(e));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new DashboardError('dashboard.listen', `cannot listen on ${opts.host}:${opts.port}: ${e.code ?? e.message}`, { hint: e.code === 'EADDRINUSE' ? 'pick another --listen port (0 picks a free one)' : undefined })),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  await opts.feed.start();
  const shown = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    drivers: () => [...drivers.keys()],
    async close() {
      opts.feed.stop();
      stopDrivers.abort();
      for (const s of streams) s.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      await Promise.allSettled(drivers.values());
    },
  };
}
