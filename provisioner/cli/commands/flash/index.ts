// `espfleet flash`: writes a fw.zip bundle (or raw address/file pairs) to a board,
// rewriting only the 4 KiB sectors that differ, and verifies every region by MD5.
import type { Command } from 'commander';
import { EspfleetError } from '../../../../firmware-js/errors.ts';
import { flashWithEscrowedKey } from '../../../encryption/index.ts';
import { withBoard, type BoardSession, type ChipFacts, type RegionResult, type WriteProgress } from '../../../session/index.ts';
import type { CliContext } from '../../context.ts';
import { Interrupted } from '../../exit.ts';
import { addEscrowKeystoreOptions, openEscrowKeystore, type EscrowKeystoreOptions } from '../encrypt-flash/escrow-keystore.ts';
import { addBoardOptions, sessionOptions, type BoardCliOptions } from './board-options.ts';
import { readFlashInput, type FlashInput } from './flash-inputs.ts';
import { flashProgress } from './progress.ts';
import { addr } from '../../format.ts';
import { addProgressOptions, progressFor, type ProgressCliOptions } from '../../progress.ts';

/** Refusals about what may be written to this board (not a session or file problem). */
export class FlashCliError extends EspfleetError {}

interface Options extends BoardCliOptions, EscrowKeystoreOptions, ProgressCliOptions {
  json?: boolean;
  encryptWithEscrow?: boolean;
}

export interface FlashSummary {
  port: string;
  input: string;
  chip: { mac: string; flashEncryption: boolean };
  regions: RegionResult[];
  sectorsWritten: number;
  sectorsSkipped: number;
}

export function registerFlash(program: Command, ctx: CliContext): void {
  const cmd = addBoardOptions(program.command('flash'))
    .argument('<inputs...>', 'a fw.zip bundle, or address/file pairs')
    .option('--encrypt-with-escrow', "for a board with flash encryption on: encrypt the parts flagged 'encrypt' with the board's key from --keystore");
  addProgressOptions(addEscrowKeystoreOptions(cmd, false))
    .option('--json', 'print the result as JSON (progress stays on stderr)')
    .addHelpText(
      'after',
      `
Compares each 4 KiB sector with the board by MD5 first and writes only the runs of
sectors that differ (compressed), then verifies every region by MD5 and resets the
board into its app. Flashing the same firmware twice writes nothing.

A board with flash encryption on (FLASH_CRYPT_CNT odd) only boots encrypted
images; espfleet refuses to write plaintext to it. With --encrypt-with-escrow the
parts flagged 'encrypt' (raw files: all) are encrypted on the host at their
addresses with the key escrowed for the board's MAC, and written raw.

Examples:
  espfleet flash --port /dev/ttyUSB0 fw.zip
  espfleet flash --port rfc2217://127.0.0.1:4000 --baud 921600 0x1000 bootloader.bin 0x10000 app.bin
  espfleet flash --port /dev/ttyUSB0 fw.zip --encrypt-with-escrow --keystore keys.json`,
    )
    .action(async (inputs: string[], opts: Options) => {
      if (opts.encryptWithEscrow) return flashEncrypted(ctx, inputs, opts);
      await flashBoard(ctx, inputs, opts, {
        check: (facts, input) => refusePlaintextOnEncryptedBoard(facts, input, opts.port),
        how: '',
        write: (session, input, onProgress) => session.writeRegions(input.regions, { onProgress }),
      });
    });
}

interface FlashStrategy {
  /** Refuses before anything is written, e.g. plaintext to an encrypted board. */
  check?: (facts: ChipFacts, input: FlashInput) => void;
  /** Words for the progress note: '' or ' encrypted with the escrowed key'. */
  how: string;
  write: (session: BoardSession, input: FlashInput, onProgress: (p: WriteProgress) => void) => Promise<RegionResult[]>;
}

/** One board, one input: identify, check, write with progress, reset into the app, summarise. */
async function flashBoard(ctx: CliContext, inputs: string[], opts: Options, strategy: FlashStrategy): Promise<void> {
  const release = ctx.interrupt?.hold();
  const stopped = () => ctx.interrupt?.signal.aborted === true;
  let summary: FlashSummary;
  try {
    summary = await withBoard(opts.port, sessionOptions(ctx, opts), async (session) => {
      try {
        if (stopped()) throw interruptedFlash(opts.port, undefined);
        const facts = await session.chipFacts();
        const input = readFlashInput(inputs, facts.flash.sizeBytes);
        strategy.check?.(facts, input);
        if (stopped()) throw interruptedFlash(opts.port, undefined);
        const reporter = progressFor(ctx, opts);
        reporter.note(`flashing ${input.title}${strategy.how} to ${facts.package} ${facts.mac} on ${opts.port}`);
        const names = input.regions.map((r) => r.name ?? '');
        const progress = flashProgress(reporter, names);
        const finished: string[] = [];
        // Ctrl-C is honoured between two commands to the stub (each progress report), never
        // inside one, so the loader is never left mid-command.
        const onProgress = (p: WriteProgress) => {
          progress.onProgress(p);
          const name = names[p.region] || `region ${p.region + 1}`;
          const last = p.phase === 'verify' && p.done === p.total;
          if (last) finished.push(`${name} at ${addr(p.address)}`);
          if (stopped() && !(last && p.region === input.regions.length - 1)) throw interruptedFlash(opts.port, { p, name, finished, regions: input.regions.length });
        };
        let regions: RegionResult[];
        try {
          regions = await strategy.write(session, input, onProgress);
        } finally {
          progress.done();
        }
        await session.hardReset();
        return summarize(opts.port, input, facts, regions);
      } catch (e) {
        // A refusal leaves the board as it was: running its app, not sitting in the loader.
        await session.hardReset().catch(() => {});
        throw e;
      }
    });
  } catch (e) {
    // Ctrl-C while connecting: the connection attempt itself is not cut short, and whatever
    // it ended in (no answer, a busy port) is not the story any more.
    if (stopped() && !(e instanceof Interrupted)) throw interruptedFlash(opts.port, undefined, e);
    throw e;
  } finally {
    release?.();
  }
  if (opts.json) return ctx.json(summary);
  ctx.out(summaryLine(summary));
}

