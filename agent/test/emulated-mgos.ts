// The agent's fs/*.js under an emulated Mongoose OS API: the double's own api_*.js files
// (spec mongoose-os.md §5.2) in the project's mJS engine, with their ffi functions served by
// plain recorders — MQTT publishes, subscriptions, timers, reboots and files are data a
// table-driven test can drive and inspect, with no board or broker.
import { createMjsEngine, type MjsEngine, type Value } from '../../hil-tests/mjs/index.ts';
import { binaryToBytes, binaryToText, bytesToBinary, textToBytes } from '../../hil-tests/mjs/values.ts';
import { ConfigStore, isTree, lookup, USER_LEVEL } from '../../hil-tests/mongoose-os/config-store.ts';
import { MJS_API_FILES } from '../../hil-tests/mongoose-os/mjs-api.ts';
import { MJS_NET_API_FILES } from '../../hil-tests/mongoose-os/mjs-api-net.ts';
import { topicMatches } from '../../hil-tests/mongoose-os/mqtt-conn.ts';
import { agentCryptoFfi } from '../../hil-tests/mongoose-os/agent-crypto.ts';
import { strftime } from '../../hil-tests/mongoose-os/strftime.ts';
import type { RootFs } from '../../hil-tests/mongoose-os/root-fs.ts';
import { RpcFail } from '../../hil-tests/mongoose-os/rpc-fail.ts';
import { agentConfigSchema, agentFsFiles } from '../agent-files.ts';

export interface Published {
  topic: string;
  msg: string;
  qos: number;
  retain: boolean;
}

export interface EmulatedOptions {
  /** conf9.json contents (the device layer). */
  conf9?: Record<string, unknown>;
  /** Device-only files already on the board (e.g. the replay-guard file). */
  files?: Record<string, string>;
  fwVersion?: string;
  /** Timer.now() in Unix seconds (default 1_796_000_000, i.e. 2026-11). */
  now?: number;
  /** The firmware's updater as this boot sees it (default: committed, OTA handlers present). */
  ota?: { committed?: boolean; commitTimeout?: number; handlers?: boolean };
}

/** One OTA.Update call: its args, answered when the test says the download is over. */
export interface OtaUpdateCall {
  args: { url?: unknown; commit_timeout?: unknown };
  reply: (code: number, msg?: string, res?: unknown) => void;
}

/**
 * The updater's RPC side as rpc-service-ota answers it (spec mongoose-os.md §2.1, contract
 * docs/ota-protocol.md §4): GetBootState, Status, Commit and Revert only when uncommitted,
 * and OTA.Update held until the test replies (the reply comes when the download is over).
 */
export class EmulatedOta {
  committed: boolean;
  commitTimeout: number;
  handlers: boolean;
  readonly updates: OtaUpdateCall[] = [];
  readonly calls: string[] = [];
  commits = 0;
  /** OTA.Revert calls taken (the firmware reboots 100 ms later). */
  reverts = 0;
  /** When set, OTA.Commit fails with this message (e.g. a flash error). */
  commitError: string | null = null;
  status: { state: number; progress_percent: number; msg: string } = { state: 0, progress_percent: 0, msg: '' };

  constructor(o: EmulatedOptions['ota'] = {}) {
    this.committed = o.committed ?? true;
    this.commitTimeout = o.commitTimeout ?? (this.committed ? 0 : 300);
    this.handlers = o.handlers ?? true;
  }

  /** [code, msg, result] for one call; undefined = answered later (OTA.Update). */
  answer(method: string, args: unknown, later: (code: number, msg: string, res: unknown) => void): [number, string, unknown] | undefined {
    this.calls.push(method);
    if (!this.handlers) return [404, `No handler for ${method}`, null];
    if (method === 'OTA.GetBootState') return [0, '', { active_slot: this.committed ? 0 : 1, is_committed: this.committed, revert_slot: 0, commit_timeout: this.commitTimeout }];
    if (method === 'OTA.Status') return [0, '', { ...this.status, is_committed: this.committed, commit_timeout: this.commitTimeout, partition: this.committed ? 0 : 1 }];
    if (method === 'OTA.Commit') {
      if (this.committed) return [-1, 'Not in uncommitted state', null];
      if (this.commitError !== null) return [-1, this.commitError, null];
      this.committed = true;
      this.commits += 1;
      return [0, '', null];
    }
    if (method === 'OTA.Revert') {
      if (this.committed) return [-1, 'Not in uncommitted state', null];
      this.reverts += 1;
      return [0, '', null];
    }
    if (method === 'OTA.Update') {
      this.status = { state: 1, progress_percent: 0, msg: 'Update in progress' };
      this.updates.push({
        args: (args ?? {}) as OtaUpdateCall['args'],
        reply: (code, msg = '', res = null) => {
          this.status = { state: code === 0 ? 3 : 2, progress_percent: code === 0 ? 100 : this.status.progress_percent, msg };
          later(code, msg, res);
        },
      });
      return undefined;
    }
    return [404, `No handler for ${method}`, null];
  }
}

