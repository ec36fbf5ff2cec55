// `espfleet backup …`: one encrypted archive of a station, checked and restored (docs/factory.md,
// "Backups and escrow copies").
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerCreate } from './create.ts';
import { register as registerVerify } from './verify.ts';
import { register as registerRestore } from './restore.ts';

export function registerBackup(program: Command, ctx: CliContext): void {
  const backup = program.command('backup');
  for (const register of [registerCreate, registerVerify, registerRestore]) register(backup, ctx);
}
