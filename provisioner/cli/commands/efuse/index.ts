// `espfleet efuse …`: read every ESP32 eFuse, and burn BLK0 fields from a reviewed plan file.
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerBurn } from './burn.ts';
import { register as registerSummary } from './summary.ts';

export function registerEfuse(program: Command, ctx: CliContext): void {
  const efuse = program.command('efuse');
  for (const register of [registerSummary, registerBurn]) register(efuse, ctx);
}
