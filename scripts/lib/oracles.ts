// Runs the independent test oracles (Espressif's esptool/espefuse/espsecure,
// littlefs-python, esp-idf-nvs-partition-gen, openssl, mosquitto, Go, a C compiler with mbedTLS,
// PostgreSQL's initdb, Chromium) that scripts/setup
// installs. Tests and benchmarks use these; the product never does. Every test that
// depends on one asks oracleAvailable()/requireOracle() here: locally a missing oracle
// skips the test, with CI=true it fails the run (a skipped oracle test in CI is a check
// that never ran).
import { spawn } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const venvBin = join(repoRoot, '.venv', 'bin');
/** A package directory in the venv's site-packages (lib/python3.X varies with the Python). */
function venvPackage(pkg: string): string {
  let py: string | undefined;
  try {
    py = readdirSync(join(repoRoot, '.venv', 'lib')).find((d) => d.startsWith('python3'));
  } catch {
    py = undefined;
  }
  return join(repoRoot, '.venv', 'lib', py ?? 'python3', 'site-packages', pkg, '__init__.py');
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Uint8Array;
  cwd?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** Runs a program and collects its output; never throws on a non-zero exit. */
export function run(program: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      cwd: opts.cwd,
      env: { ...process.env, PYTHONUNBUFFERED: '1', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    // Tools that never read stdin may exit before we finish writing it; that is not a failure.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

export type OracleName = 'esptool' | 'espefuse' | 'espsecure' | 'python' | 'nvs-gen' | 'openssl' | 'mosquitto' | 'go' | 'cc' | 'initdb' | 'chromium';

/** Debian's PostgreSQL keeps initdb/pg_ctl/postgres in /usr/lib/postgresql/<major>/bin, off PATH; newest first. */
function postgresBins(): string[] {
  try {
    return readdirSync('/usr/lib/postgresql')
      .filter((d) => /^\d+$/.test(d))
      .sort((a, b) => Number(b) - Number(a))
      .map((d) => `/usr/lib/postgresql/${d}/bin/initdb`);
  } catch {
    return [];
  }
}

/**
 * Where each oracle may live, in order; PATH entries are searched for bare names. `needs`:
 * files that must exist too (the headers a compiler builds against), or the oracle is missing.
 */
const ORACLE_PLACES: Record<OracleName, { places: string[]; what: string; needs?: string[] }> = {
  esptool: { places: [join(venvBin, 'esptool')], what: 'esptool in .venv' },
  espefuse: { places: [join(venvBin, 'espefuse')], what: 'espefuse in .venv' },
  espsecure: { places: [join(venvBin, 'espsecure')], what: 'espsecure in .venv' },
  python: { places: [join(venvBin, 'python')], what: 'the .venv Python (littlefs-python, pyserial)' },
  // Espressif's NVS partition generator, run as `python -m esp_idf_nvs_partition_gen`.
  'nvs-gen': { places: [join(venvBin, 'python')], what: 'esp-idf-nvs-partition-gen in .venv', needs: [venvPackage('esp_idf_nvs_partition_gen')] },
  openssl: { places: ['openssl'], what: 'openssl (Debian openssl)' },
  // Debian installs the broker outside a normal user's PATH.
  mosquitto: { places: ['mosquitto', '/usr/sbin/mosquitto'], what: 'mosquitto (Debian mosquitto)' },
  // The upstream tarball lives in /usr/local/go, Debian's golang-go in /usr/lib/go.
  go: { places: ['go', '/usr/local/go/bin/go', '/usr/lib/go/bin/go'], what: 'go (Debian golang-go)' },
  // Compiles agent/src/espfleet_crypto.c against mbedTLS 2.x, as Mongoose OS ships it.
  cc: {
    places: ['cc', 'gcc'],
    what: 'a C compiler with the mbedTLS 2.x headers and libraries (Debian build-essential, libmbedtls-dev)',
    needs: ['/usr/include/mbedtls/x509_csr.h'],
  },
  // A throw-away PostgreSQL cluster for the registry tests: initdb, with pg_ctl and postgres beside it.
  initdb: { places: [...postgresBins(), 'initdb'], what: 'initdb/pg_ctl (Debian postgresql)' },
  // The dashboard's browser tests drive Debian's Chromium headless (puppeteer-core, no bundled browser).
  chromium: { places: ['chromium', '/usr/bin/chromium'], what: 'chromium (Debian chromium)' },
};

function present(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `ESPFLEET_ORACLE_GO=/opt/go/bin/go`: use exactly this executable for an oracle. */
const overrideVar = (name: OracleName) => `ESPFLEET_ORACLE_${name.toUpperCase()}`;

function places(name: OracleName, env: Record<string, string | undefined>): string[] {
  const override = env[overrideVar(name)];
  return override ? [override] : ORACLE_PLACES[name].places;
}

/** The oracle's executable, or undefined when it is not installed. */
export function oraclePath(name: OracleName, env: Record<string, string | undefined> = process.env): string | undefined {
  if (!(ORACLE_PLACES[name].needs ?? []).every(present)) return undefined;
  for (const place of places(name, env)) {
    if (place.includes('/')) {
      if (executable(place)) return place;
      continue;
    }
    for (const dir of (env.PATH ?? '').split(delimiter)) {
      if (dir && executable(join(dir, place))) return join(dir, place);
    }
  }
  return undefined;
}

export class OracleMissing extends Error {
  constructor(
    readonly oracle: OracleName,
    looked: readonly string[] = ORACLE_PLACES[oracle].places,
  ) {
    super(`test oracle ${oracle} is missing (${ORACLE_PLACES[oracle].what}; looked for ${looked.join(', ')}): run scripts/setup`);
    this.name = 'OracleMissing';
  }
}

const inCi = (env: Record<string, string | undefined>) => env.CI === 'true' || env.CI === '1';

/**
 * For `it.skipIf(!oracleAvailable('go'))`: false when the oracle is missing — except with
 * CI=true, where a missing oracle throws (the test file fails, naming the tool and
 * scripts/setup) instead of quietly skipping.
 */
export function oracleAvailable(name: OracleName, env: Record<string, string | undefined> = process.env): boolean {
  if (oraclePath(name, env) !== undefined) return true;
  if (inCi(env)) throw new OracleMissing(name, places(name, env));
  return false;
}

/** The oracle's path; throws OracleMissing (naming scripts/setup) when it is not installed. */
export function requireOracle(name: OracleName, env: Record<string, string | undefined> = process.env): string {
  const path = oraclePath(name, env);
  if (path === undefined) throw new OracleMissing(name, places(name, env));
  return path;
}

export const esptool = (args: readonly string[], opts?: RunOptions) => run(requireOracle('esptool'), args, opts);
export const espefuse = (args: readonly string[], opts?: RunOptions) => run(requireOracle('espefuse'), args, opts);
export const espsecure = (args: readonly string[], opts?: RunOptions) => run(requireOracle('espsecure'), args, opts);
/** Runs a Python snippet in the oracle virtualenv (littlefs-python lives there). */
export const python = (script: string, args: readonly string[] = [], opts?: RunOptions) =>
  run(requireOracle('python'), ['-c', script, ...args], opts);
/** Espressif's NVS partition generator (`generate input.csv out.bin 0x4000`). */
export const nvsPartitionGen = (args: readonly string[], opts?: RunOptions) => run(requireOracle('nvs-gen'), ['-m', 'esp_idf_nvs_partition_gen', ...args], opts);
export const openssl = (args: readonly string[], opts?: RunOptions) => run(requireOracle('openssl'), args, opts);
/** Runs the Go toolchain (the mos Go-serialisation oracle). */
/** The directory holding initdb, pg_ctl and postgres (for a throw-away test cluster). */
export const postgresBinDir = (): string => dirname(requireOracle('initdb'));
export const go = (args: readonly string[], opts?: RunOptions) => run(requireOracle('go'), args, opts);

/** Throws with the tool's output when it did not exit 0; returns stdout otherwise. */
export function expectOk(r: RunResult, what: string): string {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** How scripts/setup proves each oracle runs: arguments, and the line of output that names its version. */
const VERSION_PROBES: Record<OracleName, { args: string[]; pick: (out: string) => string }> = {
  esptool: { args: ['version'], pick: (o) => `esptool ${lastLine(o)}` },
  espefuse: { args: ['--help'], pick: () => 'espefuse (esptool package)' },
  espsecure: { args: ['--help'], pick: () => 'espsecure (esptool package)' },
  python: {
    args: ['-c', "import sys, littlefs, serial, importlib.metadata as m; print('Python', sys.version.split()[0], '| littlefs-python', m.version('littlefs-python'), '| pyserial', serial.VERSION)"],
    pick: lastLine,
  },
  'nvs-gen': { args: ['-c', "import esp_idf_nvs_partition_gen, importlib.metadata as m; print('esp-idf-nvs-partition-gen', m.version('esp-idf-nvs-partition-gen'))"], pick: lastLine },
  openssl: { args: ['version'], pick: lastLine },
  mosquitto: { args: ['-h'], pick: (o) => o.split('\n').find((l) => /mosquitto version/.test(l))?.trim() ?? '' },
  go: { args: ['version'], pick: lastLine },
  initdb: { args: ['--version'], pick: lastLine },
  chromium: { args: ['--headless', '--no-sandbox', '--version'], pick: lastLine },
  // Preprocesses mbedtls/version.h: proves the compiler runs and finds the headers.
  cc: {
    args: ['-dM', '-E', '-include', 'mbedtls/version.h', '-x', 'c', '/dev/null'],
    pick: (o) => {
      const v = /#define MBEDTLS_VERSION_STRING "([^"]+)"/.exec(o)?.[1];
      return v ? `cc with mbedTLS ${v}` : '';
    },
  },
};

function lastLine(out: string): string {
  return out.trim().split('\n').at(-1)?.trim() ?? '';
}

/** Runs every oracle the tests use, exactly as they find it; one line each. Missing or broken ones are listed. */
export async function checkOracles(env: Record<string, string | undefined> = process.env): Promise<{ lines: string[]; missing: OracleName[] }> {
  const lines: string[] = [];
  const missing: OracleName[] = [];
  for (const name of Object.keys(VERSION_PROBES) as OracleName[]) {
    const path = oraclePath(name, env);
    if (!path) {
      missing.push(name);
      lines.push(`MISSING ${name}: ${new OracleMissing(name, places(name, env)).message}`);
      continue;
    }
    const probe = VERSION_PROBES[name];
    const r = await run(path, probe.args, { timeoutMs: 60_000 }).catch((e: Error) => ({ code: 127, stdout: '', stderr: e.message }));
    const version = probe.pick(r.stdout + (name === 'mosquitto' ? r.stderr : ''));
    // mosquitto -h exits 3 after printing its usage; it ran if it named its version.
    if ((r.code !== 0 && name !== 'mosquitto') || !version) {
      missing.push(name);
      lines.push(`BROKEN ${name} (${path}): exit ${r.code} ${lastLine(r.stderr)}`);
      continue;
    }
    lines.push(`ok ${name.padEnd(9)} ${path}: ${version}`);
  }
  return { lines, missing };
}

// `tsx scripts/lib/oracles.ts --check` (the end of scripts/setup).
if (process.argv[2] === '--check' && process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { lines, missing } = await checkOracles();
  for (const line of lines) process.stdout.write(`${line}\n`);
  if (missing.length > 0) {
    process.stderr.write(`test oracles missing or broken: ${missing.join(', ')} — run scripts/setup (as root for the Debian packages)\n`);
    process.exitCode = 1;
  }
}
