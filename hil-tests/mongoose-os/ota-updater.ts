// The Mongoose OS double's updater (spec mongoose-os.md §1.1–§1.5, §2.1–§2.3, §2.5): the push
// path OTA.Begin/Write/End streams a fw.zip into the inactive slot, finalize persists the boot
// state, the first boot tombstones it (a reset before commit boots the old slot), merges the
// old root FS, and commits on OTA.Commit or reverts on the commit timeout.
import { createHash, createPublicKey, verify } from 'node:crypto';
import { LittlefsImage } from '../../firmware-js/littlefs/index.ts';
import type { FirmwareHost } from '../virtual-esp32/firmware-host.ts';
import { lookup, type ConfigStore } from './config-store.ts';
import { BundleStream, OtaRefused, type StreamManifest } from './ota-bundle-stream.ts';
import { otaLayout, readBootWord, readOldFs, selectSlot, writeBootWord, writeOldFs, type OtaLayout } from './ota-state.ts';
import type { RootFs } from './root-fs.ts';
import { RpcFail } from './rpc-fail.ts';
import type { RpcHandler } from './services.ts';

const SECTOR = 0x1000;
/** MGOS_UPD_BE_DATA_CHUNK_SIZE: the tail of a file is padded with 0xFF to this (§1.1). */
const CHUNK = 512;
const UPDATER_DAT = 'updater.dat';
/**
 * `update_old_fs` for the root FS the double mounts (§2.3 "<fs type> <fs opts json>", §7 LFS
 * opts). [U] the exact type token and opts text the closed updater writes are not public.
 */
export const ROOT_FS_DESCRIPTION = 'LFS {"bs":4096,"is":128}';
/** enum mgos_ota_state */
const STATE = { idle: 0, progress: 1, error: 2, success: 3 } as const;

interface Target {
  offset: number;
  size: number;
  written: number;
  sector: Uint8Array;
  fill: number;
  sha1?: string;
  sha256?: string;
  declaredSize?: number;
}

/**
 * Where the spec (§1.1, §2.5) knows only the 2018 code, the later closed code may differ;
 * the double builds both readings and a test picks one. Defaults are the 2018 behaviour.
 */
export interface OtaReadings {
  /**
   * 'prefix': strncasecmp(manifest platform, "esp32", 5) — "esp32c3" passes (2018 code);
   * 'exact': a case-insensitive whole-string compare, what a fixed closed build may do.
   */
  platformMatch?: 'prefix' | 'exact';
  /**
   * How OTA.Update answers a successful pull (§2.1): 'error0' — the 2017 handler's
   * `{"error":{"code":0,"message":"Update applied, finalizing"}}`; 'result' — a plain
   * `{"result":null}`, what a later build may send [U: the current closed handler is not public].
   */
  updateReply?: 'error0' | 'result';
}

/** One update in flight, whatever carries its bytes (OTA.Begin/Write/End or OTA.Update's pull). */
export interface UpdateSession {
  stream?: BundleStream;
  /** Told when the updater gives the session up by itself (update.timeout). */
  onAbort?: (message: string) => void;
  /** Restarts the update.timeout watchdog (progress was made). */
  arm(): void;
  received: number;
  size: number;
  commitTimeout: number;
  targets: Map<string, Target>;
  parts: { app?: string; fs?: string };
  manifest?: Record<string, unknown>;
  timer?: number;
}

export interface OtaBootInfo {
  /** The running slot's state this boot (RAM; flash may already say otherwise, §2.3). */
  committed: boolean;
  oldSlot: number;
  commitTimeout: number;
}

export class OtaUpdater {
  private state: number = STATE.idle;
  private msg = '';
  private session: UpdateSession | undefined;
  private commitTimer: number | undefined;
  private readonly layout: OtaLayout;
  private readonly running: number;

  private constructor(
    private readonly host: FirmwareHost,
    private readonly fs: RootFs,
    private readonly config: ConfigStore,
    private readonly log: (line: string) => void,
    private readonly scheduleReboot: (ms: number) => void,
    private boot: OtaBootInfo,
    private readonly readings: OtaReadings,
  ) {
    this.layout = otaLayout(host);
    this.running = host.slot.otaIndex ?? 0;
  }

