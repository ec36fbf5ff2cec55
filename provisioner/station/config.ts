// station.toml: one flashing station's settings, parsed into a typed, fully-defaulted
// StationConfig. The schema below is the allow-list (STYLE.md lesson 9); secrets are
// never in the file, only where to find them (DESIGN.md invariant 3).
import { DEFAULT_DEVICE_ID_TEMPLATE, templateProblem } from './device-id.ts';
import TOML from '@iarna/toml';
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { PORT_URL_EXAMPLES, portUrlProblem } from '../transport/port-url.ts';
import {
  StationConfigError,
  badValue,
  bool,
  checkKeys,
  fail,
  freeTable,
  integer,
  isPlainTable,
  oneOf,
  optionalCustom,
  optionalPath,
  optionalString,
  pathList,
  pathWithDefault,
  registryWithDefault,
  readTable,
  requiredString,
  stringList,
  stringWithDefault,
  table,
  tableList,
  type FreeTable,
  type Output,
  type ReadContext,
} from './config-schema.ts';

export { StationConfigError } from './config-schema.ts';
export type { FreeTable } from './config-schema.ts';

export const CA_PASSPHRASE_ENV = 'ESPFLEET_CA_PASSPHRASE';
export const KEYSTORE_PASSPHRASE_ENV = 'ESPFLEET_KEYSTORE_PASSPHRASE';
/** Bundle signature key slots 0..7. */
export const SIGNING_KEY_SLOTS = 8;

const ID_CHARS = /^[A-Za-z0-9_.-]+$/;
const HEX_ID = /^(0x)?[0-9a-fA-F]{1,4}$/;

export interface MqttServer {
  host: string;
  port: number;
}

export interface UsbFilter {
  /** USB vendor id, e.g. 0x10c4. */
  vid: number;
  /** USB product id; null matches any product of the vendor. */
  pid: number | null;
}

function hostPort(v: unknown, path: string, ctx: ReadContext): MqttServer {
  const expected = 'host:port, e.g. "mqtt.example.com:8883" or "[::1]:8883"';
  if (typeof v !== 'string') badValue(ctx, path, expected, v);
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) badValue(ctx, path, expected, v);
  return { host: (m[1] ?? m[2]) as string, port };
}

function usbId(v: unknown, path: string, ctx: ReadContext): number {
  if (typeof v !== 'string' || !HEX_ID.test(v)) badValue(ctx, path, 'a hex USB id string such as "10c4" or "0x10c4"', v);
  return parseInt(v.replace(/^0x/i, ''), 16);
}

function checkIdTemplate(t: string): string | undefined {
  const problem = templateProblem(t);
  if (problem) return problem;
  if (!ID_CHARS.test(t.replace(/\{mac6?\}/g, ''))) return `${JSON.stringify(t)} may hold only letters, digits, "_", "." and "-" around the placeholders`;
  return undefined;
}

function checkUrl(u: string): string | undefined {
  const problem = portUrlProblem(u);
  return problem === undefined ? undefined : `${problem} (e.g. ${PORT_URL_EXAMPLES})`;
}

