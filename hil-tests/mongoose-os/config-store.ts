// Mongoose OS config layering for the double (spec mongoose-os.md §4.1, §3.3 Config.*):
// level 0 compiled in, conf1..8.json then conf9.json applied in order, each filtered by the
// conf_acl in effect after the one before, `.try` files loaded once, saves that write only
// what differs from the levels below, `?` placeholders filled from the MAC.
import { DOUBLE_KEYS, MGOS_DEFAULTS, type ConfigTree, type ConfigValue } from './config-schema.ts';
import { RpcFail } from './rpc-fail.ts';
import type { RootFs } from './root-fs.ts';

export const USER_LEVEL = 9;

export interface ConfigStoreOptions {
  fs: RootFs;
  /** Factory MAC as 12 uppercase hex digits, for `?` placeholders. */
  macHex: string;
  log: (line: string) => void;
  /** The app's own config_schema entries, merged over the libs' defaults. */
  extraSchema?: ConfigTree;
}

export class ConfigStore {
  readonly schema: ConfigTree;
  /** layers[N] = what level N sets (1..9); unsaved Config.Set changes live here until a save or a reboot. */
  private readonly layers: ConfigTree[] = [];

  constructor(private readonly opts: ConfigStoreOptions) {
    this.schema = merged(MGOS_DEFAULTS, opts.extraSchema ?? {});
    for (let n = 0; n <= USER_LEVEL; n++) this.layers.push({});
  }

  /** Reads conf1..9.json (or their `.try` stand-ins, deleted once read) at boot. */
  load(): void {
    for (let n = 1; n <= USER_LEVEL; n++) {
      const name = `conf${n}.json`;
      const tryName = `${name}.try`;
      const file = this.opts.fs.exists(tryName) ? tryName : this.opts.fs.exists(name) ? name : undefined;
      if (!file) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(new TextDecoder().decode(this.opts.fs.read(file)));
      } catch {
        this.opts.log(`mgos_sys_config_init  Failed to load config level ${n} (${file}): not JSON`);
        continue;
      }
      if (file === tryName) {
        this.opts.fs.remove(tryName);
        this.opts.log(`mgos_sys_config_init  Loaded ${tryName} once and removed it`);
      }
      if (isTree(parsed)) this.layers[n] = parsed as ConfigTree;
    }
    this.compose(USER_LEVEL, (path) => this.opts.log(`mgos_sys_config_init  ${path}: unknown key, wrong type or denied by conf_acl; ignored`));
  }

  /** The config as levels 0..`level` make it (9 = running), placeholders expanded. */
  get(level = USER_LEVEL): ConfigTree {
    const tree = this.compose(level);
    for (const path of ['device.id', 'wifi.ap.ssid']) {
      const v = lookup(tree, path);
      if (typeof v === 'string') assign(tree, path, expandPlaceholders(v, this.opts.macHex));
    }
    return tree;
  }

  /** Config.Set: validates every key and type against the schema and conf_acl, then applies it to `level`. */
  set(change: ConfigTree, level: number): void {
    if (level === 0) throw new RpcFail(400, 'Setting level 0 is not allowed');
    if (!Number.isInteger(level) || level < 0 || level > USER_LEVEL) throw new RpcFail(400, `Invalid level ${level}`);
    const acl = String(lookup(this.compose(level - 1), 'conf_acl') ?? '*');
    walk(change, '', (path, value) => {
      const want = lookup(this.schema, path);
      if (want === undefined) throw new RpcFail(404, `Invalid config key: ${path}`);
      if (isTree(want) !== isTree(value) || (!isTree(value) && !typeFits(path, want, value))) {
        throw new RpcFail(400, `Invalid value for ${path}: ${JSON.stringify(value)} (want ${typeName(path, want)})`);
      }
      if (!isTree(value) && !aclAllows(acl, path)) throw new RpcFail(403, `Not allowed to set ${path} (conf_acl ${acl})`);
    });
    this.layers[level] = merged(this.layers[level] ?? {}, change);
  }

  /** Writes confN.json (or confN.json.try) with only what differs from levels 0..N-1. */
  save(level: number, tryOnce: boolean): void {
    const below = this.compose(level - 1);
    const here = this.compose(level);
    const delta = diff(here, below);
    const name = `conf${level}.json${tryOnce ? '.try' : ''}`;
    this.opts.fs.write(name, new TextEncoder().encode(JSON.stringify(delta)));
  }

  private compose(upTo: number, ignored?: (path: string) => void): ConfigTree {
    const tree = merged(this.schema, {});
    let acl = '*';
    for (let n = 1; n <= upTo; n++) {
      applyLayer(tree, this.schema, this.layers[n] ?? {}, '', acl, ignored);
      acl = String(tree.conf_acl ?? '*');
    }
    return tree;
  }
}