  /**
   * Very early in boot (before the config is read, so merged conf*.json count): if this is
   * the first boot of an update, point otadata back at the old slot and tombstone the word
   * (old, old, committed) — RAM alone remembers "uncommitted" — then merge the old root FS.
   */
  static start(host: FirmwareHost, fs: RootFs, log: (line: string) => void, readings: OtaReadings = {}): (config: ConfigStore, scheduleReboot: (ms: number) => void) => OtaUpdater {
    const layout = otaLayout(host);
    const running = host.slot.otaIndex ?? 0;
    const word = readBootWord(host, layout);
    let boot: OtaBootInfo = { committed: true, oldSlot: running, commitTimeout: 0 };
    if (word?.firstBoot && word.newSlot === running && word.oldSlot !== running) {
      selectSlot(host, layout, word.oldSlot);
      writeBootWord(host, layout, { oldSlot: word.oldSlot, newSlot: word.oldSlot, firstBoot: false, mergeFs: false });
      log(`mgos_upd_boot_finish First boot of slot ${running} (old ${word.oldSlot}), uncommitted`);
      if (word.mergeFs) {
        log(`mgos_upd_merge_fs    Old FS: ${readOldFs(host, layout) ?? '(not recorded)'}`);
        mergeRootFs(host, layout.fs[word.oldSlot]!, fs, log);
      }
      let commitTimeout = 0;
      if (fs.exists(UPDATER_DAT)) {
        const d = fs.read(UPDATER_DAT);
        if (d.length >= 4) commitTimeout = new DataView(d.buffer, d.byteOffset, 4).getInt32(0, true);
      }
      boot = { committed: false, oldSlot: word.oldSlot, commitTimeout };
    } else if (word?.firstBoot) {
      // The new slot did not come up (power cut between the word and otadata, or the
      // bootloader fell back): the update is over, the running firmware stays.
      writeBootWord(host, layout, { oldSlot: running, newSlot: running, firstBoot: false, mergeFs: false });
      log(`mgos_upd_boot_finish Update to slot ${word.newSlot} did not boot; staying on slot ${running}`);
    }
    return (config, scheduleReboot) => {
      const u = new OtaUpdater(host, fs, config, log, scheduleReboot, boot, readings);
      u.finishBoot();
      return u;
    };
  }

  /** boot_finish: arm the commit timer, or auto-commit when the timeout is 0 (§2.3). */
  private finishBoot(): void {
    if (this.boot.committed) return;
    if (this.boot.commitTimeout > 0) {
      this.log(`mgos_upd_boot_finish Commit timeout ${this.boot.commitTimeout}s`);
      this.commitTimer = this.host.setTimeout(() => {
        if (this.boot.committed) return;
        this.log('mgos_upd_commit_timeout Update not committed, reverting');
        this.revert();
      }, this.boot.commitTimeout * 1000);
    } else {
      this.commit();
    }
  }

  handlers(): Map<string, RpcHandler> {
    const h = new Map<string, RpcHandler>();
    h.set('OTA.Begin', (p) => this.begin(obj(p)));
    h.set('OTA.Write', (p) => this.write(obj(p)));
    h.set('OTA.End', () => this.end());
    h.set('OTA.Status', () => this.status());
    h.set('OTA.Commit', () => {
      if (this.boot.committed) throw new RpcFail(-1, 'Not in uncommitted state');
      this.commit();
      return null;
    });
    h.set('OTA.Revert', () => {
      if (this.boot.committed) throw new RpcFail(-1, 'Not in uncommitted state');
      this.host.setTimeout(() => this.revert(), 100);
      return null;
    });
    h.set('OTA.GetBootState', () => this.bootState());
    h.set('OTA.SetBootState', (p) => this.setBootState(obj(p)));
    return h;
  }

  get committed(): boolean {
    return this.boot.committed;
  }

