// `espfleet ca …`: the fleet CA — create it, issue and sign certificates, revoke, publish CRLs.
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerClientCert } from './client-cert.ts';
import { register as registerCrl } from './crl.ts';
import { register as registerInit } from './init.ts';
import { register as registerIssue } from './issue.ts';
import { register as registerList } from './list.ts';
import { register as registerRenewd } from './renewd.ts';
import { register as registerRevoke } from './revoke.ts';
import { register as registerRollover } from './rollover.ts';
import { register as registerServerCert } from './server-cert.ts';
import { register as registerSignCsr } from './sign-csr.ts';

export function registerCa(program: Command, ctx: CliContext): void {
  const ca = program
    .command('ca');
  for (const register of [registerInit, registerIssue, registerSignCsr, registerServerCert, registerClientCert, registerRevoke, registerCrl, registerList, registerRenewd, registerRollover]) {
    register(ca, ctx);
  }
}