function applyLayer(tree: ConfigTree, schema: ConfigTree, layer: { [k: string]: unknown }, prefix: string, acl: string, ignored?: (path: string) => void): void {
  for (const [key, value] of Object.entries(layer)) {
    const path = prefix + key;
    const want = schema[key];
    if (want === undefined) {
      ignored?.(path);
    } else if (isTree(want)) {
      if (isTree(value)) applyLayer(tree[key] as ConfigTree, want, value as ConfigTree, `${path}.`, acl, ignored);
      else ignored?.(path);
    } else if (typeFits(path, want, value) && aclAllows(acl, path)) {
      tree[key] = value as ConfigValue;
    } else {
      ignored?.(path);
    }
  }
}

/**
 * conf_acl: comma-separated globs, a leading `-` denies and `+` (or nothing) allows, the
 * first match decides, no match denies. (The spec names conf_acl and its default "*" but not
 * its grammar; this is the mgos convention as we understand it — not confirmed there.)
 */
export function aclAllows(acl: string, path: string): boolean {
  for (const raw of acl.split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const deny = entry.startsWith('-');
    const glob = entry.replace(/^[+-]/, '');
    if (globMatch(glob, path)) return !deny;
  }
  return false;
}

function globMatch(glob: string, s: string): boolean {
  const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(s);
}

/** `?` runs (even count only) are filled from the end with the MAC's hex digits (§4.1). */
export function expandPlaceholders(value: string, macHex: string): string {
  const count = [...value].filter((c) => c === '?').length;
  if (count === 0 || count % 2 !== 0) return value;
  const chars = [...value];
  let m = macHex.length - 1;
  for (let i = chars.length - 1; i >= 0 && m >= 0; i--) if (chars[i] === '?') chars[i] = macHex[m--] ?? '?';
  return chars.join('');
}

function typeFits(path: string, want: ConfigValue, value: unknown): boolean {
  if (typeof want === 'string') return typeof value === 'string';
  if (typeof want === 'boolean') return typeof value === 'boolean';
  if (typeof want === 'number') return typeof value === 'number' && Number.isFinite(value) && (DOUBLE_KEYS.has(path) || Number.isInteger(value));
  return false;
}

function typeName(path: string, want: ConfigValue): string {
  if (typeof want === 'number') return DOUBLE_KEYS.has(path) ? 'a number' : 'an integer';
  if (isTree(want)) return 'an object';
  return `a ${typeof want}`;
}

export function isTree(v: unknown): v is ConfigTree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function lookup(tree: ConfigTree, path: string): ConfigValue | undefined {
  let cur: ConfigValue | undefined = tree;
  for (const part of path.split('.')) {
    if (!isTree(cur)) return undefined;
    cur = Object.hasOwn(cur, part) ? cur[part] : undefined;
  }
  return cur;
}

function assign(tree: ConfigTree, path: string, value: ConfigValue): void {
  const parts = path.split('.');
  let cur = tree;
  for (const p of parts.slice(0, -1)) cur = cur[p] as ConfigTree;
  cur[parts.at(-1) as string] = value;
}

function walk(tree: { [k: string]: unknown }, prefix: string, visit: (path: string, value: unknown) => void): void {
  for (const [k, v] of Object.entries(tree)) {
    visit(prefix + k, v);
    if (isTree(v)) walk(v, `${prefix}${k}.`, visit);
  }
}

function merged(base: ConfigTree, over: { [k: string]: unknown }): ConfigTree {
  const out: ConfigTree = {};
  for (const [k, v] of Object.entries(base)) out[k] = isTree(v) ? merged(v, {}) : v;
  for (const [k, v] of Object.entries(over)) {
    const cur = out[k];
    out[k] = isTree(v) ? merged(isTree(cur) ? cur : {}, v) : (v as ConfigValue);
  }
  return out;
}

function diff(here: ConfigTree, below: ConfigTree): ConfigTree {
  const out: ConfigTree = {};
  for (const [k, v] of Object.entries(here)) {
    const b = below[k];
    if (isTree(v)) {
      const d = diff(v, isTree(b) ? b : {});
      if (Object.keys(d).length > 0) out[k] = d;
    } else if (v !== b) {
      out[k] = v;
    }
  }
  return out;
}