  commit(): void {
    // otadata first: a cut before the word is rewritten still boots the new slot, with no
    // first-boot flag, i.e. committed.
    selectSlot(this.host, this.layout, this.running);
    writeBootWord(this.host, this.layout, { oldSlot: this.boot.oldSlot, newSlot: this.running, firstBoot: false, mergeFs: false });
    if (this.fs.exists(UPDATER_DAT)) this.fs.remove(UPDATER_DAT);
    if (this.commitTimer !== undefined) this.host.clearTimer(this.commitTimer);
    this.boot = { ...this.boot, committed: true, commitTimeout: 0 };
    this.log('mgos_upd_commit      Committed');
  }

  private revert(): void {
    selectSlot(this.host, this.layout, this.boot.oldSlot);
    writeBootWord(this.host, this.layout, { oldSlot: this.boot.oldSlot, newSlot: this.boot.oldSlot, firstBoot: false, mergeFs: false });
    this.log(`mgos_upd_revert      Reverting to slot ${this.boot.oldSlot}`);
    this.scheduleReboot(100);
  }

  private bootState(): Record<string, unknown> {
    return { active_slot: this.running, is_committed: this.boot.committed, revert_slot: this.boot.oldSlot, commit_timeout: this.boot.commitTimeout };
  }

  /** Only what can be honoured: choosing the slot for the next boot (a committed flash change). */
  private setBootState(p: Record<string, unknown>): null {
    const slot = p.active_slot;
    if (slot !== undefined) {
      if (slot !== 0 && slot !== 1) throw new RpcFail(400, `invalid active_slot ${String(slot)}`);
      selectSlot(this.host, this.layout, slot);
      writeBootWord(this.host, this.layout, { oldSlot: this.running, newSlot: slot, firstBoot: p.is_committed === false && slot !== this.running, mergeFs: false });
    }
    return null;
  }

  private status(): Record<string, unknown> {
    const s = this.session;
    return {
      state: this.state,
      msg: this.msg,
      progress_percent: s && s.size > 0 ? Math.floor((100 * s.received) / s.size) : this.state === STATE.success ? 100 : 0,
      is_committed: this.boot.committed,
      commit_timeout: this.boot.commitTimeout,
      partition: this.running,
    };
  }

  /** OTA.Begin: the push path's start, with mos's arguments (§2.1). */
  private begin(p: Record<string, unknown>): null {
    this.beginSession({
      timeout: num(p.timeout, Number(lookup(this.config.get(), 'update.timeout') ?? 600)),
      commitTimeout: num(p.commit_timeout, Number(lookup(this.config.get(), 'update.commit_timeout') ?? 0)),
      size: num(p.size, 0),
    });
    return null;
  }

  /** OTA.Write: mos's sequential chunks; a retried chunk already taken is acknowledged again. */
  private write(p: Record<string, unknown>): null {
    const s = this.session;
    if (!s) throw new RpcFail(-1, 'No update in progress');
    if (typeof p.data !== 'string') throw new RpcFail(400, 'data (base64) is required');
    const data = new Uint8Array(Buffer.from(p.data, 'base64'));
    const offset = num(p.offset, s.received);
    if (offset + data.length <= s.received && offset < s.received) return null;
    if (offset !== s.received) throw new RpcFail(400, `Offset ${offset} != ${s.received}`);
    this.feed(s, data);
    return null;
  }

  private end(): null {
    const s = this.session;
    if (!s) throw new RpcFail(-1, 'No update in progress');
    this.finish(s);
    return null;
  }

  /**
   * begin → feed… → finish: the one session path both the push RPCs and OTA.Update's pull
   * take. Refused (RpcFail -1) while another update runs or the last one is uncommitted.
   * `size` may be 0 and set later (`setSize`), when the pull learns its Content-Length.
   */
  beginSession(opts: { timeout: number; commitTimeout: number; size: number; onAbort?: (message: string) => void }): UpdateSession {
    if (this.session) throw new RpcFail(-1, 'Update already in progress');
    if (!this.boot.committed) throw new RpcFail(-1, 'Previous update has not been committed yet');
    // update.timeout: the 2018 code restarts the watchdog whenever progress is made.
    const session: UpdateSession = {
      arm: () => {
        if (session.timer !== undefined) this.host.clearTimer(session.timer);
        session.timer = this.host.setTimeout(() => {
          this.fail(session, 'Update timed out');
          session.onAbort?.(this.msg);
        }, opts.timeout * 1000);
      },
      received: 0,
      size: opts.size,
      commitTimeout: opts.commitTimeout,
      targets: new Map(),
      parts: {},
      ...(opts.onAbort ? { onAbort: opts.onAbort } : {}),
    };
    session.stream = new BundleStream({
      manifest: (m) => this.onManifest(session, m),
      fileStart: (name, fileSize) => this.fileStart(session, name, fileSize),
      fileData: (name, chunk) => this.fileData(session, name, chunk),
      fileEnd: (name) => this.fileEnd(session, name),
    });
    this.session = session;
    this.state = STATE.progress;
    this.msg = 'Update in progress';
    session.arm();
    this.log(`mgos_ota_begin       size ${opts.size}, commit timeout ${opts.commitTimeout}`);
    return session;
  }

