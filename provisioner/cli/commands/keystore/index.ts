// `espfleet keystore …`: the encrypted escrow of per-device secrets (flash-encryption keys).
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerInit } from './init.ts';
import { register as registerList } from './list.ts';
import { register as registerRotate } from './rotate.ts';
import { register as registerExport } from './export.ts';
import { register as registerVerify } from './verify.ts';

export function registerKeystore(program: Command, ctx: CliContext): void {
  const keystore = program.command('keystore');
  for (const register of [registerInit, registerList, registerRotate, registerExport, registerVerify]) register(keystore, ctx);
}
