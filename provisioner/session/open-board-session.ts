// Connecting to a board (spec esp32-rom-efuse-crypto.md §1.8, §1.13): open the port,
// reset into download mode, sync, check the chip magic ourselves, read what must be read
// while the ROM still runs (the crystal), load the stub, change baud, read the flash id.
import { ESPLoader, Transport as EsptoolTransport } from 'esptool-js';
import { ESP32ROM } from 'esptool-js/lib/targets/esp32.js';
import { EspfleetError } from '../../firmware-js/errors.ts';
import type { Transport } from '../transport/transport.ts';
import { BoardSession } from './board-session.ts';
import { hex32, sessionError, type SessionError } from './errors.ts';
import { resetConstructorFor, type ResetMode } from './resets.ts';
import { ESP32 } from './targets/esp32.ts';
import { WebSerialAdapter } from './web-serial-adapter.ts';

export interface BoardSessionOptions {
  reset?: ResetMode;
  /** Baud rate for the flash work after the stub runs; the ROM always starts at 115200. */
  baud?: number;
  /** Reset-and-sync attempts (esptool: 7), alternating 50 ms and 550 ms reset delays. */
  connectAttempts?: number;
  /** Load the flasher stub (default). Without it: facts, MD5 and slow reads only. */
  stub?: boolean;
  /** Connect stages, for a status line. */
  onProgress?: (stage: 'connecting' | 'connected' | 'stub' | 'baud' | 'ready', detail?: string) => void;
  /** esptool-js's chatter and traces; never stdout. */
  log?: (line: string) => void;
}

/**
 * esptool-js's Transport, with two fixes: its traces go to our log instead of stdout,
 * and a read waits for bytes to arrive instead of polling — its own loop sleeps 1 ms at
 * a time while a reply is outstanding, a thousand wake-ups a second for a whole flash
 * write, which cost more host CPU than everything else the session does.
 */
class QuietEsptoolTransport extends EsptoolTransport {
  private pending: Uint8Array = new Uint8Array(0);
  private wake: (() => void) | undefined;

  constructor(device: WebSerialAdapter, private readonly log: (line: string) => void) {
    super(device as unknown as ConstructorParameters<typeof EsptoolTransport>[0], false);
    // The receive loop and read() share `buffer`; an accessor lets arrivals wake a waiting read.
    this.pending = (this as unknown as { buffer: Uint8Array }).buffer;
    Object.defineProperty(this, 'buffer', {
      get: () => this.pending,
      set: (value: Uint8Array) => {
        this.pending = value;
        if (value.length > 0) this.wake?.();
      },
    });
  }

  override trace(message: string): void {
    this.log(`trace: ${message}`);
  }

  override async read(timeout: number): Promise<Uint8Array> {
    if (this.pending.length === 0) await this.arrival(timeout);
    return super.read(timeout);
  }

  private arrival(timeout: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeout);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }
}

/**
 * Opens `transport` (pass it unopened; the session owns and closes it), resets the board
 * into download mode, syncs, identifies it and loads the stub.
 */
export async function openBoardSession(transport: Transport, opts: BoardSessionOptions = {}): Promise<BoardSession> {
  const log = opts.log ?? (() => {});
  const reset = opts.reset ?? 'classic';
  await openTransport(transport);
  const adapter = new WebSerialAdapter(transport, true);
  const esptoolTransport = new QuietEsptoolTransport(adapter, log);
  const classicReset = resetConstructorFor(reset);
  const loader = new ESPLoader({
    transport: esptoolTransport,
    baudrate: opts.baud ?? ESP32.romBaud,
    romBaudrate: ESP32.romBaud,
    terminal: { clean: () => {}, writeLine: (s: string) => log(s), write: (s: string) => log(s) },
    debugLogging: opts.log !== undefined,
    ...(classicReset ? { resetConstructors: { classicReset } } : {}),
  });
  // A port that closes while we connect (cable pulled, an RFC 2217 server that turns a
  // second client away) ends the attempt at once instead of after every sync retry.
  let closedEarly: Error | undefined;
  let rejectClosed: (e: unknown) => void = () => {};
  const closed = new Promise<never>((_, reject) => (rejectClosed = reject));
  closed.catch(() => {});
  const unsubscribe = transport.onClose((reason) => {
    closedEarly = reason ?? new Error('closed by the other side');
    rejectClosed(vanishedWhileConnecting(transport, closedEarly));
  });
  const setup = setUp(transport, loader, reset, opts);
  setup.catch(() => {});
  try {
    return await Promise.race([setup, closed]);
  } catch (e) {
    const early = closedEarly;
    unsubscribe(); // our own close below is not the port vanishing
    await transport.close().catch(() => {});
    throw early ? vanishedWhileConnecting(transport, early) : e;
  } finally {
    unsubscribe();
  }
}

