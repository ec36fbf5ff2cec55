// `espfleet agent …`: the mJS agent off-board — checked for what a board's mJS refuses
// or runs differently, and run in the engine double (shared/spec/mjs-engine.md).
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerCheck } from './check.ts';
import { register as registerRun } from './run.ts';

export function registerAgent(program: Command, ctx: CliContext): void {
  const agent = program.command('agent');
  registerCheck(agent, ctx);
  registerRun(agent, ctx);
}
