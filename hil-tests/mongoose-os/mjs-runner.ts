// Runs the agent's init.js / app.js in the project's mJS engine with the Mongoose OS APIs of
// spec mongoose-os.md §5.2 that the double has: Sys, Timer, Cfg, RPC (handlers and RPC.LOCAL
// calls), File, MQTT, Event, Net's status events and OTA (commit, revert, boot state). Callers add their own ffi tables (e.g.
// the agent's crypto helpers) and api files. A missing api file fails the script as on a board.
import { createMjsEngine, type FfiTable, type MjsEngine, type Value } from '../mjs/index.ts';
import { binaryToBytes, binaryToText, bytesToBinary, textToBytes } from '../mjs/values.ts';
import type { FirmwareHost } from '../virtual-esp32/firmware-host.ts';
import { USER_LEVEL, isTree, lookup } from './config-store.ts';
import type { MgosScriptContext, MgosScriptRunner } from './firmware.ts';
import { MJS_API_FILES } from './mjs-api.ts';
import { MJS_NET_API_FILES, netApi } from './mjs-api-net.ts';
import { MJS_OTA_API_FILES, otaFfi } from './mjs-api-ota.ts';
import { RpcFail } from './rpc-fail.ts';
import { strftime } from './strftime.ts';
import { isRunaway, tripWatchdog } from './watchdog.ts';
import { settleRpc } from './services.ts';

/** An ffi symbol table, or one made per boot from the board's context (fs, config, clock). */
export type FfiProvider = FfiTable | ((ctx: MgosScriptContext) => FfiTable);

export interface MjsRunnerOptions {
  /** More ffi symbols; a name the double already serves is a bug in the caller (throws). */
  ffi?: readonly FfiProvider[];
  /** More api_*.js sources put in front of the FS, like the built-in ones. */
  apiFiles?: Readonly<Record<string, string>>;
}

/**
 * One engine per boot, shared by init.js and app.js (one global scope, as on the board).
 * The network comes up after the scripts ran (host timer 0), then MQTT connects.
 */
export function mjsRunner(options: MjsRunnerOptions = {}): MgosScriptRunner {
  const engines = new WeakMap<FirmwareHost, MjsEngine>();
  return (file, source, ctx) => {
    let engine = engines.get(ctx.host);
    if (!engine) {
      engine = makeEngine(ctx, options);
      engines.set(ctx.host, engine);
    }
    const r = engine.run(source, file);
    if (r.ok) return;
    ctx.log(`mgos_mjs_init        MJS error: ${r.error.message} (${r.error.file}:${r.error.line})`);
    if (isRunaway(r.error.message)) tripWatchdog(ctx, file);
  };
}

