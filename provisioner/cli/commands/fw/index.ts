// `espfleet fw …`: firmware images, bundles, signatures and flash encryption, offline.
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerDemoBundle } from './demo-bundle.ts';
import { register as registerEncrypt } from './encrypt.ts';
import { register as registerInspect } from './inspect.ts';
import { register as registerKeygen } from './keygen.ts';
import { register as registerSign } from './sign.ts';
import { register as registerVerify } from './verify.ts';

export function registerFw(program: Command, ctx: CliContext): void {
  const fw = program
    .command('fw');
  for (const register of [registerInspect, registerKeygen, registerSign, registerVerify, registerEncrypt, registerDemoBundle]) register(fw, ctx);
}
