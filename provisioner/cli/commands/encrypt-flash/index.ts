// `espfleet encrypt-flash`: turn on ESP32 flash encryption with a fresh key that is
// escrowed in the keystore before any eFuse is burned (DESIGN.md invariant 2), optionally
// writing a bundle pre-encrypted with it (spec esp32-rom-efuse-crypto.md §5.4). The
// workflow and its recovery order live in provisioner/encryption/enable.ts.
import { randomBytes } from 'node:crypto';
import { Option, type Command } from 'commander';
import { ENCRYPTION_MODES, enableFlashEncryption, type EncryptionMode, type EnableResult, type PlannedRegion } from '../../../encryption/index.ts';
import { withBoard } from '../../../session/index.ts';
import type { CliContext } from '../../context.ts';
import { addBoardOptions, sessionOptions, type BoardCliOptions } from '../flash/board-options.ts';
import { readFlashInput } from '../flash/flash-inputs.ts';
import { flashProgress } from '../flash/progress.ts';
import { addProgressOptions, progressFor, type ProgressCliOptions } from '../../progress.ts';
import { addEscrowKeystoreOptions, openEscrowKeystore, type EscrowKeystoreOptions } from './escrow-keystore.ts';

interface Options extends BoardCliOptions, EscrowKeystoreOptions, ProgressCliOptions {
  keystore: string;
  mode: EncryptionMode;
  bundle?: string;
  deviceId?: string;
  confirm?: boolean;
  json?: boolean;
}

export function registerEncryptFlash(program: Command, ctx: CliContext): void {
  const cmd = addBoardOptions(program.command('encrypt-flash'))
    .addOption(new Option('--mode <mode>', 'development (reflashable, debuggable) or release (download-mode crypto off, counter locked)').choices([...ENCRYPTION_MODES]).makeOptionMandatory());
  addProgressOptions(addEscrowKeystoreOptions(cmd, true))
    .option('--bundle <fw.zip>', 'write this firmware bundle pre-encrypted before the counter is burned')
    .option('--device-id <id>', 'device id of the escrow record (default esp32_<last 6 hex of the MAC>, as the station names the board)')
    .option('--confirm', 'really burn eFuses: they can never be cleared again')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Order: escrow the key (durable write) → burn the key into BLK1, FLASH_CRYPT_CONFIG=0xF
(and the release-mode fuses) → read-/write-protect the key → write the bundle encrypted
→ burn FLASH_CRYPT_CNT. Interrupted at any point, run the same command again: it finds
the escrowed key and finishes; a finished board is not burned again.
development: FLASH_CRYPT_CNT gets one bit. release: also DISABLE_DL_ENCRYPT/DECRYPT/CACHE,
JTAG_DISABLE, CONSOLE_DEBUG_DISABLE, WR_DIS of DIS_CACHE, FLASH_CRYPT_CNT=0x7F.
Without --bundle the board will not boot until flashed with
\`espfleet flash --encrypt-with-escrow\`; a board that holds plaintext firmware is
refused without --bundle (it would no longer boot).

Examples:
  espfleet encrypt-flash --port /dev/ttyUSB0 --mode development --keystore keys.json --bundle fw.zip
  espfleet encrypt-flash --port /dev/ttyUSB0 --mode release --keystore keys.json --bundle fw.zip --confirm`,
    )
    .action(async (opts: Options) => {
      const keystore = await openEscrowKeystore(ctx, opts.keystore, opts);
      const bundleArgs = opts.bundle ? [opts.bundle] : undefined;
      // Read and plan the bundle before connecting, so a bad file changes nothing.
      if (bundleArgs) readFlashInput(bundleArgs, null);
      const result = await withBoard(opts.port, sessionOptions(ctx, opts), async (session) => {
        try {
          const facts = await session.chipFacts();
          const regions: PlannedRegion[] | undefined = bundleArgs ? readFlashInput(bundleArgs, facts.flash.sizeBytes).regions : undefined;
          const reporter = progressFor(ctx, opts);
          const progress = flashProgress(reporter, regions?.map((r) => r.name ?? '') ?? []);
          try {
            return await enableFlashEncryption(session, {
              mode: opts.mode,
              keystore,
              confirm: opts.confirm === true,
              randomKey: (n) => new Uint8Array(randomBytes(n)),
              ...(regions ? { regions } : {}),
              ...(opts.deviceId ? { deviceId: opts.deviceId } : {}),
              onStep: (line: string) => reporter.note(line),
              onWriteProgress: progress.onProgress,
            });
          } finally {
            progress.done();
          }
        } finally {
          // Back into the app (or the boot failure a board without firmware shows).
          await session.hardReset().catch(() => {});
        }
      });
      if (opts.json) return ctx.json(result);
      for (const line of render(result, opts.port)) ctx.out(line);
    });
}

export function render(r: EnableResult, port: string): string[] {
  if (r.dryRun) {
    return [`dry run for ${r.deviceId} (${r.mac}) on ${port}, ${r.mode} mode:`, ...r.actions.map((a) => `  ${a}`), 'nothing was escrowed, burned or written; add --confirm to do it (irreversible)'];
  }
  const written = r.regions.reduce((n, x) => n + x.sectorsWritten, 0);
  const flash = r.regions.length > 0 ? `, ${r.regions.length} region(s) verified (${written} sector(s) written)` : ', no bundle written: flash it with `espfleet flash --encrypt-with-escrow`';
  if (r.alreadyDone) return [`${r.deviceId} (${r.mac}) already has flash encryption on in ${r.final.releaseMode ? 'release' : 'development'} mode with the escrowed key: nothing burned${flash}`];
  return [
    `flash encryption on for ${r.deviceId} (${r.mac}) in ${r.mode} mode: FLASH_CRYPT_CNT 0x${r.final.flashCryptCnt.toString(16)}, key ${r.key === 'new' ? 'generated and escrowed' : 'from the keystore'}, read- and write-protected; ${r.programs} eFuse program operation(s)${flash}`,
  ];
}