export class EmulatedMgos {
  readonly engine: MjsEngine;
  readonly files = new Map<string, Uint8Array>();
  readonly config: ConfigStore;
  readonly pubs: Published[] = [];
  readonly subs: Array<{ filter: string; fn: Value; ud: Value }> = [];
  readonly handlers: Array<{ fn: Value; ud: Value }> = [];
  readonly timers: Array<{ ms: number; flags: number; fn: Value; ud: Value; cleared?: boolean }> = [];
  readonly ota: EmulatedOta;
  readonly reboots: number[] = [];
  readonly logs: string[] = [];
  readonly errors: string[] = [];
  connected = false;
  uptime = 12;
  /** Paths whose File.write fails (0 bytes written), as on a full or failing flash. */
  readonly failWrites = new Set<string>();
  /** Timer.now(), Unix seconds; tests move it. */
  now: number;
  /** Config.Set calls over RPC.LOCAL that asked for a reboot (the double reboots 500 ms later). */
  readonly rpcReboots: number[] = [];
  private readonly pending: Array<() => void> = [];

  constructor(opts: EmulatedOptions = {}) {
    for (const [k, v] of Object.entries(agentFsFiles())) this.files.set(k, v);
    for (const [k, v] of Object.entries(opts.files ?? {})) this.files.set(k, new TextEncoder().encode(v));
    if (opts.conf9) this.files.set('conf9.json', new TextEncoder().encode(JSON.stringify(opts.conf9)));
    const fs = {
      exists: (p: string) => this.files.has(p),
      read: (p: string) => this.files.get(p) ?? new Uint8Array(0),
      write: (p: string, d: Uint8Array) => void this.files.set(p, d),
      remove: (p: string) => void this.files.delete(p),
    } as unknown as RootFs;
    this.config = new ConfigStore({ fs, macHex: 'A1B2C3D4E5F6', log: (l) => this.logs.push(l), extraSchema: agentConfigSchema() as never });
    this.config.load();
    const text = (v: unknown) => textToBytes(JSON.stringify(v) ?? 'null');
    const str = (v: Value) => binaryToText(String(v));
    const fw = opts.fwVersion ?? '1.2.3';
    this.now = opts.now ?? 1_796_000_000;
    this.ota = new EmulatedOta(opts.ota);
    const crypto = agentCryptoFfi({ exists: (p) => this.files.has(p), read: (p) => this.files.get(p) ?? new Uint8Array(0), write: (p, d) => void this.files.set(p, d) });
    this.engine = createMjsEngine({
      fs: { readFile: (p) => (MJS_API_FILES[p] ?? MJS_NET_API_FILES[p]) !== undefined ? new TextEncoder().encode((MJS_API_FILES[p] ?? MJS_NET_API_FILES[p]) as string) : this.files.get(p) },
      print: (line) => this.logs.push(line),
      ffi: {
        mgos_uptime: () => this.uptime,
        mgos_system_restart_after: (ms) => void this.reboots.push(Number(ms)),
        mgos_get_heap_size: () => 294_912,
        mgos_get_free_heap_size: () => 180_000,
        mg_time: () => this.now,
        mgos_dbl_strftime: (fmt, t) => textToBytes(strftime(binaryToText(String(fmt)), Number(t))),
        mgos_set_timer: (ms, flags, fn, ud) => this.timers.push({ ms: Number(ms), flags: Number(flags), fn, ud }),
        mgos_clear_timer: (id) => {
          const t = this.timers[Number(id) - 1];
          if (t) t.cleared = true;
        },
        mgos_dbl_cfg_get: (path) => {
          const v = lookup(this.config.get(), str(path));
          return v === undefined || isTree(v) ? null : text(v);
        },
        mgos_dbl_cfg_set: (change, save) => {
          try {
            const tree = JSON.parse(str(change)) as unknown;
            if (!isTree(tree)) return false;
            this.config.set(tree, USER_LEVEL);
            if (save) this.config.save(USER_LEVEL, false);
            return true;
          } catch (e) {
            if (e instanceof RpcFail) return false;
            throw e;
          }
        },
        mgos_dbl_rpc_add: () => undefined,
        mgos_dbl_rpc_call: (dst, method, args, fn, ud) => {
          if (str(dst) !== 'RPC.LOCAL') return false;
          const m = str(method);
          if (m === 'Sys.GetInfo') {
            this.pending.push(() => this.call(fn, [text({ id: lookup(this.config.get(), 'device.id'), app: 'espfleet-agent', fw_version: fw }), 0, '', ud]));
            return true;
          }
          if (m === 'Config.Set') {
            // rpc-service-config as the double serves it (spec mongoose-os.md §3.3): apply,
            // save conf9.json (or conf9.json.try with try_once), reboot 500 ms later if asked.
            const p = JSON.parse(str(args)) as { config?: unknown; save?: boolean; try_once?: boolean; reboot?: boolean };
            this.pending.push(() => {
              if (!isTree(p.config)) return void this.call(fn, [null, 400, textToBytes('config is required'), ud]);
              this.config.set(p.config, USER_LEVEL);
              if (p.save === true) this.config.save(USER_LEVEL, p.try_once === true);
              if (p.reboot === true) this.rpcReboots.push(500);
              this.call(fn, [text({ saved: p.save === true }), 0, '', ud]);
            });
            return true;
          }
          if (m.startsWith('OTA.')) {
            const reply = (code: number, msg: string, res: unknown) => this.call(fn, [res === null || res === undefined ? null : text(res), code, textToBytes(msg), ud]);
            const now = this.ota.answer(m, JSON.parse(str(args)) as unknown, (code, msg, res) => {
              reply(code, msg, res);
              this.flush();
            });
            if (now) this.pending.push(() => reply(now[0], now[1], now[2]));
            return true;
          }
          this.pending.push(() => this.call(fn, [null, 404, textToBytes(`No handler for ${m}`), ud]));
          return true;
        },
        mgos_dbl_file_read: (p) => (this.files.has(str(p)) ? bytesToBinary(this.files.get(str(p))!) : null),
        mgos_dbl_file_write: (data, p, mode) => {
          if (this.failWrites.has(str(p))) return 0;
          const bytes = binaryToBytes(String(data));
          const old = String(mode).startsWith('a') ? (this.files.get(str(p)) ?? new Uint8Array(0)) : new Uint8Array(0);
          this.files.set(str(p), new Uint8Array([...old, ...bytes]));
          return bytes.length;
        },
        remove: (p) => (this.files.delete(str(p)) ? 0 : -1),
        rename: (a, b) => {
          const from = this.files.get(str(a));
          if (!from) return -1;
          this.files.set(str(b), from);
          this.files.delete(str(a));
          return 0;
        },
        mgos_dbl_mqtt_sub: (topic, fn, ud) => void this.subs.push({ filter: str(topic), fn, ud }),
        mgos_dbl_mqtt_pub: (topic, msg, qos, retain) => {
          if (!this.connected) return 0;
          this.pubs.push({ topic: str(topic), msg: binaryToText(String(msg)), qos: Number(qos), retain: retain === true });
          return this.pubs.length;
        },
        mgos_dbl_mqtt_add_global_handler: (fn, ud) => void this.handlers.push({ fn, ud }),
        mgos_mqtt_global_is_connected: () => this.connected,
        mgos_dbl_event_add: () => true,
        mgos_dbl_event_add_group: () => true,
        mgos_dbl_event_trigger: () => 0,
        mgos_dbl_event_register_base: () => true,
        ...crypto,
      },
    });
  }

