// `espfleet devices …`: what the registry knows about provisioned boards.
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerExpiring } from './expiring.ts';
import { register as registerList } from './list.ts';
import { register as registerShow } from './show.ts';

export function registerDevices(program: Command, ctx: CliContext): void {
  const devices = program.command('devices');
  for (const register of [registerList, registerShow, registerExpiring]) register(devices, ctx);
}
