// `espfleet audit …`: the append-only, hash-chained audit log (DESIGN.md invariant 6).
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerVerify } from './verify.ts';

export function registerAudit(program: Command, ctx: CliContext): void {
  const audit = program.command('audit');
  for (const register of [registerVerify]) register(audit, ctx);
}
