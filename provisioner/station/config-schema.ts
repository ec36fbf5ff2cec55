// A tiny declarative schema for station.toml (STYLE.md lesson 9): the schema object is
// the allow-list, so every key the file may hold is written down exactly once, and
// every error names the key path (`ports.usb[1].vid`) and the value that was there.
import { isAbsolute, resolve } from 'node:path';
import { EspfleetError } from '../../firmware-js/errors.ts';

export type StationConfigErrorCode =
  | 'station.config.unknown_key'
  | 'station.config.bad_value'
  | 'station.config.missing'
  | 'station.config.syntax';

export class StationConfigError extends EspfleetError {
  constructor(
    code: StationConfigErrorCode,
    message: string,
    /** The offending key path (`encryption.mode`), when the error is about one key. */
    readonly keyPath: string | undefined,
    details: { hint?: string; cause?: unknown; line?: number; column?: number } = {},
  ) {
    super(code, message, details);
    this.line = details.line;
    this.column = details.column;
  }
  readonly line: number | undefined;
  readonly column: number | undefined;
}

export interface ReadContext {
  /** How the file is named in messages, e.g. "station.toml". */
  source: string;
  /** Relative paths resolve against this (the TOML file's directory). */
  baseDir: string;
}

/** A leaf reads one value; `fallback` supplies it when the key is absent. */
export interface Leaf<T> {
  kind: 'leaf';
  read(value: unknown, path: string, ctx: ReadContext): T;
  fallback(path: string, ctx: ReadContext): T;
}

export interface TableNode<F extends Record<string, Node>> {
  kind: 'table';
  fields: F;
}

export type Node = Leaf<unknown> | TableNode<Record<string, Node>>;

/** snake_case TOML keys become camelCase properties; the runtime does the same. */
export type Camel<S extends string> = S extends `${infer A}_${infer B}` ? `${A}${Capitalize<Camel<B>>}` : S;

export type Output<N> =
  N extends Leaf<infer T> ? T : N extends TableNode<infer F> ? { [K in keyof F & string as Camel<K>]: Output<F[K]> } : never;

export function camel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

export function table<F extends Record<string, Node>>(fields: F): TableNode<F> {
  return { kind: 'table', fields };
}

export function fail(ctx: ReadContext, code: StationConfigErrorCode, path: string, what: string, hint?: string): never {
  throw new StationConfigError(code, `${ctx.source}: ${path}: ${what}`, path, hint === undefined ? {} : { hint });
}

export function describe(value: unknown): string {
  if (value instanceof Date) return `a date (${value.toISOString()})`;
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'a table';
  if (typeof value === 'bigint') return value.toString();
  return JSON.stringify(value) ?? String(value);
}

export function badValue(ctx: ReadContext, path: string, expected: string, got: unknown, hint?: string): never {
  return fail(ctx, 'station.config.bad_value', path, `expected ${expected}, got ${describe(got)}`, hint);
}

export function isPlainTable(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date);
}

export function join(path: string, key: string): string {
  const k = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
  return path === '' ? k : `${path}.${k}`;
}

/** Hints for keys people are likely to try that must not exist (secrets in the file). */
const UNKNOWN_KEY_HINTS: Record<string, string> = {
  passphrase: 'passphrases never go in station.toml (DESIGN.md invariant 3): use passphrase_file or the environment variable',
  password: 'passphrases never go in station.toml (DESIGN.md invariant 3): use passphrase_file or the environment variable',
};

/** Pass 1: every key in the file must be in the schema (checked before any value). */
export function checkKeys(node: TableNode<Record<string, Node>>, value: Record<string, unknown>, path: string, ctx: ReadContext): void {
  for (const key of Object.keys(value)) {
    const child = node.fields[key];
    const at = join(path, key);
    if (child === undefined) {
      const allowed = Object.keys(node.fields).join(', ');
      fail(
        ctx,
        'station.config.unknown_key',
        at,
        `unknown key (allowed ${path === '' ? 'sections' : `in [${path}]`}: ${allowed})`,
        UNKNOWN_KEY_HINTS[key] ?? 'check the spelling against docs/station.example.toml',
      );
    }
    const v = value[key];
    if (child.kind === 'table') {
      if (!isPlainTable(v)) badValue(ctx, at, `a table [${at}]`, v);
      checkKeys(child, v, at, ctx);
    }
  }
}

/** Pass 2: read every value (or its default) into the typed result. */
export function readTable<F extends Record<string, Node>>(
  node: TableNode<F>,
  value: Record<string, unknown>,
  path: string,
  ctx: ReadContext,
): Output<TableNode<F>> {
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(node.fields)) {
    const at = join(path, key);
    const v = Object.hasOwn(value, key) ? value[key] : undefined;
    if (child.kind === 'table') out[camel(key)] = readTable(child, (v as Record<string, unknown> | undefined) ?? {}, at, ctx);
    else out[camel(key)] = v === undefined ? child.fallback(at, ctx) : child.read(v, at, ctx);
  }
  return out as Output<TableNode<F>>;
}

// ---- leaves -------------------------------------------------------------------------------

function leaf<T>(read: Leaf<T>['read'], fallback: Leaf<T>['fallback']): Leaf<T> {
  return { kind: 'leaf', read, fallback };
}

function required(hint?: string): (path: string, ctx: ReadContext) => never {
  return (path, ctx) => fail(ctx, 'station.config.missing', path, 'required key is missing', hint);
}

export interface StringRule {
  /** What the value must look like, for the message. */
  expected?: string;
  pattern?: RegExp;
  check?: (s: string) => string | undefined;
}

