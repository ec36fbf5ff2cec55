// `espfleet ports`: the serial ports on this machine, marking likely ESP boards.
import type { Command } from 'commander';
import { listPorts } from '../../../transport/port-list.ts';
import type { CliContext } from '../../context.ts';
import { renderTable } from '../../format.ts';

export function registerPorts(program: Command, ctx: CliContext): void {
  program
    .command('ports')
    .option('--json', 'print the list as JSON')
    .addHelpText(
      'after',
      `
A port is marked "ESP?" when its USB bridge is one ESP32 boards use (CP210x,
CH340/CH9102, FTDI, Espressif USB-JTAG). Network serial (rfc2217://) and virtual
boards (\`espfleet sim\`) are not listed; use their URLs directly.

Example:
  espfleet ports --json`,
    )
    .action(async (opts: { json?: boolean }) => {
      const ports = await listPorts();
      if (opts.json) return ctx.json(ports);
      if (ports.length === 0) return ctx.out('no serial ports found (no USB serial device attached?)');
      const rows = ports.map((p) => [p.path, p.vendorId ? `${p.vendorId}:${p.productId}` : '-', p.likelyEsp ? 'ESP?' : '', p.bridge ?? p.manufacturer ?? '']);
      for (const line of renderTable(['PORT', 'VID:PID', 'ESP', 'BRIDGE'], rows)) ctx.out(line);
    });
}
