// `espfleet fw demo-bundle`: a valid Mongoose OS ESP32 bundle from generated parts,
// for demos, tests and benchmarks (real Mongoose OS builds cannot be made here).
import { InvalidArgumentError, type Command } from 'commander';
import { AGENT_FS_DIR, agentFsFiles, isPerDeviceFile } from '../../../../agent/agent-files.ts';
import { makeDemoFirmware } from '../../../../firmware-js/testgen/demo-firmware.ts';
import { readDirectoryTree, writeFileDurable } from '../../../io/files.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';

interface Options {
  out: string;
  version: string;
  appSize?: number;
  fsDir?: string;
  json?: boolean;
}

const APP_SLOT_SIZE = 0x180000;

export function register(fw: Command, ctx: CliContext): void {
  fw.command('demo-bundle')
    .description('generate a valid, unsigned Mongoose OS ESP32 fw.zip for demos and tests')
    .requiredOption('--out <fw.zip>', 'bundle file to write')
    .option('--version <v>', 'firmware version (manifest and the app image descriptor), e.g. 1.2.3', versionArg, '1.0.0')
    .option('--app-size <bytes>', 'approximate app image size, up to the 1.5 MiB app slot', intArg(4096, APP_SLOT_SIZE))
    .option('--fs-dir <dir>', "files for the root filesystem (default: the espfleet agent's agent/fs/)")
    .option('--json', 'print the manifest as JSON')
    .addHelpText(
      'after',
      `
The bundle has the ESP32 parts a Mongoose OS build ships — boot, pt, otadata,
nvs (fill), app and a LittleFS fs image — at the default layout's addresses.
esptool image-info accepts its images. Sign it with \`espfleet fw sign\`.
The fs holds the espfleet agent (agent/fs/) unless --fs-dir names other files;
per-device files (conf1..9.json, *.pem, *.crt, *.key) are left out: the station
writes those to each board.

Example:
  espfleet fw demo-bundle --out demo.zip --version 1.2.0 --app-size 1500000`,
    )
    .action((opts: Options) => {
      const fsDir = opts.fsDir ?? AGENT_FS_DIR;
      const all: Record<string, Uint8Array> = opts.fsDir === undefined ? agentFsFiles() : Object.fromEntries(readDirectoryTree(opts.fsDir).files.map((f) => [f.path, f.data]));
      const skipped = Object.keys(all).filter(isPerDeviceFile).sort();
      const fsFiles = Object.fromEntries(Object.entries(all).filter(([path]) => !isPerDeviceFile(path)));
      const demo = makeDemoFirmware({
        version: opts.version,
        ...(opts.appSize === undefined ? {} : { appSize: opts.appSize }),
        fsFiles,
      });
      writeFileDurable(opts.out, demo.bundle);
      if (opts.json) return ctx.json(demo.manifest);
      ctx.out(`wrote ${opts.out}: ${demo.manifest.name} ${demo.manifest.version}, ${demo.bundle.length} bytes`);
      ctx.out(`fs: ${fsDir} (${Object.keys(fsFiles).sort().join(', ')})`);
      if (skipped.length) ctx.out(`left out (per-device files): ${skipped.join(', ')}`);
    });
}

/**
 * A Mongoose OS firmware version (spec mongoose-os.md §1.2: mos.yml's `version:` such as
 * 1.2.3, or the build system's YYYYMMDDhhmm stamp). It names the bundle's `<name>-<version>/`
 * folder and fills the app descriptor's 32-byte version field, so: 1..31 characters of
 * letters, digits, `.`, `-`, `_`, `+`, starting with a letter or digit.
 */
export function versionArg(text: string): string {
  if (/^[0-9A-Za-z][0-9A-Za-z._+-]{0,30}$/.test(text)) return text;
  throw new InvalidArgumentError(
    `expected a firmware version such as 1.2.3 or 202611261829 (up to 31 letters, digits, '.', '-', '_', '+'), got ${JSON.stringify(text)}`,
  );
}
