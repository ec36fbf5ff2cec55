// `espfleet agent check`: every finding of the mJS checker with file:line; exit 1 on any.
import type { Command } from 'commander';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { CliContext } from '../../context.ts';
import { ExitCode } from '../../exit.ts';
import { checkSource, MjsHostError, type Finding } from '../../../../hil-tests/mjs/index.ts';
import { bytesToBinary } from '../../../../hil-tests/mjs/values.ts';

interface Options {
  json?: boolean;
}

/** The .js files named, directories searched recursively; `fs/` when nothing is named. */
function collectFiles(ctx: CliContext, args: string[]): string[] {
  const named = args.length ? args : ['fs'];
  const out: string[] = [];
  const walk = (path: string): void => {
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) {
        const child = join(path, name);
        if (statSync(child).isDirectory() || name.endsWith('.js')) walk(child);
      }
    } else out.push(path);
  };
  for (const arg of named) {
    const path = resolve(ctx.cwd, arg);
    if (!existsSync(path)) {
      throw new MjsHostError('mjs.check.not_found', `no such file or directory: ${arg}`, {
        hint: args.length ? 'name the agent\'s .js files or the directory holding them' : 'run it in the app directory (with fs/) or name the files',
      });
    }
    walk(path);
  }
  return out;
}

export function register(agent: Command, ctx: CliContext): void {
  agent
    .command('check [files...]')
    .description('report what a board\'s mJS refuses, and the mistakes that only show on a board')
    .option('--json', 'print the findings as a JSON array')
    .addHelpText(
      'after',
      `
Reports, with file:line:
  parse             syntax the mJS parser refuses (templates, arrows, try/catch, new,
                    var, switch, ...); the board refuses the whole file
  loose-equality    == or != (mJS: "Use ===, not ==")
  closure           a function that names an enclosing function's local and outlives
                    the call (callbacks): mJS has no closures
  string-plus-number  "..." + 5: implicit type conversion is prohibited
  missing-member    split, forEach, map, filter, toString, trim, replace, Object.keys ...
  non-ASCII         string literals with non-ASCII bytes (JSON.stringify writes \\xNN)
Directories are searched for .js files; with no arguments, fs/ is checked.
Exit status: 0 no findings, 1 any finding.

Examples:
  espfleet agent check fs/init.js fs/app.js
  espfleet agent check agent/fs --json`,
    )
    .action((files: string[], opts: Options) => {
      const paths = collectFiles(ctx, files);
      const findings: Finding[] = [];
      for (const path of paths) {
        const name = relative(ctx.cwd, path) || path;
        findings.push(...checkSource(bytesToBinary(new Uint8Array(readFileSync(path))), name));
      }
      if (opts.json) ctx.json(findings);
      else {
        for (const f of findings) ctx.out(`${f.file}:${f.line}: ${f.rule}: ${f.message}`);
        ctx.out(findings.length ? `${findings.length} finding${findings.length === 1 ? '' : 's'} in ${paths.length} file${paths.length === 1 ? '' : 's'}` : `ok: ${paths.length} file${paths.length === 1 ? '' : 's'}, no findings`);
      }
      if (findings.length) throw new ExitCode(1);
    });
}
