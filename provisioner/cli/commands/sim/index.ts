// `espfleet sim`: the virtual ESP32 served over RFC 2217, and `sim fleet`, a headless fleet of
// virtual boards provisioned by a station and run in one process.
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { registerFleet } from './fleet.ts';
import { register as registerServe } from './serve.ts';

export function registerSim(program: Command, ctx: CliContext): void {
  registerFleet(registerServe(program, ctx), ctx);
}
