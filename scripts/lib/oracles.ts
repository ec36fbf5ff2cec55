// Runs the independent test oracles (Espressif's esptool/espefuse/espsecure,
// littlefs-python, openssl) that scripts/setup installs into .venv. Tests and
// benchmarks use these; the product never does.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const venvBin = join(repoRoot, '.venv', 'bin');

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

function venvTool(name: string): string {
  const path = join(venvBin, name);
  if (!existsSync(path)) {
    throw new Error(`test oracle ${name} is missing at ${path}: run scripts/setup first`);
  }
  return path;
}

export const esptool = (args: readonly string[], opts?: RunOptions) => run(venvTool('esptool'), args, opts);
export const espefuse = (args: readonly string[], opts?: RunOptions) => run(venvTool('espefuse'), args, opts);
export const espsecure = (args: readonly string[], opts?: RunOptions) => run(venvTool('espsecure'), args, opts);
/** Runs a Python snippet in the oracle virtualenv (littlefs-python lives there). */
export const python = (script: string, args: readonly string[] = [], opts?: RunOptions) =>
  run(venvTool('python'), ['-c', script, ...args], opts);
export const openssl = (args: readonly string[], opts?: RunOptions) => run('openssl', args, opts);

/** Throws with the tool's output when it did not exit 0; returns stdout otherwise. */
export function expectOk(r: RunResult, what: string): string {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