  /**
   * Runs init.js as the board does after INIT_DONE; errors are collected, not thrown. With
   * `holdReplies` the RPC replies wait for the next flush (e.g. a CONNACK that comes first).
   */
  boot(holdReplies = false): this {
    const r = this.engine.run(new TextDecoder().decode(this.files.get('init.js')), 'init.js');
    if (!r.ok) this.errors.push(`${r.error.message} (${r.error.file}:${r.error.line})`);
    if (!holdReplies) this.flush();
    return this;
  }

  call(fn: Value, args: Value[]): Value {
    const r = this.engine.call(fn, args);
    if (!r.ok) {
      this.errors.push(`${r.error.message} (${r.error.file}:${r.error.line})`);
      return undefined;
    }
    return r.value;
  }

  /** Runs queued asynchronous callbacks (RPC.call results). */
  flush(): void {
    while (this.pending.length) this.pending.shift()!();
  }

  /** Fires timer t (as its time came); a cleared timer does nothing, as on the board. */
  fire(t: { fn: Value; ud: Value; cleared?: boolean } | undefined): void {
    if (!t || t.cleared) return;
    this.call(t.fn, [t.ud]);
    this.flush();
  }

  /** The broker's CONNACK: global handlers get EV_CONNACK (202). */
  connack(): void {
    this.connected = true;
    for (const h of [...this.handlers]) this.call(h.fn, [null, 202, null, h.ud]);
    this.flush();
  }

  /** A message arrives on `topic` (bytes as latin1 text); every matching subscription sees it. */
  deliver(topic: string, msg: string | Uint8Array, flush = true): void {
    const bytes = typeof msg === 'string' ? new TextEncoder().encode(msg) : msg;
    for (const s of [...this.subs]) if (topicMatches(s.filter, topic)) this.call(s.fn, [null, textToBytes(topic), bytesToBinary(bytes), s.ud]);
    if (flush) this.flush();
  }

  /** The board's files as they are now: what survives a power loss (all of them, on LittleFS). */
  fileTexts(): Record<string, string> {
    return Object.fromEntries([...this.files.entries()].map(([k, v]) => [k, Buffer.from(v).toString('utf8')]));
  }

  /** Published payloads on `topic`, parsed. */
  published(topic: string): unknown[] {
    return this.pubs.filter((p) => p.topic === topic).map((p) => JSON.parse(p.msg) as unknown);
  }

  cfg(path: string): unknown {
    return lookup(this.config.get(), path);
  }
}
