// Bench: how long `espfleet --version` and `espfleet --help` take to start, as a user runs them
// (a new node process each time; median of 10). Also counts the project modules each loads,
// which is what start-up pays for. Target (issue 11): ≤ 150 ms on the project's 2-core machine.
// Two ways are timed: the built JavaScript (how `espfleet` runs after scripts/setup) and the
// TypeScript sources through tsx (how every command started before the build step).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../lib/oracles.ts';

// ESPFLEET_BENCH_BIN times another checkout's binary (e.g. one from before the build step).
const bin = process.env.ESPFLEET_BENCH_BIN ?? join(repoRoot, 'provisioner', 'cli', 'espfleet.mjs');
const RUNS = 10;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
}

function time(args: string[], env: Record<string, string | undefined> = {}, script: string | undefined = bin): { ms: number; ok: boolean } {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, script === undefined ? ['-e', ''] : [script, ...args], { env: withEnv(env), encoding: 'utf8' });
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, ok: r.status === 0 };
}

/** Project files a command loads: node's module list, printed by a preloaded hook. */
/** process.env with `env` applied; an undefined value removes the variable. */
function withEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete out[k];
  return out;
}

function modulesLoaded(args: string[], env: Record<string, string | undefined>): number {
  const hook = join(repoRoot, 'scripts', 'lib', 'count-modules.mjs');
  const r = spawnSync(process.execPath, ['--import', hook, bin, ...args], { env: withEnv(env), encoding: 'utf8' });
  const m = /espfleet-modules: (\d+)/.exec(r.stderr);
  return m ? Number(m[1]) : NaN;
}

const floor = Array.from({ length: RUNS }, () => time([], {}, undefined).ms);
console.log(`node with no script (the floor here)  median ${median(floor).toFixed(0).padStart(5)} ms`);
const ways: Array<[string, Record<string, string | undefined>]> = [
  ['built JavaScript', {}],
  ['sources via tsx', { ESPFLEET_FROM_SOURCE: '1' }],
];
// This sandbox sets NODE_EXTRA_CA_CERTS, which makes every node process read a CA bundle at start.
if (process.env.NODE_EXTRA_CA_CERTS) {
  const bare = Array.from({ length: RUNS }, () => time([], { NODE_EXTRA_CA_CERTS: undefined }, undefined).ms);
  console.log(`node with no script, NODE_EXTRA_CA_CERTS unset  median ${median(bare).toFixed(0).padStart(5)} ms`);
  ways.push(['built JavaScript, NODE_EXTRA_CA_CERTS unset', { NODE_EXTRA_CA_CERTS: undefined }]);
}
for (const [way, env] of ways) {
  console.log(`-- ${way}`);
  for (const args of [['--version'], ['--help'], ['flash', '--help']]) report(args, env);
}

function report(args: string[], env: Record<string, string | undefined>): void {
  time(args, env); // warm the file cache
  const runs = Array.from({ length: RUNS }, () => time(args, env));
  const failed = runs.filter((r) => !r.ok).length;
  const label = `espfleet ${args.join(' ')}`;
  console.log(
    `${label.padEnd(28)} median ${median(runs.map((r) => r.ms)).toFixed(0).padStart(5)} ms  (min ${Math.min(...runs.map((r) => r.ms)).toFixed(0)}, max ${Math.max(...runs.map((r) => r.ms)).toFixed(0)}; ${modulesLoaded(args, env)} project modules${failed ? `; ${failed} runs FAILED` : ''})`,
  );
}
