// `espfleet device …`: the field technician's commands for a board running Mongoose OS,
// over its RPC UART (spec mongoose-os.md §3) — mos call/config-get/config-set/ls/get/put/rm.
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerCall } from './call.ts';
import { register as registerConfigGet } from './config-get.ts';
import { register as registerConfigSet } from './config-set.ts';
import { register as registerConsole } from './console.ts';
import { register as registerFsGet } from './fs-get.ts';
import { register as registerFsLs } from './fs-ls.ts';
import { register as registerFsPut } from './fs-put.ts';
import { register as registerFsRm } from './fs-rm.ts';
import { register as registerInfo } from './info.ts';
import { register as registerReboot } from './reboot.ts';
import { register as registerRotateCert } from './rotate-cert.ts';

export function registerDevice(program: Command, ctx: CliContext): void {
  const device = program.command('device');
  registerInfo(device, ctx);
  registerCall(device, ctx);
  const config = device.command('config').description("read and change the board's config");
  registerConfigGet(config, ctx);
  registerConfigSet(config, ctx);
  const fs = device.command('fs').description("the files on the board's root filesystem");
  registerFsLs(fs, ctx);
  registerFsGet(fs, ctx);
  registerFsPut(fs, ctx);
  registerFsRm(fs, ctx);
  registerReboot(device, ctx);
  registerRotateCert(device, ctx);
  registerConsole(device, ctx);
}
