// `espfleet efuse burn FIELD VALUE …`: burn BLK0 fields with the §3.3 sequence (spec
// esp32-rom-efuse-crypto.md). Irreversible, so it takes two runs: a dry run prints exactly
// what it would burn and, with --plan-out, writes that as a plan file (the board's MAC, its
// eFuse state, the words of every PGM); `--plan FILE --confirm` burns that plan and
// nothing else, on that board in that state. Fields `encrypt-flash` owns are refused
// without --allow-encryption-fuses, and even with it encryption is never turned on (nor
// BLK1 hidden) over a key that is not escrowed (escrow-guard.ts).
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { Keystore } from '../../../../certs/index.ts';
import { readInputFile, writeFileAtomic } from '../../../io/files.ts';
import { burnEfuses, checkBurn, describeBurn, expectCurrent, findField, readEfuses, withBoard, type BurnResult, type CheckedBurn } from '../../../session/index.ts';
import { efuseError } from '../../../session/efuse-errors.ts';
import { enablesEncryption, encryptionOwnedChanges, hidesFlashKey } from '../../../session/efuse-guard.ts';
import { checkPlanSteps, makePlanFile, parsePlanFile, planForBoard, type EfusePlanFile } from '../../../session/efuse-plan-file.ts';
import { numberArg, UsageError } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { addEscrowKeystoreOptions, openEscrowKeystore, type EscrowKeystoreOptions } from '../encrypt-flash/escrow-keystore.ts';
import { addBoardOptions, sessionOptions, type BoardCliOptions } from '../flash/board-options.ts';
import { checkKeyEscrowed, type EscrowProof } from './escrow-guard.ts';

export const ALLOW_ENCRYPTION_FUSES = '--allow-encryption-fuses';

interface Options extends BoardCliOptions, EscrowKeystoreOptions {
  confirm?: boolean;
  plan?: string;
  planOut?: string;
  allowEncryptionFuses?: boolean;
  json?: boolean;
}

export function parseFieldValues(args: readonly string[]): Record<string, number> {
  if (args.length === 0 || args.length % 2 !== 0) {
    throw new UsageError('cli.efuse.bad_args', `expected FIELD VALUE pairs, got ${args.length} argument(s): ${args.join(' ')}`, {
      hint: 'e.g. espfleet efuse burn -p PORT UART_DOWNLOAD_DIS 1 --plan-out plan.json',
    });
  }
  const fields: Record<string, number> = {};
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i] as string;
    const f = findField(name);
    if (!f) {
      throw new UsageError('efuse.unknown_field', `there is no BLK0 eFuse field ${JSON.stringify(name)}`, { hint: 'run `espfleet efuse summary` for the field names' });
    }
    let value: number;
    try {
      value = numberArg(args[i + 1] as string);
    } catch (e) {
      if (e instanceof InvalidArgumentError) throw new UsageError('efuse.bad_value', `value for ${f.name}: ${e.message}`);
      throw e;
    }
    fields[f.name] = value;
  }
  return fields;
}

