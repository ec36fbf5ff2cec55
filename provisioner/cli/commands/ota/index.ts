// `espfleet ota …`: over-the-air updates for the fleet — the firmware server now; the
// rollout (planner, registry state) beside it (docs/fleet.md says what is built).
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerServe } from './serve.ts';

export function registerOta(program: Command, ctx: CliContext): void {
  const ota = program.command('ota');
  for (const register of [registerServe]) register(ota, ctx);
}
