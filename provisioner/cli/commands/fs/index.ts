// `espfleet fs …`: LittleFS filesystem images (the fs_0 partition, spec
// mongoose-os.md §7) built, inspected and changed offline.
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { register as registerBuild } from './build.ts';
import { register as registerCat } from './cat.ts';
import { register as registerLs } from './ls.ts';
import { register as registerPut } from './put.ts';
import { register as registerRm } from './rm.ts';

export function registerFs(program: Command, ctx: CliContext): void {
  const fs = program
    .command('fs');
  registerBuild(fs, ctx);
  registerLs(fs, ctx);
  registerCat(fs, ctx);
  registerPut(fs, ctx);
  registerRm(fs, ctx);
}
