// `espfleet sim`: serves a virtual ESP32 over RFC 2217 so esptool, espefuse and espfleet itself
// can flash, burn and boot it without hardware (hil-tests/virtual-esp32).
import { InvalidArgumentError, type Command } from 'commander';
import { startSimSession } from '../../../../hil-tests/virtual-esp32/sim-session.ts';
import { FLASH_SIZES, type FlashSizeName } from '../../../../hil-tests/virtual-esp32/targets/esp32.ts';
import { formatMac, parseMac } from '../../../../hil-tests/virtual-esp32/chip-identity.ts';
import { numberArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { untilStopped } from '../../until-stopped.ts';

interface Options {
  listen?: string;
  state?: string;
  mac?: string;
  flashSize: FlashSizeName;
  revision: 1 | 3;
  throttle?: boolean;
  chipMagic?: number;
  name?: string;
}

function flashSizeArg(text: string): FlashSizeName {
  const t = text.toUpperCase();
  if (t in FLASH_SIZES) return t as FlashSizeName;
  throw new InvalidArgumentError(`expected 4MB, 8MB or 16MB, got ${JSON.stringify(text)}`);
}

function revisionArg(text: string): 1 | 3 {
  if (text === '1' || text === '3') return Number(text) as 1 | 3;
  throw new InvalidArgumentError(`expected 1 or 3, got ${JSON.stringify(text)}`);
}

function macArg(text: string): string {
  try {
    return formatMac(parseMac(text));
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** Checked here, not by commander: it demands a command's required options of its subcommands too (`sim fleet`). */
function required(cmd: Command, flag: string, value: string | undefined): string {
  if (value === undefined) cmd.error(`error: required option '${flag}' not specified`, { code: 'commander.missingMandatoryOptionValue', exitCode: 1 });
  return value;
}

export function register(program: Command, ctx: CliContext): Command {
  return program
    .command('sim')
    .option('--listen <host:port>', 'address to serve on; port 0 picks a free one (required)')
    .option('--state <file>', 'board state file (flash + eFuses); created if missing, saved after writes and on exit (required)')
    .option('--mac <mac>', 'factory MAC for a new board (default: derived from --name)', macArg)
    .option('--flash-size <size>', 'flash size of a new board: 4MB, 8MB or 16MB', flashSizeArg, '4MB')
    .option('--revision <n>', 'silicon revision of a new board: 1 or 3', revisionArg, 3)
    .option('--chip-magic <value>', 'CHIP_DETECT_MAGIC value (anything but 0x00F01D83 makes tools refuse the chip)', numberArg)
    .option('--name <name>', 'board name for a new board (default: the state file name)')
    .option('--throttle', 'pace the UART at the current baud rate (baud/10 bytes per second)')
    .addHelpText(
      'after',
      `
The first line on stdout is the port URL. The options that describe a new board
(--mac, --flash-size, --revision, --chip-magic, --name) apply only when the state
file does not exist yet; an existing file keeps its board. Stop with Ctrl-C
(SIGINT) or SIGTERM; the state is saved.

Example:
  espfleet sim --listen 127.0.0.1:4000 --state board1.sim --mac 24:0a:c4:00:00:01
  esptool --port rfc2217://127.0.0.1:4000 write-flash 0x10000 app.bin
  espefuse --port rfc2217://127.0.0.1:4000 summary

A whole headless fleet of virtual boards: espfleet sim fleet --help`,
    )
    .action(async (opts: Options, cmd: Command) => {
      const listen = required(cmd, '--listen <host:port>', opts.listen);
      const statePath = required(cmd, '--state <file>', opts.state);
      const name = opts.name ?? statePath.replace(/^.*[\\/]/, '').replace(/\.[^.]*$/, '');
      const session = await startSimSession({
        listen,
        statePath,
        throttle: opts.throttle ?? false,
        create: {
          name,
          ...(opts.mac ? { mac: opts.mac } : {}),
          flashSize: opts.flashSize,
          revision: opts.revision,
          ...(opts.chipMagic !== undefined ? { chipMagic: opts.chipMagic } : {}),
        },
      });
      ctx.out(session.url);
      const o = session.chip.options;
      ctx.note(
        `${session.created ? 'new' : 'loaded'} board ${o.name}: ESP32 v${o.revision}, MAC ${formatMac(o.mac)}, ` +
          `${o.flashSize >> 20} MB flash, state ${opts.state}${opts.throttle ? ', throttled' : ''}`,
      );
      await untilStopped(ctx);
      await session.stop();
      ctx.note(`state saved to ${opts.state}`);
    });
}
