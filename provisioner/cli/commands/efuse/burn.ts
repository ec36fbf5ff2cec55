// `espfleet efuse burn FIELD VALUE …`: burn BLK0 fields with the §3.3 sequence (spec
// esp32-rom-efuse-crypto.md). Irreversible, so without --confirm it only prints exactly
// what it would burn. The plan expects the values read at the start of this command.
import { InvalidArgumentError, type Command } from 'commander';
import { burnEfuses, describeBurn, expectCurrent, findField, readEfuses, withBoard, type BurnResult } from '../../../session/index.ts';
import { numberArg, UsageError } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { addBoardOptions, sessionOptions, type BoardCliOptions } from '../flash/board-options.ts';

interface Options extends BoardCliOptions {
  confirm?: boolean;
  json?: boolean;
}

export function parseFieldValues(args: readonly string[]): Record<string, number> {
  if (args.length === 0 || args.length % 2 !== 0) {
    throw new UsageError('cli.efuse.bad_args', `expected FIELD VALUE pairs, got ${args.length} argument(s): ${args.join(' ')}`, {
      hint: 'e.g. espfleet efuse burn -p PORT JTAG_DISABLE 1 FLASH_CRYPT_CONFIG 0xf',
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
  addBoardOptions(efuse.command('burn'))
    .argument('<field-values...>', 'FIELD VALUE pairs, e.g. JTAG_DISABLE 1')
    .description('burn BLK0 eFuse fields (irreversible; prints what it would do unless --confirm)')
    .option('--confirm', 'really burn: eFuse bits can never be cleared again')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
A value is what the field must read afterwards; bits already set must stay in it.
Fields are burned as espefuse does: BLK0 fields first, then WR_DIS, RD_DIS,
FLASH_CRYPT_CNT, UART_DOWNLOAD_DIS and ABS_DONE_1 in a last pass. A write- or
read-protected field is refused; every requested bit is read back and verified.

Examples:
  espfleet efuse burn --port /dev/ttyUSB0 JTAG_DISABLE 1              (dry run)
  espfleet efuse burn --port /dev/ttyUSB0 JTAG_DISABLE 1 --confirm`,
    )
    .action(async (args: string[], opts: Options) => {
      const fields = parseFieldValues(args);
      const { mac, result } = await withBoard(opts.port, sessionOptions(ctx, opts), async (session) => {
        try {
          const facts = await session.chipFacts();
          const plan = expectCurrent(await readEfuses(session), { fields });
          const apbMhz = session.stubRunning ? 80 : facts.crystalMHz;
          return { mac: facts.mac, result: await burnEfuses(session, plan, { apbMhz, confirm: opts.confirm === true }) };
        } finally {
          await session.hardReset().catch(() => {});
        }
      });
      if (opts.json) return ctx.json(jsonOf(opts.port, mac, result));
      for (const line of describeBurn(result)) ctx.out(line);
      if (result.steps.length === 0) return;
      if (result.dryRun) ctx.out(`dry run on ${mac}: nothing was burned; add --confirm to burn (irreversible)`);
      else ctx.out(`burned ${result.fields.length} field(s) on ${mac} in ${result.programs} program operation(s); every bit read back`);
    });
}

function jsonOf(port: string, mac: string, r: BurnResult) {
  return { port, mac, dryRun: r.dryRun, programs: r.programs, changes: r.fields, steps: r.steps.map((s) => ({ block: s.block, pass: s.pass, fields: s.what })) };
}