function readString(v: unknown, path: string, ctx: ReadContext, rule: StringRule): string {
  if (typeof v !== 'string') badValue(ctx, path, rule.expected ?? 'a string', v);
  if (v === '') badValue(ctx, path, rule.expected ?? 'a non-empty string', v);
  if (rule.pattern && !rule.pattern.test(v)) badValue(ctx, path, rule.expected ?? `a string matching ${rule.pattern}`, v);
  const problem = rule.check?.(v);
  if (problem !== undefined) fail(ctx, 'station.config.bad_value', path, problem);
  return v;
}

export function requiredString(rule: StringRule = {}, hint?: string): Leaf<string> {
  return leaf((v, p, c) => readString(v, p, c, rule), required(hint));
}

export function optionalString(rule: StringRule = {}): Leaf<string | null> {
  return leaf<string | null>((v, p, c) => readString(v, p, c, rule), () => null);
}

export function stringWithDefault(def: string, rule: StringRule = {}): Leaf<string> {
  return leaf((v, p, c) => readString(v, p, c, rule), (p, c) => readString(def, p, c, rule));
}

function resolvePath(v: string, ctx: ReadContext): string {
  return isAbsolute(v) ? v : resolve(ctx.baseDir, v);
}

/** A file system path; relative ones resolve against the TOML file's directory. */
export function optionalPath(): Leaf<string | null> {
  return leaf<string | null>((v, p, c) => resolvePath(readString(v, p, c, { expected: 'a path' }), c), () => null);
}

export function pathWithDefault(def: string): Leaf<string> {
  return leaf(
    (v, p, c) => resolvePath(readString(v, p, c, { expected: 'a path' }), c),
    (_p, c) => resolvePath(def, c),
  );
}

/**
 * Where the registry is: a postgres:// URL (kept as written: it is not a path), `sqlite:PATH`
 * or a plain path (resolved like every path).
 */
export function registryWithDefault(def: string): Leaf<string> {
  const read = (text: string, c: ReadContext) => (/^postgres(ql)?:\/\//i.test(text) ? text : resolvePath(text.replace(/^sqlite:(\/\/)?/i, ''), c));
  return leaf(
    (v, p, c) => read(readString(v, p, c, { expected: 'a path or a postgres:// URL' }), c),
    (_p, c) => resolvePath(def, c),
  );
}

export function pathList(max: number, what: string): Leaf<string[]> {
  return leaf(
    (v, p, c) => {
      if (!Array.isArray(v)) badValue(c, p, `an array of paths (${what})`, v);
      if (v.length > max) fail(c, 'station.config.bad_value', p, `expected at most ${max} paths (${what}), got ${v.length}`);
      return v.map((item, i) => resolvePath(readString(item, `${p}[${i}]`, c, { expected: 'a path' }), c));
    },
    () => [],
  );
}

export function bool(def: boolean): Leaf<boolean> {
  return leaf(
    (v, p, c) => {
      if (typeof v !== 'boolean') badValue(c, p, 'true or false', v);
      return v;
    },
    () => def,
  );
}

export function integer(def: number, min: number, max: number): Leaf<number> {
  return leaf(
    (v, p, c) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) badValue(c, p, `a whole number from ${min} to ${max}`, v);
      return v;
    },
    () => def,
  );
}

export function oneOf<const T extends string>(values: readonly T[], def: T): Leaf<T> {
  return leaf(
    (v, p, c) => {
      if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) badValue(c, p, `one of ${values.join(', ')}`, v);
      return v as T;
    },
    () => def,
  );
}

export function stringList(rule: StringRule = {}): Leaf<string[]> {
  return leaf(
    (v, p, c) => {
      if (!Array.isArray(v)) badValue(c, p, `an array of strings`, v);
      return v.map((item, i) => readString(item, `${p}[${i}]`, c, rule));
    },
    () => [],
  );
}

/** An array of tables, each checked against its own allow-list. */
export function tableList<F extends Record<string, Node>>(fields: F): Leaf<Array<Output<TableNode<F>>>> {
  const node = table(fields);
  return leaf(
    (v, p, c) => {
      if (!Array.isArray(v)) badValue(c, p, `an array of tables ([[${p}]])`, v);
      return v.map((item, i) => {
        const at = `${p}[${i}]`;
        if (!isPlainTable(item)) badValue(c, at, 'a table', item);
        checkKeys(node, item, at, c);
        return readTable(node, item, at, c);
      });
    },
    () => [],
  );
}

/** A free-form nested table of strings, numbers and booleans (keys checked for shape only). */
export type FreeTable = { [key: string]: string | number | boolean | FreeTable };

export function freeTable(keyPattern: RegExp): Leaf<FreeTable> {
  const walk = (v: unknown, p: string, c: ReadContext): FreeTable => {
    if (!isPlainTable(v)) badValue(c, p, 'a table', v);
    const out: FreeTable = {};
    for (const [key, item] of Object.entries(v)) {
      const at = join(p, key);
      if (!keyPattern.test(key)) fail(c, 'station.config.bad_value', at, `key ${JSON.stringify(key)} must match ${keyPattern}`);
      if (typeof item === 'string' || typeof item === 'boolean') out[key] = item;
      else if (typeof item === 'number' && Number.isFinite(item)) out[key] = item;
      else if (isPlainTable(item)) out[key] = walk(item, at, c);
      else badValue(c, at, 'a string, finite number, boolean or table', item);
    }
    return out;
  };
  return leaf(walk, () => ({}));
}

/** Any leaf with a custom reader; absent means null. */
export function optionalCustom<T>(read: (v: unknown, path: string, ctx: ReadContext) => T): Leaf<T | null> {
  return leaf<T | null>(read, () => null);
}