function makeEngine(ctx: MgosScriptContext, options: MjsRunnerOptions): MjsEngine {
  const { host, fs, config } = ctx;
  let engine: MjsEngine | undefined;
  const call = (fn: Value, args: Value[]): Value => {
    const r = engine!.call(fn, args);
    if (!r.ok) {
      ctx.log(`mgos_mjs             MJS callback error: ${r.error.message} (${r.error.file}:${r.error.line})`);
      if (isRunaway(r.error.message)) tripWatchdog(ctx, `a callback in ${r.error.file}`);
      return undefined;
    }
    return r.value;
  };
  const json = (s: Value): unknown => (typeof s === 'string' ? JSON.parse(binaryToText(s)) : null);
  const text = (v: unknown): string => textToBytes(JSON.stringify(v) ?? 'null');

  const apiFiles: Record<string, string> = { ...MJS_API_FILES, ...MJS_NET_API_FILES, ...MJS_OTA_API_FILES, ...options.apiFiles };
  const net = netApi(ctx, call);
  const builtin: FfiTable = {
      ...net.ffi,
      ...otaFfi(ctx),
      mgos_uptime: () => host.uptimeMs() / 1000,
      mgos_system_restart_after: (ms) => void host.setTimeout(() => host.restart(), Number(ms)),
      mgos_get_heap_size: () => 294_912,
      mgos_get_free_heap_size: () => 180_000,
      mg_time: () => host.now() / 1000,
      mgos_dbl_strftime: (fmt, t) => textToBytes(strftime(binaryToText(String(fmt)), Number(t))),
      mgos_set_timer: (ms, flags, fn, ud) => {
        const every = (Number(flags) & 1) !== 0;
        const tick = () => void call(fn, [ud]);
        const id = every ? host.setInterval(tick, Number(ms)) : host.setTimeout(tick, Number(ms));
        if (Number(flags) & 2) host.setTimeout(tick, 0); // RUN_NOW: once straight away, then as set
        return id;
      },
      mgos_clear_timer: (id) => host.clearTimer(Number(id)),
      mgos_dbl_cfg_get: (path) => {
        const v = lookup(config.get(), binaryToText(String(path)));
        return v === undefined || isTree(v) ? null : text(v);
      },
      mgos_dbl_cfg_set: (change, save) => {
        try {
          const tree = json(change);
          if (!isTree(tree)) return false;
          config.set(tree, USER_LEVEL);
          if (save) config.save(USER_LEVEL, false);
          return true;
        } catch (e) {
          if (e instanceof RpcFail) return false;
          throw e;
        }
      },
      mgos_dbl_rpc_add: (name, fn, ud) => {
        const method = binaryToText(String(name));
        const handler = (params: unknown, src: string) => {
          const out = call(fn, [text(params ?? null), textToBytes(src), ud]);
          const result = json(out ?? null);
          if (isTree(result) && typeof result.error === 'number') throw new RpcFail(result.error, typeof result.message === 'string' ? result.message : '');
          return result;
        };
        ctx.addHandler(method, handler);
      },
      mgos_dbl_rpc_call: (dst, method, args, fn, ud) => {
        // Only RPC.LOCAL (rpc-loopback) is wired: the double has no outgoing channel yet.
        if (binaryToText(String(dst)) !== 'RPC.LOCAL') return false;
        const m = binaryToText(String(method));
        host.setTimeout(() => {
          const h = ctx.handler(m);
          if (!h) return void call(fn, [null, 404, textToBytes(`No handler for ${m}`), ud]);
          settleRpc(
            host,
            () => h(json(args), 'RPC.LOCAL'),
            (r) => call(fn, [text(r ?? null), 0, '', ud]),
            (e) => call(fn, [null, e.code, textToBytes(e.message), ud]),
          );
        }, 0);
        return true;
      },
      mgos_dbl_file_read: (path) => {
        const p = binaryToText(String(path));
        return fs.exists(p) ? bytesToBinary(fs.read(p)) : null;
      },
      mgos_dbl_file_write: (data, path, mode) => {
        const p = binaryToText(String(path));
        const bytes = binaryToBytes(String(data));
        const old = String(mode).startsWith('a') && fs.exists(p) ? fs.read(p) : new Uint8Array(0);
        const next = new Uint8Array(old.length + bytes.length);
        next.set(old);
        next.set(bytes, old.length);
        fs.write(p, next);
        return bytes.length;
      },
      remove: (path) => {
        const p = binaryToText(String(path));
        if (!fs.exists(p)) return -1;
        fs.remove(p);
        return 0;
      },
      rename: (from, to) => {
        const a = binaryToText(String(from));
        if (!fs.exists(a)) return -1;
        fs.write(binaryToText(String(to)), fs.read(a));
        fs.remove(a);
        return 0;
      },
  };
  const ffi = mergeFfi(builtin, options.ffi ?? [], ctx);
  engine = createMjsEngine({
    fs: { readFile: (path) => (apiFiles[path] !== undefined && !fs.exists(path) ? new TextEncoder().encode(apiFiles[path]) : fs.exists(path) ? fs.read(path) : undefined) },
    print: (line) => ctx.log(line),
    ffi,
  });
  host.setTimeout(() => net.networkUp(), 0);
  return engine;
}

/** The double's symbols plus the caller's; a name served twice is a bug in the caller. */
export function mergeFfi(builtin: FfiTable, extra: readonly FfiProvider[], ctx: MgosScriptContext): FfiTable {
  const ffi: FfiTable = { ...builtin };
  for (const p of extra) {
    const table = typeof p === 'function' ? p(ctx) : p;
    for (const [name, fn] of Object.entries(table)) {
      if (name in ffi) throw new Error(`mjsRunner: ffi symbol ${name} is served twice`);
      ffi[name] = fn;
    }
  }
  return ffi;
}
