// `espfleet fw …`: firmware images, bundles, signatures and flash encryption, offline.
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerEncrypt } from './encrypt.ts';

export function registerFw(program: Command, ctx: CliContext): void {
  const fw = program
    .command('fw')
    .description('inspect, sign, verify and encrypt firmware files offline (no board needed)');
  registerEncrypt(fw, ctx);
}