/** The schema: every key station.toml may hold, with its type and default. */
export const stationSchema = table({
  station: table({
    id: requiredString({ expected: 'an id of letters, digits, "_", "." or "-"', pattern: ID_CHARS }, 'name the station, e.g. id = "line1-station3"'),
    operator: requiredString({}, 'who runs the station; recorded in the registry and the audit log'),
  }),
  firmware: table({
    bundle: optionalPath(),
    signing_keys: pathList(SIGNING_KEY_SLOTS, 'public key PEM files for signature slots 0..7'),
    require_signatures: bool(true),
  }),
  ca: table({
    dir: optionalPath(),
    passphrase_file: optionalPath(),
  }),
  keystore: table({
    path: optionalPath(),
    key_file: optionalPath(),
    passphrase_file: optionalPath(),
    /** Further copies of the keystore on other disks (docs/factory.md, "Backups and escrow copies"). */
    mirrors: pathList(7, 'keystore copies on other disks or removable drives'),
  }),
  escrow: table({
    /** Stores a key must be in before a burn; absent: 2 in release mode, else 1 (escrowCopies()). */
    copies: optionalCustom((v, p, c) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 8) badValue(c, p, 'a whole number from 1 to 8', v);
      return v;
    }),
  }),
  device: table({
    id_template: stringWithDefault(DEFAULT_DEVICE_ID_TEMPLATE, { check: checkIdTemplate }),
  }),
  mqtt: table({
    server: optionalCustom(hostPort),
  }),
  agent: freeTable(/^[A-Za-z0-9_]+$/),
  encryption: table({
    mode: oneOf(['off', 'development', 'release'] as const, 'off'),
  }),
  ports: table({
    urls: stringList({ expected: 'a port URL', check: checkUrl }),
    usb: tableList({
      vid: { kind: 'leaf', read: usbId, fallback: (p: string, c: ReadContext) => fail(c, 'station.config.missing', p, 'required key is missing') },
      pid: optionalCustom(usbId),
    }),
  }),
  serial: table({
    baud: integer(921600, 9600, 5_000_000),
  }),
  paths: table({
    /** A path (the SQLite file) or a postgres:// URL (a shared registry, docs/registry.md). */
    registry: registryWithDefault('registry.sqlite'),
    audit: pathWithDefault('audit.jsonl'),
    journal_dir: pathWithDefault('journal'),
  }),
});

export type StationConfig = Output<typeof stationSchema> & {
  /** The file it came from (or the name given to parseStationConfig). */
  source: string;
  /** The directory relative paths were resolved against. */
  baseDir: string;
};

export interface ParseOptions {
  /** Relative paths resolve against this directory. */
  baseDir: string;
  /** How to name the file in messages; default "station.toml". */
  source?: string;
}

export function parseStationConfig(text: string, opts: ParseOptions): StationConfig {
  const ctx: ReadContext = { source: opts.source ?? 'station.toml', baseDir: resolve(opts.baseDir) };
  let raw: unknown;
  try {
    raw = TOML.parse(text);
  } catch (e) {
    throw syntaxError(e, ctx.source);
  }
  if (!isPlainTable(raw)) throw new StationConfigError('station.config.syntax', `${ctx.source}: not a TOML table`, undefined);
  checkKeys(stationSchema, raw, '', ctx);
  const cfg = readTable(stationSchema, raw, '', ctx);
  crossCheck(cfg, ctx);
  return { ...cfg, source: ctx.source, baseDir: ctx.baseDir };
}