async function setUp(transport: Transport, loader: ESPLoader, reset: ResetMode, opts: BoardSessionOptions): Promise<BoardSession> {
  opts.onProgress?.('connecting');
  try {
    await loader.connect(reset === 'none' ? 'no_reset' : 'default_reset', opts.connectAttempts ?? 7, false);
  } catch (e) {
    throw noResponse(transport, reset, e);
  }
  opts.onProgress?.('connected');
  try {
    // Our own check of CHIP_DETECT_MAGIC: esptool-js would happily accept another chip
    // family. GET_SECURITY_INFO is skipped: the ESP32 has none, and how its ROM refuses
    // it is [U] (spec §1.7), so identification never depends on that answer.
    const magic = (await loader.readReg(ESP32.reg.chipDetectMagic)) >>> 0;
    if (magic !== ESP32.magic) {
      throw sessionError('session.wrong_chip', `the board on ${transport.info.url} is not an ESP32: chip magic ${hex32(magic)}, expected ${hex32(ESP32.magic)}`, {
        hint: 'espfleet supports the original ESP32 only (not S2/S3/C3); check which board is on this port',
      });
    }
    loader.chip = new ESP32ROM();
    // The crystal estimate needs the ROM's UART divider at the ROM baud: the stub switches the APB clock.
    const apbCtlDate = (await loader.readReg(ESP32.reg.apbCtlDate)) >>> 0;
    const uartClkdiv = (await loader.readReg(ESP32.reg.uartClkdiv)) >>> 0;
    if (opts.stub !== false) {
      opts.onProgress?.('stub');
      await loader.runStub();
      if ((opts.baud ?? ESP32.romBaud) !== ESP32.romBaud) {
        opts.onProgress?.('baud', String(opts.baud));
        // [U] esptool-js falls back to 115200 (reconnecting with its default reset) when
        // the board stops answering at the new rate; we accept that rather than fail.
        await loader.changeBaud();
      }
    } else {
      await romAttachFlash(loader);
    }
    const jedecId = (await loader.readFlashId()) >>> 0;
    opts.onProgress?.('ready');
    return new BoardSession(transport, loader, { apbCtlDate, uartClkdiv, clkdivBaud: ESP32.romBaud, jedecId });
  } catch (e) {
    if (e instanceof EspfleetError) throw e;
    throw sessionError('session.command_failed', `setting up the session with ${transport.info.url} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

function vanishedWhileConnecting(transport: Transport, reason: Error): SessionError {
  return sessionError('session.port_vanished', `${transport.info.url} closed while connecting: ${reason.message}`, {
    hint: 'another program may be using the port, or the cable or network link dropped; check and run the command again',
    cause: reason,
  });
}

async function openTransport(transport: Transport): Promise<void> {
  try {
    await transport.open();
  } catch (e) {
    if (!(e instanceof EspfleetError)) throw e;
    if (e.code === 'transport.busy') throw sessionError('session.port_busy', e.message, { hint: e.hint ?? 'close the other program using the port', cause: e });
    if (e.code === 'transport.not_found') {
      throw sessionError('session.port_not_found', e.message, { hint: e.hint ?? 'run `espfleet ports` to list the ports', cause: e });
    }
    throw e;
  }
}

function noResponse(transport: Transport, reset: ResetMode, cause: unknown): SessionError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return sessionError('session.no_response', `no answer from an ESP32 ROM loader on ${transport.info.url} (${why})`, {
    hint:
      (reset === 'none' ? 'with --reset none the board must already be in download mode: hold BOOT, press EN, release BOOT; ' : 'hold BOOT while connecting if the board has no auto-reset circuit; try --reset tight; ') +
      'check the USB cable (some are power-only) and that nothing else uses the port; connecting always starts at 115200 baud, --baud only applies afterwards',
    cause,
  });
}

/** Without the stub the ROM needs SPI_ATTACH (8 bytes for the ESP32 ROM) and the flash geometry. */
async function romAttachFlash(loader: ESPLoader): Promise<void> {
  await loader.checkCommand('attach SPI flash', loader.ESP_SPI_ATTACH, new Uint8Array(8));
  const params = new Uint8Array(24);
  const dv = new DataView(params.buffer);
  [0, 16 << 20, 0x10000, 0x1000, 0x100, 0xffff].forEach((v, i) => dv.setUint32(i * 4, v, true));
  await loader.checkCommand('set SPI params', 0x0b, params);
}