  /** The total the progress percentage counts against (the pull's Content-Length). */
  setSize(s: UpdateSession, size: number): void {
    s.size = size;
  }

  /** Bytes of the bundle, in order; a refusal fails the session and throws RpcFail(-1). */
  feed(s: UpdateSession, data: Uint8Array): void {
    if (this.session !== s) throw new RpcFail(-1, 'No update in progress');
    try {
      s.stream?.feed(data);
    } catch (e) {
      if (!(e instanceof OtaRefused)) {
        this.fail(s, `Internal error: ${(e as Error).message}`);
        throw e; // a bug in the double: the chip faults visibly
      }
      this.fail(s, e.message);
      throw new RpcFail(-1, this.msg);
    }
    s.received += data.length;
    s.arm();
  }

  /** The whole bundle is in: check it, persist the boot state, reboot 100 ms later. */
  finish(s: UpdateSession): number {
    if (this.session !== s) throw new RpcFail(-1, 'No update in progress');
    try {
      if (!s.stream?.done) throw new OtaRefused('Premature end of archive');
      for (const [part, name] of Object.entries(s.parts)) {
        const t = s.targets.get(name);
        if (!t || t.written === 0) throw new OtaRefused(`Incomplete update package: ${part} (${name}) missing`);
      }
    } catch (e) {
      this.fail(s, (e as Error).message);
      throw new RpcFail(-1, this.msg);
    }
    if (s.timer !== undefined) this.host.clearTimer(s.timer);
    const newSlot = 1 - this.running;
    // Finalize (§2.3): updater.dat in the old FS (it reaches the new one by the merge), the
    // old FS, the boot word, then otadata — a cut before the last leaves the old slot running.
    const dat = new Uint8Array(4);
    new DataView(dat.buffer).setInt32(0, s.commitTimeout, true);
    this.fs.write(UPDATER_DAT, dat);
    writeOldFs(this.host, this.layout, ROOT_FS_DESCRIPTION);
    writeBootWord(this.host, this.layout, { oldSlot: this.running, newSlot, firstBoot: true, mergeFs: true });
    selectSlot(this.host, this.layout, newSlot);
    this.session = undefined;
    this.state = STATE.success;
    this.msg = 'Update applied, finalizing';
    this.log(`mgos_ota_end         Update applied to slot ${newSlot}, rebooting`);
    this.scheduleReboot(100);
    return newSlot;
  }

  /** Gives a session up (the pull's connection failed); no-op for a session already over. */
  abort(s: UpdateSession, message: string): void {
    if (this.session === s) this.fail(s, message);
  }

  /** The updater's status message (what OTA.Status shows as `msg`). */
  get message(): string {
    return this.msg;
  }

  private fail(s: UpdateSession, message: string): void {
    if (s.timer !== undefined) this.host.clearTimer(s.timer);
    if (this.session === s) this.session = undefined;
    this.state = STATE.error;
    this.msg = message;
    this.log(`mgos_ota_finish      Update failed: ${message}`);
  }