/** What Ctrl-C cut short, the state it left the board in (already reset), and what a re-run does. */
function interruptedFlash(port: string, at: { p: WriteProgress; name: string; finished: string[]; regions: number } | undefined, cause?: unknown): Interrupted {
  const rerun = 'run the same command again: it compares every sector, writes only those that differ and verifies every region by MD5';
  if (!at) {
    return new Interrupted('cli.interrupted', `flash on ${port} stopped while connecting, before anything was written; the board is unchanged`, { hint: rerun, cause });
  }
  const { p, name, finished } = at;
  const where = `${name} at ${addr(p.address)}`;
  if (p.phase === 'verify' && p.done === p.total) {
    const rest = at.regions - finished.length;
    return new Interrupted('cli.interrupted', `flash on ${port} stopped after ${where}: ${finished.join(', ')} written and verified; ${rest} more region(s) not started; the board was reset`, { hint: rerun });
  }
  const done = finished.length > 0 ? `${finished.join(', ')} written and verified; ` : '';
  const state =
    p.phase === 'compare'
      ? `${done}nothing of ${name} written yet`
      : p.phase === 'write'
        ? `${done}${name} partly written (${p.done} of ${p.total} bytes), so the board may not boot until it is flashed again`
        : `${done}${name} written but not verified`;
  const rest = at.regions - finished.length - 1;
  return new Interrupted(
    'cli.interrupted',
    `flash on ${port} stopped while ${p.phase === 'compare' ? 'comparing' : p.phase === 'write' ? 'writing' : 'verifying'} ${where}: ${state}${rest > 0 ? `; ${rest} more region(s) not started` : ''}; the board was reset`,
    { hint: rerun },
  );
}

function refusePlaintextOnEncryptedBoard(facts: ChipFacts, input: FlashInput, port: string): void {
  if (!facts.efuse.encryptionEnabled) return;
  // Raw files carry no "encrypt" flag, so they are treated like encrypted parts: unknown is unsafe.
  const parts = input.regions.filter((r) => r.encrypt !== false).map((r) => r.name ?? addr(r.address));
  if (parts.length === 0) return;
  throw new FlashCliError(
    'cli.flash.encrypted_board',
    `the board on ${port} has flash encryption on (FLASH_CRYPT_CNT 0b${facts.efuse.flashCryptCnt.toString(2).padStart(7, '0')}); writing ${parts.join(', ')} as plaintext would leave it unbootable`,
    { hint: 'flash it with --encrypt-with-escrow --keystore <path> (the keystore holding its key); nothing was written' },
  );
}

/** `--encrypt-with-escrow`: the keystore is opened first, so a wrong passphrase touches no board. */
async function flashEncrypted(ctx: CliContext, inputs: string[], opts: Options): Promise<void> {
  if (!opts.keystore) {
    throw new FlashCliError('cli.flash.needs_keystore', '--encrypt-with-escrow needs --keystore <path>: the board\'s flash-encryption key is looked up there by MAC', {
      hint: 'espfleet flash --port PORT fw.zip --encrypt-with-escrow --keystore keys.json',
    });
  }
  const keystore = await openEscrowKeystore(ctx, opts.keystore, opts);
  await flashBoard(ctx, inputs, opts, {
    how: ' encrypted with the escrowed key',
    write: async (session, input, onProgress) => (await flashWithEscrowedKey(session, keystore, input.regions, { onProgress })).regions,
  });
}

function summarize(port: string, input: FlashInput, facts: ChipFacts, regions: RegionResult[]): FlashSummary {
  return {
    port,
    input: input.title,
    chip: { mac: facts.mac, flashEncryption: facts.efuse.encryptionEnabled },
    regions,
    sectorsWritten: regions.reduce((n, r) => n + r.sectorsWritten, 0),
    sectorsSkipped: regions.reduce((n, r) => n + r.sectorsSkipped, 0),
  };
}

export function summaryLine(s: FlashSummary): string {
  const verified = `${s.regions.length} region(s) verified by MD5`;
  if (s.sectorsWritten === 0) return `no sector changed: ${s.sectorsSkipped} sector(s) already matched, ${verified}`;
  return `wrote ${s.sectorsWritten} sector(s), skipped ${s.sectorsSkipped} unchanged, ${verified}`;
}
