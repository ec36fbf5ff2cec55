// `espfleet agent run`: runs files in one mJS engine double like Cesanta's `mjs FILE…`:
// print output as mJS formats it, `MJS error: <message>` on stdout and exit 1 on an error.
import type { Command } from 'commander';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import type { CliContext } from '../../context.ts';
import { ExitCode } from '../../exit.ts';
import { intArg } from '../../args.ts';
import { createMjsEngine, DEFAULT_LIMITS, directoryFs, MjsHostError } from '../../../../hil-tests/mjs/index.ts';

interface Options {
  fs?: string;
  stepBudget?: number;
  memoryBudget?: number;
}

export function register(agent: Command, ctx: CliContext): void {
  agent
    .command('run <files...>')
    .description('run mJS files in one engine, as Cesanta\'s `mjs FILE...` does')
    .option('--fs <dir>', 'directory load() reads from (default: the current directory)')
    .option('--step-budget <n>', `steps per file before the run is stopped (default ${DEFAULT_LIMITS.stepBudget})`, intArg(1, 2 ** 31))
    .option('--memory-budget <bytes>', `approximate heap of the engine (default ${DEFAULT_LIMITS.memoryBudget})`, intArg(1024, 2 ** 31))
    .addHelpText(
      'after',
      `
print() writes each argument followed by one space, then a newline, numbers as mJS
formats them (0.300000, -nan). On an uncaught error "MJS error: <message>" goes to
stdout, the file and line to stderr, and the exit status is 1. Files share one
global scope, in the order given. ffi() knows libm (ceil, floor, pow, ...) only.

Examples:
  espfleet agent run snippet.js
  espfleet agent run --fs agent/fs agent/fs/init.js`,
    )
    .action((files: string[], opts: Options) => {
      const fsDir = resolve(ctx.cwd, opts.fs ?? '.');
      if (!existsSync(fsDir) || !statSync(fsDir).isDirectory()) {
        throw new MjsHostError('mjs.run.fs_not_found', `--fs: no such directory: ${opts.fs}`, { hint: 'name the directory that holds the files load() reads' });
      }
      const engine = createMjsEngine({
        fs: directoryFs(fsDir),
        print: (_line, bytes) => void ctx.stdout.write(bytes),
        stepBudget: opts.stepBudget ?? DEFAULT_LIMITS.stepBudget,
        memoryBudget: opts.memoryBudget ?? DEFAULT_LIMITS.memoryBudget,
      });
      for (const file of files) {
        const path = resolve(ctx.cwd, file);
        if (!existsSync(path) || !statSync(path).isFile()) {
          throw new MjsHostError('mjs.run.not_found', `no such file: ${file}`, { hint: 'name the .js files to run' });
        }
        const result = engine.run(new Uint8Array(readFileSync(path)), relative(ctx.cwd, path) || path);
        if (!result.ok) {
          ctx.stdout.write(`MJS error: ${result.error.message}\n`);
          ctx.note(`at ${result.error.file}:${result.error.line}`);
          throw new ExitCode(1);
        }
      }
    });
}