  private onManifest(s: UpdateSession, m: StreamManifest): Set<string> {
    let manifest: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(new TextDecoder().decode(m.bytes));
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
      manifest = v as Record<string, unknown>;
    } catch {
      throw new OtaRefused('Invalid manifest');
    }
    for (const k of ['platform', 'version', 'build_id']) {
      if (typeof manifest[k] !== 'string' || manifest[k] === '') throw new OtaRefused(`Required manifest field missing: ${k}`);
    }
    const parts = manifest.parts;
    if (!parts || typeof parts !== 'object' || Array.isArray(parts) || Object.keys(parts).length === 0) throw new OtaRefused('Required manifest field missing: parts');
    // strncasecmp(platform, FW_ARCHITECTURE, strlen(FW_ARCHITECTURE)): a prefix compare.
    const platform = manifest.platform as string;
    const candidate = this.readings.platformMatch === 'exact' ? platform : platform.slice(0, 5);
    if (candidate.toLowerCase() !== 'esp32') throw new OtaRefused(`Wrong platform: want esp32, got ${platform}`);
    this.checkSignatures(m);
    const version = manifest.version as string;
    const runningVersion = this.host.slot.app?.version ?? '';
    if (runningVersion && compareVersions(version, runningVersion) < 0) {
      throw new OtaRefused(`Anti-rollback: version ${version} is older than the running ${runningVersion}`);
    }
    s.manifest = manifest;
    const newSlot = 1 - this.running;
    const wanted = new Set<string>();
    for (const part of ['app', 'fs'] as const) {
      const p = (parts as Record<string, unknown>)[part];
      if (!p || typeof p !== 'object') throw new OtaRefused(`Incomplete update package: no ${part} part`);
      const pr = p as Record<string, unknown>;
      if (typeof pr.src !== 'string' || typeof pr.cs_sha1 !== 'string') throw new OtaRefused(`Incomplete update package: ${part} lacks src/cs_sha1`);
      const name = pr.src.includes('/') ? pr.src.slice(pr.src.indexOf('/') + 1) : pr.src;
      const ptn = part === 'app' ? this.layout.app[newSlot]! : this.layout.fs[newSlot]!;
      // `ptn` in the manifest names slot 0 (app_0 / fs_0); the updater always targets the inactive slot.
      const t: Target = { offset: ptn.offset, size: ptn.size, written: 0, sector: new Uint8Array(SECTOR), fill: 0, sha1: pr.cs_sha1.toLowerCase() };
      if (typeof pr.cs_sha256 === 'string') t.sha256 = pr.cs_sha256.toLowerCase();
      if (typeof pr.size === 'number') t.declaredSize = pr.size;
      s.targets.set(name, t);
      s.parts[part] = name;
      wanted.add(name);
    }
    return wanted;
  }

  /**
   * §1.5: bit i set when update.key<i> is configured and sig<i> verifies over SHA-256 of the
   * manifest bytes. sig_req_mask < 0 ignores the result; 0 is the README's tombstone (no
   * updates at all) — a special case, not plain bit logic; otherwise every bit must be set.
   * Unconfirmed (closed code): whether a configured key with a bad signature fails the update
   * when the mask is -1; the documented reading (ignore) is the one built.
   */
  private checkSignatures(m: StreamManifest): void {
    const cfg = this.config.get();
    const mask = Number(lookup(cfg, 'update.sig_req_mask') ?? -1);
    if (mask < 0) return;
    if (mask === 0) throw new OtaRefused('Updates are disabled (update.sig_req_mask = 0)');
    let result = 0;
    for (let i = 0; i < 8; i++) {
      const key = lookup(cfg, `update.key${i}`);
      const sig = m.extra[`sig${i}`];
      if (typeof key !== 'string' || key === '' || typeof sig !== 'string') continue;
      try {
        const pub = createPublicKey({ key: Buffer.from(key, 'base64'), format: 'der', type: 'spki' });
        if (verify('sha256', m.bytes, { key: pub, dsaEncoding: 'der' }, Buffer.from(sig, 'base64'))) result |= 1 << i;
      } catch {
        /* an unusable key or signature verifies nothing */
      }
    }
    if ((result & mask) !== mask) throw new OtaRefused(`Signature check failed: verified 0x${result.toString(16)}, required 0x${mask.toString(16)}`);
  }

  private fileStart(s: UpdateSession, name: string, size: number): void {
    const t = s.targets.get(name)!;
    if (size > t.size) throw new OtaRefused(`${name} is ${size} bytes, partition holds ${t.size}`);
    if (t.declaredSize !== undefined && t.declaredSize !== size) throw new OtaRefused(`${name}: size ${size} != manifest size ${t.declaredSize}`);
  }

  private fileData(s: UpdateSession, name: string, chunk: Uint8Array): void {
    const t = s.targets.get(name)!;
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(SECTOR - t.fill, chunk.length - at);
      t.sector.set(chunk.subarray(at, at + n), t.fill);
      t.fill += n;
      at += n;
      if (t.fill === SECTOR) this.flushSector(t, SECTOR);
    }
  }

  /** Erase + program one 4 KiB sector of the inactive slot (the engine encrypts when on). */
  private flushSector(t: Target, length: number): void {
    const addr = t.offset + t.written;
    const r = this.layout.app[this.running]!;
    const f = this.layout.fs[this.running]!;
    if ((addr < r.offset + r.size && addr + SECTOR > r.offset) || (addr < f.offset + f.size && addr + SECTOR > f.offset)) {
      throw new Error(`refusing to write the running slot at 0x${addr.toString(16)}`); // a bug, never a bundle's fault
    }
    this.host.flash.erase(addr, SECTOR);
    this.host.flash.write(addr, t.sector.subarray(0, length));
    t.written += t.fill;
    t.fill = 0;
    t.sector.fill(0);
  }

  private fileEnd(s: UpdateSession, name: string): void {
    const t = s.targets.get(name)!;
    const total = t.written + t.fill;
    if (t.fill > 0) {
      const padded = Math.ceil(t.fill / CHUNK) * CHUNK;
      t.sector.fill(0xff, t.fill, padded);
      this.flushSector(t, padded);
    }
    // Verify by re-reading the written partition (esp32_updater.c): SHA-1 always; ota-common
    // 1.3.0 "verifies file size and checksums" — which digests is unconfirmed, so SHA-256 is
    // checked too whenever the manifest has it.
    const back = this.host.flash.read(t.offset, total);
    const sha1 = createHash('sha1').update(back).digest('hex');
    if (sha1 !== t.sha1) throw new OtaRefused(`${name}: SHA-1 mismatch (${sha1} != ${t.sha1})`);
    if (t.sha256 && createHash('sha256').update(back).digest('hex') !== t.sha256) throw new OtaRefused(`${name}: SHA-256 mismatch`);
    t.written = total;
  }
}

