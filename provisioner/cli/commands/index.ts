// Every command group of the CLI, in the order `espfleet --help` lists them.
// Each group file registers its subcommands; each subcommand lives in its own file.
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { registerBroker } from './broker/index.ts';
import { registerCa } from './ca/index.ts';
import { registerFs } from './fs/index.ts';
import { registerFw } from './fw/index.ts';
import { registerKeystore } from './keystore/index.ts';
import { registerPorts } from './ports/index.ts';

export type RegisterGroup = (program: Command, ctx: CliContext) => void;

export const commandGroups: readonly RegisterGroup[] = [
  registerFw,
  registerFs,
  registerCa,
  registerKeystore,
  registerBroker,
  registerPorts,
];
