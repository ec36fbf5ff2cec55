// The RPC methods of the Mongoose OS double (spec mongoose-os.md §3.2 built-ins, §3.3 table):
// Sys.*, Config.*, FS.*, RPC.*. Handlers return the `result` or throw RpcFail for an error.
import type { FirmwareHost } from '../virtual-esp32/firmware-host.ts';
import { USER_LEVEL, isTree, lookup, type ConfigStore } from './config-store.ts';
import { RpcFail } from './rpc-fail.ts';
import type { RootFs } from './root-fs.ts';
import { concatBytes } from '../../firmware-js/bytes.ts';

/**
 * Returns the `result`, or throws RpcFail for an error reply. A handler whose work outlives
 * the call (OTA.Update) returns a Promise: the reply (result, or RpcFail rejection) is sent
 * when it settles — over UART and to an RPC.LOCAL caller alike — and never after a reset.
 */
export type RpcHandler = (params: unknown, src: string) => unknown | Promise<unknown>;

/**
 * Runs a handler and hands its outcome to `ok` or (an RpcFail) to `fail`, at once or — for a
 * deferred reply — when it settles, never after the firmware stopped. Anything else thrown is
 * a bug in the double: at once it propagates, later it faults the chip. UART and RPC.LOCAL
 * replies both go through here.
 */
export function settleRpc(host: Pick<FirmwareHost, 'signal' | 'fault'>, run: () => unknown, ok: (result: unknown) => void, fail: (e: RpcFail) => void): void {
  const failed = (e: unknown) => {
    if (!(e instanceof RpcFail)) throw e;
    fail(e);
  };
  let out: unknown;
  try {
    out = run();
  } catch (e) {
    return failed(e);
  }
  if (!(out instanceof Promise)) return ok(out);
  out.then(
    (r: unknown) => void (host.signal.aborted || ok(r)),
    (e: unknown) => {
      if (host.signal.aborted) return;
      try {
        failed(e);
      } catch (bug) {
        host.fault(bug);
      }
    },
  );
}

export interface ServiceContext {
  host: FirmwareHost;
  fs: RootFs;
  config: ConfigStore;
  macHex: string;
  versions: { mgVersion: string; mgId: string; fwId: string };
  /** Schedules a restart through the boot check; returns false if one is already set and `abort` cancels. */
  scheduleReboot(delayMs: number): void;
  abortReboot(): void;
  methods(): string[];
  has(name: string): boolean;
}

const obj = (p: unknown): Record<string, unknown> => (isTree(p) ? (p as Record<string, unknown>) : {});
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

function str(p: Record<string, unknown>, key: string, method: string): string {
  const v = p[key];
  if (typeof v !== 'string' || v === '') throw new RpcFail(400, `${method}: ${key} is required`);
  return v;
}

