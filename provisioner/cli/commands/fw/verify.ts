// `espfleet fw verify`: check a bundle's signatures the way a device with
// update.key0..7 and update.sig_req_mask would (spec mongoose-os.md §1.5).
import { InvalidArgumentError, type Command } from 'commander';
import { readBundle, verifyBundle } from '../../../../firmware-js/bundle/index.ts';
import { readInputFile } from '../../../io/files.ts';
import { UsageError, collect, intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { ExitCode } from '../../exit.ts';

interface Options {
  pubkey: string[];
  requireMask?: number;
  json?: boolean;
}

export function register(fw: Command, ctx: CliContext): void {
  fw.command('verify <bundle>')
    .description('verify a bundle and its signatures; exit 0 only when the required ones verify')
    .requiredOption('--pubkey <[slot=]pem>', 'public key for a slot; repeat for more (slots 0,1,… in order unless given)', collect)
    .option('--require-mask <m>', 'device update.sig_req_mask: -1 ignore, 0 refuse all, else bits that must verify (default: every key given)', maskArg)
    .option('--json', 'print the verdict as JSON')
    .addHelpText(
      'after',
      `
The bundle's container rules and part checksums are checked first, as the
device's updater does. A mask of 0 refuses every bundle (the device's
"tombstone"); -1 accepts without looking at signatures.

Examples:
  espfleet fw verify fw.zip --pubkey release.pub.pem
  espfleet fw verify fw.zip --pubkey 0=old.pub.pem --pubkey 1=new.pub.pem --require-mask 2`,
    )
    .action((bundlePath: string, opts: Options) => {
      const keys = slotKeys(opts.pubkey);
      const mask = opts.requireMask ?? keys.reduce((m, k, slot) => (k === undefined ? m : m | (1 << slot)), 0);
      const bundle = readBundle(readInputFile(bundlePath, 'bundle'));
      const verdict = verifyBundle(bundle, keys, mask);
      if (opts.json) ctx.json({ bundle: bundlePath, mask, ...verdict });
      else {
        for (const s of verdict.slots) {
          if (!s.present && keys[s.slot] === undefined) continue;
          ctx.out(`sig${s.slot}: ${s.verified ? 'verified' : s.present ? `NOT verified (${s.reason ?? 'bad signature'})` : 'absent'}`);
        }
        ctx.out(verdict.accepted ? `accepted (mask ${mask})` : `REFUSED: ${verdict.reason}`);
      }
      if (!verdict.accepted) throw new ExitCode(1);
    });
}

/** update.sig_req_mask: -1 (ignore signatures) or 0..255; numberArg reads no minus sign. */
function maskArg(text: string): number {
  if (text.trim() === '-1') return -1;
  try {
    return intArg(0, 255)(text);
  } catch {
    throw new InvalidArgumentError(`expected -1 or a mask from 0 to 0xff, got ${JSON.stringify(text)}`);
  }
}

function slotKeys(specs: readonly string[]): (string | undefined)[] {
  const keys: (string | undefined)[] = [];
  specs.forEach((spec, index) => {
    const m = /^([0-7])=(.+)$/.exec(spec);
    const slot = m ? Number(m[1]) : index;
    if (slot > 7) throw new UsageError('cli.bad_argument', `at most 8 key slots (0..7); --pubkey number ${index + 1} would be slot ${slot}`, { hint: 'give keys as --pubkey <slot>=<file> for slots beyond the 8th key' });
    keys[slot] = new TextDecoder().decode(readInputFile(m ? (m[2] as string) : spec, 'public key'));
  });
  return keys;
}
