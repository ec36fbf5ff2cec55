// `espfleet ota …`: over-the-air updates for the fleet — the firmware server now; the
// rollout (planner, registry state) beside it (docs/fleet.md says what is built).
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerPlan } from './rollout-plan.ts';
import { register as registerStatus } from './rollout-status.ts';
import { register as registerServe } from './serve.ts';

export function registerOta(program: Command, ctx: CliContext): void {
  const ota = program.command('ota');
  for (const register of [registerServe]) register(ota, ctx);
  // `ota rollout start/pause/resume/abort/rollback` need the board-side updater (issue 15); not built yet.
  const rollout = ota.command('rollout').description('plan OTA rollouts and show their state (start/resume are not built yet: docs/fleet.md)');
  for (const register of [registerPlan, registerStatus]) register(rollout, ctx);
}
