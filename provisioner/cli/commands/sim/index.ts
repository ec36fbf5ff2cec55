// `espfleet sim`: the virtual ESP32 served over RFC 2217 (one command, no subcommands).
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerServe } from './serve.ts';

export function registerSim(program: Command, ctx: CliContext): void {
  registerServe(program, ctx);
}
