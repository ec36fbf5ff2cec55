// `espfleet ota …`: over-the-air updates for the fleet — the firmware server, and rollouts:
// planned, started and driven over MQTT, paused, resumed, aborted, rolled back, watched
// (docs/fleet.md "OTA rollouts"; the messages are docs/ota-protocol.md's) — and the
// rotation of the firmware signing key the boards trust (rotate-signing-key.ts).
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerControl } from './rollout-control.ts';
import { register as registerPlan } from './rollout-plan.ts';
import { register as registerResume } from './rollout-resume.ts';
import { register as registerRollback } from './rollout-rollback.ts';
import { register as registerStart } from './rollout-start.ts';
import { register as registerStatus } from './rollout-status.ts';
import { register as registerRotateSigningKey } from './rotate-signing-key.ts';
import { register as registerServe } from './serve.ts';

export function registerOta(program: Command, ctx: CliContext): void {
  const ota = program.command('ota');
  for (const register of [registerServe, registerRotateSigningKey]) register(ota, ctx);
  const rollout = ota.command('rollout').description('roll signed firmware out to the fleet in waves over MQTT: plan, start, pause, resume, abort, roll back, watch');
  for (const register of [registerPlan, registerStart, registerStatus, registerControl, registerResume, registerRollback]) register(rollout, ctx);
}