function int(p: Record<string, unknown>, key: string, fallback: number): number {
  const v = p[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new RpcFail(400, `${key} must be an integer`);
  return v;
}

export function builtinHandlers(ctx: ServiceContext): Map<string, RpcHandler> {
  const h = new Map<string, RpcHandler>();

  h.set('Sys.GetInfo', () => {
    const app = ctx.host.slot.app;
    const cfg = ctx.config.get();
    const fs = ctx.fs.usage();
    return {
      id: lookup(cfg, 'device.id'),
      app: app?.projectName ?? '',
      fw_version: app?.version ?? '',
      fw_id: ctx.versions.fwId,
      mg_version: ctx.versions.mgVersion,
      mg_id: ctx.versions.mgId,
      mac: ctx.macHex,
      arch: 'esp32',
      uptime: Math.floor(ctx.host.uptimeMs() / 1000),
      public_key: lookup(cfg, 'device.public_key') ?? '',
      ram_size: 294_912,
      ram_free: 180_000,
      ram_min_free: 170_000,
      fs_size: fs.size,
      fs_free: fs.free,
      wifi: { sta_ip: '', ap_ip: '', status: 'disconnected', ssid: '' },
    };
  });

  h.set('Sys.Reboot', (params) => {
    const p = obj(params);
    if (p.abort === true) {
      ctx.abortReboot();
      return null;
    }
    const delay = int(p, 'delay_ms', 100);
    if (delay < 0) throw new RpcFail(400, `invalid delay_ms ${delay}`);
    ctx.scheduleReboot(delay);
    return null;
  });

  h.set('Config.Get', (params) => {
    const p = obj(params);
    const level = int(p, 'level', USER_LEVEL);
    if (level < 0 || level > USER_LEVEL) throw new RpcFail(400, `invalid level ${level}`);
    const tree = ctx.config.get(level);
    if (p.key === undefined || p.key === '') return tree;
    if (typeof p.key !== 'string') throw new RpcFail(400, 'key must be a string');
    const v = lookup(tree, p.key);
    if (v === undefined) throw new RpcFail(404, `invalid config key: ${p.key}`);
    return v;
  });

  h.set('Config.Set', (params) => {
    const p = obj(params);
    const level = int(p, 'level', USER_LEVEL);
    let change: unknown = p.config;
    if (change === undefined && typeof p.key === 'string' && p.value !== undefined) {
      change = p.key.split('.').reduceRight<unknown>((inner, k) => ({ [k]: inner }), p.value);
    }
    if (!isTree(change)) throw new RpcFail(400, 'config is required');
    ctx.config.set(change, level);
    let saved = false;
    if (p.save === true) {
      saveOr500(ctx.config, level, p.try_once === true);
      saved = true;
    }
    if (p.reboot === true) ctx.scheduleReboot(500);
    return { saved };
  });

  h.set('Config.Save', (params) => {
    const p = obj(params);
    saveOr500(ctx.config, USER_LEVEL, p.try_once === true);
    if (p.reboot === true) ctx.scheduleReboot(500);
    return { saved: true };
  });

  const listDir = (params: unknown) => {
    const p = obj(params);
    const path = typeof p.path === 'string' && p.path !== '' ? p.path : '/';
    try {
      return ctx.fs.list(path).filter((e) => e.type === 'file');
    } catch {
      throw new RpcFail(400, `failed to open directory ${path}`);
    }
  };
  h.set('FS.List', (params) => listDir(params).map((e) => e.name));
  h.set('FS.ListExt', (params) => listDir(params).map((e) => ({ name: e.name, size: e.size })));

  h.set('FS.Get', (params) => {
    const p = obj(params);
    const name = str(p, 'filename', 'FS.Get');
    const data = readOr400(ctx.fs, name);
    const offset = int(p, 'offset', 0);
    if (offset < 0) throw new RpcFail(400, `invalid offset ${offset}`);
    const len = int(p, 'len', data.length - offset);
    const chunk = data.subarray(Math.min(offset, data.length), Math.min(data.length, offset + Math.max(0, len)));
    return { data: b64(chunk), left: Math.max(0, data.length - offset - chunk.length) };
  });

  h.set('FS.Put', (params) => {
    const p = obj(params);
    const name = str(p, 'filename', 'FS.Put');
    if (typeof p.data !== 'string') throw new RpcFail(400, 'FS.Put: data (base64) is required');
    const data = new Uint8Array(Buffer.from(p.data, 'base64'));
    // Open mode (§3.3): offset < 0 → append ? "ab" : "wb"; 0 → "wb"; > 0 → "r+" and seek.
    const offset = int(p, 'offset', -1);
    const exists = ctx.fs.exists(name);
    let next: Uint8Array;
    if (offset === 0 || (offset < 0 && p.append !== true)) {
      next = data;
    } else if (offset < 0) {
      next = concatBytes([exists ? ctx.fs.read(name) : new Uint8Array(0), data]);
    } else {
      if (!exists) throw new RpcFail(400, `failed to open ${name}`);
      const cur = ctx.fs.read(name);
      next = new Uint8Array(Math.max(cur.length, offset + data.length));
      next.set(cur);
      next.set(data, offset);
    }
    writeOr500(ctx.fs, name, next);
    return null;
  });

  h.set('FS.Remove', (params) => {
    const name = str(obj(params), 'filename', 'FS.Remove');
    if (!ctx.fs.exists(name)) throw new RpcFail(400, `failed to remove ${name}`);
    ctx.fs.remove(name);
    return null;
  });

  h.set('FS.Rename', (params) => {
    const p = obj(params);
    const src = str(p, 'src', 'FS.Rename');
    const dst = str(p, 'dst', 'FS.Rename');
    const data = readOr400(ctx.fs, src);
    // Not atomic as littlefs's rename is: a power cut between the two steps leaves both names.
    writeOr500(ctx.fs, dst, data);
    ctx.fs.remove(src);
    return null;
  });

  h.set('RPC.List', () => ctx.methods());
  h.set('RPC.Describe', (params) => {
    const name = str(obj(params), 'name', 'RPC.Describe');
    if (!ctx.has(name)) throw new RpcFail(404, `No handler for ${name}`);
    return { name, args_fmt: '' };
  });
  h.set('RPC.Ping', () => null);
  return h;
}

/** A full or broken FS is the board's error to report, not a bug of the double. */
function saveOr500(config: ConfigStore, level: number, tryOnce: boolean): void {
  try {
    config.save(level, tryOnce);
  } catch (e) {
    throw new RpcFail(500, `failed to save config level ${level}: ${(e as Error).message}`);
  }
}

function readOr400(fs: RootFs, name: string): Uint8Array {
  try {
    return fs.read(name);
  } catch {
    throw new RpcFail(400, `failed to open ${name}`);
  }
}

function writeOr500(fs: RootFs, name: string, data: Uint8Array): void {
  try {
    fs.write(name, data);
  } catch (e) {
    throw new RpcFail(500, `failed to write ${name}: ${(e as Error).message}`);
  }
}