export function register(efuse: Command, ctx: CliContext): void {
  const cmd = addBoardOptions(efuse.command('burn'))
    .argument('[field-values...]', 'FIELD VALUE pairs, e.g. UART_DOWNLOAD_DIS 1 (none with --plan)')
    .description('burn BLK0 eFuse fields (irreversible): a dry run writes a plan, --plan FILE --confirm burns it')
    .option('--plan-out <file>', 'dry run: write what would be burned (MAC, eFuse state, words) to this JSON plan file')
    .option('--plan <file>', 'the plan file to burn (made by a dry run with --plan-out on this board)')
    .option('--confirm', 'with --plan: really burn it; eFuse bits can never be cleared again')
    .option(
      `${ALLOW_ENCRYPTION_FUSES}`,
      'also allow fields encrypt-flash owns (FLASH_CRYPT_*, CODING_SCHEME, ABS_DONE_*, DISABLE_DL_*, JTAG/console disables, BLK1/BLK2 protection); needed when planning and when burning',
    );
  addEscrowKeystoreOptions(cmd, false)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
A value is what the field must read afterwards; bits already set must stay in it.
Fields are burned as espefuse does: BLK0 fields first, then WR_DIS, RD_DIS,
FLASH_CRYPT_CNT, UART_DOWNLOAD_DIS and ABS_DONE_1 in a last pass. A write- or
read-protected field is refused; every requested bit is read back and verified.

Burning takes two runs. The dry run prints the burn and, with --plan-out, saves it
with the board's MAC and its eFuse state. --plan FILE --confirm burns exactly that
plan; it is refused on another board, when the board's eFuses changed since the
plan was made, or when the file's words are not what its request yields. --confirm
without --plan is refused: review the plan, then burn the plan.

Flash encryption belongs to \`espfleet encrypt-flash\`, which escrows the key before
it burns anything. Fields it owns (FLASH_CRYPT_CNT, FLASH_CRYPT_CONFIG, CODING_SCHEME,
ABS_DONE_0/1, DISABLE_DL_ENCRYPT/DECRYPT/CACHE, JTAG_DISABLE, CONSOLE_DEBUG_DISABLE,
the RD_DIS/WR_DIS bits of BLK1, BLK2 and of those fields) are refused here unless
${ALLOW_ENCRYPTION_FUSES} is given, both when planning and when burning. Even then a
burn that leaves FLASH_CRYPT_CNT odd, or read-protects BLK1, needs --keystore with the
key escrowed for this board's MAC, and BLK1 must hold exactly that key (a hidden BLK1:
the bootloader at 0x1000 must decrypt with it). See docs/flash-encryption.md.

Examples:
  espfleet efuse burn --port /dev/ttyUSB0 UART_DOWNLOAD_DIS 1 --plan-out uart-off.json   (dry run)
  espfleet efuse burn --port /dev/ttyUSB0 --plan uart-off.json --confirm`,
    )
    .action(async (args: string[], opts: Options) => {
      if (opts.confirm && !opts.plan) {
        throw new UsageError('efuse.needs_plan', '--confirm burns a reviewed plan file, and no --plan was given; nothing was burned', {
          hint: 'make the plan with a dry run (espfleet efuse burn -p PORT FIELD VALUE … --plan-out plan.json), read it, then: espfleet efuse burn -p PORT --plan plan.json --confirm',
        });
      }
      if (opts.plan && args.length > 0) {
        throw new UsageError('cli.efuse.bad_args', `--plan burns the fields recorded in ${opts.plan}; FIELD VALUE pairs (${args.join(' ')}) are not taken with it`, {
          hint: 'to burn something else, make a new plan with a dry run and --plan-out',
        });
      }
      if (opts.plan && opts.planOut) throw new UsageError('cli.efuse.bad_args', '--plan-out writes a new plan in a dry run; it is not taken with --plan');
      const planPath = opts.plan ? resolve(ctx.cwd, opts.plan) : undefined;
      const planFile = planPath ? parsePlanFile(Buffer.from(readInputFile(planPath, 'eFuse plan')).toString('utf8'), opts.plan as string) : undefined;
      const fields = planFile ? planFile.request : parseFieldValues(args);
      // Opened before the board is touched: a wrong passphrase changes nothing.
      const keystore: Keystore | undefined = opts.keystore ? await openEscrowKeystore(ctx, opts.keystore, opts) : undefined;

      const done = await withBoard(opts.port, sessionOptions(ctx, opts), async (session) => {
        try {
          const facts = await session.chipFacts();
          const snap = await readEfuses(session);
          const plan = planFile ? planForBoard(planFile, facts.mac, snap, opts.plan as string) : expectCurrent(snap, { fields });
          const checked = checkBurn(snap, plan);
          if (planFile) checkPlanSteps(planFile, checked, opts.plan as string);
          refuseOwned(checked, facts.mac, opts.allowEncryptionFuses === true);
          let escrow: EscrowProof | null = null;
          if (enablesEncryption(checked.fields) || hidesFlashKey(checked.fields)) escrow = await checkKeyEscrowed(session, snap, facts.mac, checked.fields, keystore);
          const apbMhz = session.stubRunning ? 80 : facts.crystalMHz;
          const result = await burnEfuses(session, plan, { apbMhz, confirm: opts.confirm === true });
          const written = !result.dryRun || !opts.planOut ? undefined : writePlan(ctx, opts.planOut, makePlanFile({ mac: facts.mac, chip: facts.package }, snap, fields, checked, {
            createdAt: new Date(),
            encryptionFuses: encryptionOwnedChanges(checked.fields).length > 0,
            escrow,
          }));
          return { mac: facts.mac, result, escrow, written };
        } finally {
          await session.hardReset().catch(() => {});
        }
      });
      const { mac, result, escrow, written } = done;
      if (opts.json) return ctx.json({ ...jsonOf(opts.port, mac, result), escrow, planOut: written ?? null, plan: planPath ?? null });
      for (const line of describeBurn(result)) ctx.out(line);
      if (escrow) ctx.out(`key escrowed for ${escrow.deviceId} in ${escrow.keystore}: ${escrow.proof}`);
      if (result.steps.length === 0) return;
      if (!result.dryRun) {
        ctx.out(`burned ${result.fields.length} field(s) on ${mac} in ${result.programs} program operation(s); every bit read back`);
      } else if (written) {
        ctx.out(`dry run on ${mac}: nothing was burned; plan written to ${written}`);
        ctx.out(`review it, then burn it (irreversible): espfleet efuse burn --port ${opts.port} --plan ${opts.planOut} --confirm`);
      } else {
        ctx.out(`dry run on ${mac}: nothing was burned; to burn, save this plan with --plan-out FILE, then run --plan FILE --confirm (irreversible)`);
      }
    });
}

function refuseOwned(checked: CheckedBurn, mac: string, allowed: boolean): void {
  const owned = encryptionOwnedChanges(checked.fields);
  if (owned.length === 0 || allowed) return;
  const list = owned.map((o) => `${o.name} (${o.why})`).join('; ');
  throw efuseError('efuse.encryption_owned', `refusing to burn fields that flash encryption owns on ${mac}: ${list}; nothing was burned`, {
    hint: `use espfleet encrypt-flash, which escrows the key before burning; only if you must burn these by hand, add ${ALLOW_ENCRYPTION_FUSES} (docs/flash-encryption.md)`,
  });
}

function writePlan(ctx: CliContext, path: string, plan: EfusePlanFile): string {
  const abs = resolve(ctx.cwd, path);
  writeFileAtomic(abs, `${JSON.stringify(plan, null, 2)}\n`);
  return path;
}

function jsonOf(port: string, mac: string, r: BurnResult) {
  return { port, mac, dryRun: r.dryRun, programs: r.programs, changes: r.fields, steps: r.steps.map((s) => ({ block: s.block, pass: s.pass, fields: s.what })) };
}
