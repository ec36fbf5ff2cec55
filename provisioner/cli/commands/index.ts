// Every command group of the CLI, in the order `espfleet --help` lists them:
// board work first (field and factory), then offline firmware, PKI, and the rig.
// Each group file registers its subcommands; each subcommand lives in its own file.
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { registerAgent } from './agent/index.ts';
import { registerAudit } from './audit/index.ts';
import { registerBroker } from './broker/index.ts';
import { registerCa } from './ca/index.ts';
import { registerDevice } from './device/index.ts';
import { registerDevices } from './devices/index.ts';
import { registerEfuse } from './efuse/index.ts';
import { registerEncryptFlash } from './encrypt-flash/index.ts';
import { registerFlash } from './flash/index.ts';
import { registerFs } from './fs/index.ts';
import { registerFw } from './fw/index.ts';
import { registerInfo } from './info/index.ts';
import { registerKeystore } from './keystore/index.ts';
import { registerPorts } from './ports/index.ts';
import { registerProvision } from './provision/index.ts';
import { registerSim } from './sim/index.ts';

export type RegisterGroup = (program: Command, ctx: CliContext) => void;

export const commandGroups: readonly RegisterGroup[] = [
  registerProvision,
  registerDevice,
  registerPorts,
  registerInfo,
  registerFlash,
  registerEncryptFlash,
  registerEfuse,
  registerFw,
  registerFs,
  registerCa,
  registerKeystore,
  registerDevices,
  registerAudit,
  registerBroker,
  registerSim,
  registerAgent,
];