export function loadStationConfig(path: string): StationConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new StationConfigError(
      'station.config.missing',
      `cannot read station config ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      undefined,
      { cause: e, hint: 'start from docs/station.example.toml' },
    );
  }
  return parseStationConfig(text, { baseDir: dirname(resolve(path)), source: path });
}

function crossCheck(cfg: Output<typeof stationSchema>, ctx: ReadContext): void {
  if (cfg.firmware.requireSignatures && cfg.firmware.bundle !== null && cfg.firmware.signingKeys.length === 0) {
    fail(
      ctx,
      'station.config.missing',
      'firmware.signing_keys',
      'firmware.require_signatures is true but no signing keys are listed',
      'list the public key PEM files the bundle must be signed with, or set require_signatures = false for development',
    );
  }
  if (cfg.ca.passphraseFile !== null && cfg.ca.dir === null) {
    fail(ctx, 'station.config.missing', 'ca.dir', 'ca.passphrase_file is set but ca.dir is not');
  }
  if (cfg.keystore.keyFile !== null && cfg.keystore.passphraseFile !== null) {
    fail(ctx, 'station.config.bad_value', 'keystore.key_file', 'give keystore.key_file or keystore.passphrase_file, not both');
  }
  if ((cfg.keystore.keyFile !== null || cfg.keystore.passphraseFile !== null) && cfg.keystore.path === null) {
    fail(ctx, 'station.config.missing', 'keystore.path', 'a keystore key or passphrase file is set but keystore.path is not');
  }
  if (cfg.keystore.mirrors.length > 0 && cfg.keystore.path === null) {
    fail(ctx, 'station.config.missing', 'keystore.path', 'keystore.mirrors is set but keystore.path is not');
  }
  if (cfg.escrow.copies !== null && cfg.escrow.copies > 1 + cfg.keystore.mirrors.length) {
    fail(
      ctx,
      'station.config.bad_value',
      'escrow.copies',
      `escrow.copies is ${cfg.escrow.copies} but only ${1 + cfg.keystore.mirrors.length} store(s) are configured (keystore.path + keystore.mirrors)`,
      'list more stores in keystore.mirrors, or lower escrow.copies',
    );
  }
  if (cfg.encryption.mode !== 'off' && cfg.keystore.path === null) {
    fail(
      ctx,
      'station.config.missing',
      'keystore.path',
      `encryption.mode is "${cfg.encryption.mode}" but there is no keystore to escrow flash-encryption keys in`,
      'set keystore.path (DESIGN.md invariant 2: keys are escrowed before any eFuse is burned)',
    );
  }
}

function syntaxError(e: unknown, source: string): StationConfigError {
  const err = e as { line?: unknown; col?: unknown; message?: unknown };
  const line = typeof err.line === 'number' ? err.line + 1 : undefined;
  const column = typeof err.col === 'number' ? err.col + 1 : undefined;
  const first = String(err.message ?? e).split('\n')[0] ?? '';
  const reason = first.replace(/ at row \d+, col \d+, pos \d+:?$/, '');
  const where = line === undefined ? '' : ` line ${line}, column ${column ?? '?'}:`;
  return new StationConfigError('station.config.syntax', `${source}:${where} TOML syntax error: ${reason}`, undefined, {
    cause: e,
    ...(line === undefined ? {} : { line }),
    ...(column === undefined ? {} : { column }),
  });
}

// ---- helpers that apply the config ------------------------------------------------------

/** The agent table as conf9.json wants it (a nested object), copied so callers cannot mutate the config. */
export function agentConf(cfg: StationConfig): FreeTable {
  return structuredClone(cfg.agent);
}

/** Name for messages: the file's base name. */
export function configName(cfg: StationConfig): string {
  return basename(cfg.source);
}

/** Where a passphrase comes from: the file if configured, else the environment variable, else a prompt.
 * Structurally a `SecretSource` for `resolvePassphrase` (provisioner/cli/secrets.ts). */
export interface PassphraseSource {
  what: string;
  envVar: string;
  file?: string;
}

export function caPassphraseSource(cfg: StationConfig): PassphraseSource {
  return { what: 'CA key', envVar: CA_PASSPHRASE_ENV, ...(cfg.ca.passphraseFile === null ? {} : { file: cfg.ca.passphraseFile }) };
}

/** The keystore unlocks with a key file when one is configured, else a passphrase. */
export function keystoreSecretSource(cfg: StationConfig): { keyFile: string } | { passphrase: PassphraseSource } {
  if (cfg.keystore.keyFile !== null) return { keyFile: cfg.keystore.keyFile };
  return {
    passphrase: {
      what: 'keystore',
      envVar: KEYSTORE_PASSPHRASE_ENV,
      ...(cfg.keystore.passphraseFile === null ? {} : { file: cfg.keystore.passphraseFile }),
    },
  };
}

/** How many stores a flash-encryption key must be in before a burn: escrow.copies, else 2 in release mode, else 1. */
export function escrowCopies(cfg: StationConfig): number {
  return cfg.escrow.copies ?? (cfg.encryption.mode === 'release' ? 2 : 1);
}

/** Every configured escrow store: keystore.path first, then keystore.mirrors (empty without a keystore). */
export function escrowStores(cfg: StationConfig): string[] {
  return cfg.keystore.path === null ? [] : [cfg.keystore.path, ...cfg.keystore.mirrors];
}

export { DEFAULT_DEVICE_ID_TEMPLATE, deviceIdFor, macHex } from './device-id.ts';
