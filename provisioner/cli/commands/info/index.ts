// `espfleet info`: what the board on a port is — chip, MAC, revision, package,
// crystal, flash, and the eFuse security state (spec esp32-rom-efuse-crypto.md §2, §3.2, §5).
import type { Command } from 'commander';
import { withBoard, type ChipFacts } from '../../../session/index.ts';
import type { CliContext } from '../../context.ts';
import { addBoardOptions, sessionOptions, type BoardCliOptions } from '../flash/board-options.ts';

export function registerInfo(program: Command, ctx: CliContext): void {
  addBoardOptions(program.command('info'))
    .option('--json', 'print the facts as JSON')
    .addHelpText(
      'after',
      `
Resets the board into its ROM download mode, reads the facts, and resets it back
into its app. Nothing on the board changes.

Examples:
  espfleet info --port /dev/ttyUSB0
  espfleet info --port rfc2217://127.0.0.1:4000 --json`,
    )
    .action(async (opts: BoardCliOptions & { json?: boolean }) => {
      const facts = await withBoard(opts.port, sessionOptions(ctx, opts), async (session) => {
        const f = await session.chipFacts();
        await session.hardReset();
        return f;
      });
      if (opts.json) return ctx.json({ port: opts.port, ...facts });
      for (const [label, value] of describe(facts)) ctx.out(`${`${label}:`.padEnd(22)}${value}`);
    });
}

/** One labelled line per fact, in the order a person checks them. */
export function describe(f: ChipFacts): Array<[string, string]> {
  const e = f.efuse;
  const yesNo = (b: boolean) => (b ? 'yes' : 'no');
  const mb = f.flash.sizeBytes === null ? 'unknown size' : `${f.flash.sizeBytes / 0x100000} MB`;
  const id = f.flash.jedecId;
  return [
    ['chip', `${f.package} (revision v${f.revision.major}.${f.revision.minor})`],
    ['mac', `${f.mac}${f.macCrcOk ? '' : ' (MAC CRC mismatch)'}`],
    ['revision', `v${f.revision.major}.${f.revision.minor}`],
    ['package', f.package],
    ['crystal', `${f.crystalMHz} MHz`],
    ['features', f.features.join(', ')],
    ['flash', `${mb} (JEDEC id 0x${id.toString(16).padStart(6, '0')}: manufacturer 0x${(id & 0xff).toString(16)}, device 0x${((((id >>> 8) & 0xff) << 8) | ((id >>> 16) & 0xff)).toString(16)})`], // as esptool flash-id prints it
    ['flash encryption', `${e.encryptionEnabled ? 'ON' : 'off'} (FLASH_CRYPT_CNT 0b${e.flashCryptCnt.toString(2).padStart(7, '0')})`],
    ['flash crypt config', `0x${e.flashCryptConfig.toString(16)}`],
    ['key block BLK1', `${e.keyBlock1.readProtected ? 'read-protected' : 'readable'}, ${e.keyBlock1.writeProtected ? 'write-protected' : 'writable'}`],
    ['download disables', `encrypt ${yesNo(e.downloadDisables.encrypt)}, decrypt ${yesNo(e.downloadDisables.decrypt)}, cache ${yesNo(e.downloadDisables.cache)}`],
    ['jtag disabled', yesNo(e.jtagDisabled)],
    ['uart download off', yesNo(e.uartDownloadDisabled)],
    ['coding scheme', e.codingScheme],
  ];
}
