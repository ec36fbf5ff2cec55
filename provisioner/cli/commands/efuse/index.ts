// `espfleet efuse …`: read every ESP32 eFuse, and burn BLK0 fields (dry run unless --confirm).
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerBurn } from './burn.ts';
import { register as registerSummary } from './summary.ts';

export function registerEfuse(program: Command, ctx: CliContext): void {
  const efuse = program.command('efuse').description('read and burn ESP32 eFuses (burning is irreversible and needs --confirm)');
  for (const register of [registerSummary, registerBurn]) register(efuse, ctx);
}
