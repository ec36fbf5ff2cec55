// `espfleet efuse summary`: every BLK0 field with its protection, BLK1-3 status, and what
// they mean for flash encryption (spec esp32-rom-efuse-crypto.md §3.2, §5.3).
import type { Command } from 'commander';
import { encryptionState, type EncryptionState } from '../../../encryption/index.ts';
import { readEfuses, summarizeEfuses, withBoard, type EfuseSummary } from '../../../session/index.ts';
import type { CliContext } from '../../context.ts';
import { addBoardOptions, sessionOptions, type BoardCliOptions } from '../flash/board-options.ts';

interface Options extends BoardCliOptions {
  json?: boolean;
}

export interface EfuseSummaryData {
  port: string;
  mac: string;
  chip: string;
  efuse: EfuseSummary;
  encryption: EncryptionState;
}

export function register(efuse: Command, ctx: CliContext): void {
  addBoardOptions(efuse.command('summary'))
    .description('print every BLK0 eFuse field and the BLK1-3 key blocks, with read/write protection')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Access column as espefuse prints it: R/W readable and writable, R/- write-protected,
-/W read-protected, -/- both. A read-protected key block shows no data: the chip still
uses it, software cannot read it.

Example:
  espfleet efuse summary --port /dev/ttyUSB0 --json`,
    )
    .action(async (opts: Options) => {
      const data = await withBoard(opts.port, sessionOptions(ctx, opts), async (session) => {
        try {
          const facts = await session.chipFacts();
          const snap = await readEfuses(session);
          return { port: opts.port, mac: facts.mac, chip: facts.package, efuse: summarizeEfuses(snap), encryption: encryptionState(snap) };
        } finally {
          await session.hardReset().catch(() => {});
        }
      });
      if (opts.json) return ctx.json(data);
      for (const line of renderSummary(data)) ctx.out(line);
    });
}

export function renderSummary(d: EfuseSummaryData): string[] {
  const lines = [`eFuses of ${d.chip} ${d.mac} on ${d.port} (coding scheme ${d.efuse.codingScheme})`, ''];
  lines.push(`${'FIELD'.padEnd(22)} ${'VALUE'.padEnd(12)} ${'R/W'.padEnd(4)} DESCRIPTION`);
  for (const f of d.efuse.fields) lines.push(`${f.name.padEnd(22)} ${`0x${f.value.toString(16)}`.padEnd(12)} ${f.access.padEnd(4)} ${f.description}`);
  lines.push('');
  for (const b of d.efuse.blocks) {
    const access = `${b.readProtected ? '-' : 'R'}/${b.writeProtected ? '-' : 'W'}`;
    lines.push(`BLOCK${b.block} ${access.padEnd(4)} ${b.hex === null ? 'read-protected (hidden from software, used by the hardware)' : b.blank ? 'blank' : b.hex}`);
  }
  const e = d.encryption;
  const cnt = `FLASH_CRYPT_CNT 0b${e.flashCryptCnt.toString(2).padStart(7, '0')}`;
  const key = e.keyReadProtected && e.keyWriteProtected ? 'key read- and write-protected' : e.keyReadProtected ? 'key read-protected only' : e.keyWriteProtected ? 'key write-protected only' : 'key not protected';
  lines.push('');
  lines.push(`flash encryption: ${e.enabled ? `on (${e.releaseMode ? 'release' : 'development'} mode)` : 'off'}, ${cnt}, FLASH_CRYPT_CONFIG 0x${e.flashCryptConfig.toString(16)}, ${key}`);
  return lines;
}
