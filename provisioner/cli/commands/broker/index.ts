// `espfleet broker …`: the MQTT broker's security profile, made from the fleet CA, and
// cutting one board's open session.
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerConfig } from './config.ts';
import { register as registerKick } from './kick.ts';

export function registerBroker(program: Command, ctx: CliContext): void {
  const broker = program.command('broker');
  registerConfig(broker, ctx);
  registerKick(broker, ctx);
}