/**
 * §2.5: mount the old slot's FS and copy each root-directory file the new FS lacks.
 * Subdirectories are not carried over (2018 code; unconfirmed for the closed current code).
 */
function mergeRootFs(host: FirmwareHost, oldPart: { offset: number; size: number }, fs: RootFs, log: (line: string) => void): void {
  let old: LittlefsImage;
  try {
    old = new LittlefsImage(host.flash.read(oldPart.offset, oldPart.size).slice(), { blockSize: 4096, progSize: 128 });
  } catch (e) {
    log(`mgos_upd_merge_fs    Cannot mount old FS: ${(e as Error).message}`);
    return;
  }
  for (const e of old.list('/')) {
    if (e.type !== 'file' || fs.exists(e.name)) continue;
    fs.write(e.name, old.readFile(`/${e.name}`));
    log(`mgos_upd_merge_fs    Copied ${e.name}`);
  }
}

/**
 * Numeric-aware compare of dotted versions ("1.10.0" > "1.9.2"); non-numeric parts compare as
 * text. The board's own rule, kept apart from fleet/rollout-waves.ts on purpose: the double
 * judges what the fleet code sends, so it must not call that code.
 */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.\-+]/);
  const pb = b.split(/[.\-+]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '0';
    const y = pb[i] ?? '0';
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    const c = !Number.isNaN(nx) && !Number.isNaN(ny) ? nx - ny : x < y ? -1 : x > y ? 1 : 0;
    if (c !== 0) return Math.sign(c);
  }
  return 0;
}

export const obj = (p: unknown): Record<string, unknown> => (p && typeof p === 'object' && !Array.isArray(p) ? (p as Record<string, unknown>) : {});
export function num(v: unknown, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new RpcFail(400, 'expected an integer');
  return v;
}
