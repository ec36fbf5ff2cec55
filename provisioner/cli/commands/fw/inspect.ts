// `espfleet fw inspect`: what a firmware file is, every field, and whether each check passes.
import type { Command } from 'commander';
import { addr, padAddrText } from '../../format.ts';
import { allChecksPass, inspectFirmware, type InspectReport } from '../../../../firmware-js/inspect.ts';
import { readInputFile } from '../../../io/files.ts';
import type { CliContext } from '../../context.ts';
import { ExitCode } from '../../exit.ts';

export function register(fw: Command, ctx: CliContext): void {
  fw.command('inspect <file>')
    .description('show what a firmware file is, every field, and whether each check passes')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Understands fw.zip bundles (manifest, parts with their flash addresses, signature
slots, the app version, the files of the fs part), ESP32 app and bootloader
images (header, segments, checksum, SHA-256, app descriptor), partition tables,
otadata and LittleFS images. Exits 1 when any check fails.

Examples:
  espfleet fw inspect fw.zip
  espfleet fw inspect build/app.bin --json`,
    )
    .action((file: string, opts: { json?: boolean }) => {
      const report = inspectFirmware(readInputFile(file, 'firmware file'));
      if (opts.json) ctx.json({ file, ok: allChecksPass(report), ...report });
      else render(ctx, file, report);
      if (!allChecksPass(report)) throw new ExitCode(1);
    });
}

function render(ctx: CliContext, title: string, report: InspectReport, indent = ''): void {
  ctx.out(`${indent}${title}: ${report.kind}`);
  for (const [key, value] of Object.entries(report.fields)) {
    if (Array.isArray(value) && value.length > 0 && typeof value[0] === 'object') {
      ctx.out(`${indent}  ${key}:`);
      for (const row of value) ctx.out(`${indent}    ${Object.entries(row as object).map(([k, v]) => `${k}=${shown(k, v)}`).join(' ')}`);
    } else {
      ctx.out(`${indent}  ${key}: ${typeof value === 'object' && value !== null ? JSON.stringify(value) : shown(key, value)}`);
    }
  }
  for (const check of report.checks) ctx.out(`${indent}  [${check.ok ? 'ok' : 'FAIL'}] ${check.name}${check.detail ? `: ${check.detail}` : ''}`);
  for (const part of report.parts ?? []) {
    const where = part.address === null ? 'no address' : addr(part.address);
    ctx.out(`${indent}  part ${part.name} (${part.type ?? '?'}) at ${where}, ${part.size} bytes${part.encrypt ? ', encrypted on encrypted boards' : ''}${part.flash ? '' : ', not flashed'}`);
    if (part.error) ctx.out(`${indent}    [FAIL] ${part.error}`);
    if (part.content && part.content.kind !== 'littlefs') render(ctx, part.name, part.content, `${indent}    `);
  }
  if (report.files) {
    ctx.out(`${indent}  files:`);
    for (const f of report.files) ctx.out(`${indent}    ${f.type === 'dir' ? 'd' : '-'} ${String(f.size).padStart(8)}  ${f.path}`);
  }
}

/** One address format in the text report: `0x` + 8 hex digits (the JSON keeps the library's values). */
function shown(key: string, v: unknown): string {
  return typeof v === 'string' && /addr|offset|entry|address|size|start|end/i.test(key) ? padAddrText(v) : String(v);
}
