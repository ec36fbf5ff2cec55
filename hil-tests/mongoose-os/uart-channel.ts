// The board's side of RPC over UART0 (spec mongoose-os.md §3.1, §3.2), written apart from the
// client so the two can only agree through the spec: `\n` and `"""` delimiters (compat mode
// on first `"""`), CRC checked when ≥ 8 trailer chars and echoed once the host sent one,
// bytes ≥ 0x80 clear the buffer, junk before `{` skipped, empty frames answered with `\n`,
// EOF with `"""`EOF`"""`, oversized buffers dropped, XOFF/XON around long frames, dst checks.
import { crc32 } from '../../firmware-js/crc.ts';

export interface DeviceFrame {
  [key: string]: unknown;
}

export interface UartChannelOptions {
  send: (bytes: Uint8Array) => void;
  log: (line: string) => void;
  /** device.id, for the dst check. */
  deviceId: () => string;
  /** rpc.max_frame_size. */
  maxFrameSize: number;
  onFrame: (frame: DeviceFrame, reply: (frame: DeviceFrame) => void) => void;
}

const QQQ = '"""';
/** Pause the host when a frame buffer grows past this (rpc.uart.fc_type 2, XON/XOFF). */
const XOFF_AT = 2048;

export class UartRpcChannel {
  private buf = '';
  private compat = false;
  private crcMode = false;
  private paused = false;

  constructor(private readonly o: UartChannelOptions) {}

  receive(bytes: Uint8Array): void {
    for (const b of bytes) {
      if (b >= 0x80) {
        // JSON on this channel is pure ASCII; anything else means the buffer is garbage.
        this.buf = '';
        continue;
      }
      this.buf += String.fromCharCode(b);
      if (b === 0x0a) {
        this.frameEnded(this.buf.slice(0, -1));
      } else if (this.buf.endsWith(QQQ)) {
        this.compat = true;
        this.frameEnded(this.buf.slice(0, -3));
      } else if (this.buf.length > this.o.maxFrameSize + 6) {
        this.o.log(`mgos_rpc_channel_uart  Frame too long (> ${this.o.maxFrameSize} bytes), dropped`);
        this.buf = '';
        this.resume();
      } else if (this.buf.length > XOFF_AT && !this.paused) {
        this.paused = true;
        this.o.send(Uint8Array.of(0x13));
      }
    }
  }

  /** Sends a frame in the channel's current form: `\n` [`"""`] JSON [crc] [`"""`] `\n`. */
  send(frame: DeviceFrame): void {
    const json = asciiOnly(JSON.stringify(frame));
    const crc = this.crcMode ? crc32(bytesOf(json)).toString(16).padStart(8, '0') : '';
    const q = this.compat ? QQQ : '';
    this.o.send(bytesOf(`\n${q}${json}${crc}${q}\n`));
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.o.send(Uint8Array.of(0x11));
  }

  private frameEnded(frame: string): void {
    this.buf = '';
    this.resume();
    if (frame.trim() === '') return this.o.send(bytesOf('\n'));
    if (frame === '\x04') return this.o.send(bytesOf(`${QQQ}\x04${QQQ}`));
    const start = frame.indexOf('{');
    const end = frame.lastIndexOf('}');
    if (start < 0 || end < start) return;
    const json = frame.slice(start, end + 1);
    const trailer = frame.slice(end + 1);
    if (trailer.length >= 8) {
      const got = parseInt(trailer.slice(0, 8), 16);
      if (!/^[0-9a-fA-F]{8}/.test(trailer) || got !== crc32(bytesOf(json))) {
        this.o.log(`mgos_rpc_channel_uart  Corrupted frame (CRC mismatch), dropped`);
        return;
      }
      this.crcMode = true;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      this.o.log(`mg_rpc_handle_request  Invalid frame, dropped`);
      return;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return;
    const req = parsed as DeviceFrame;
    if (typeof req.dst === 'string' && req.dst !== '' && req.dst !== this.o.deviceId()) {
      this.o.log(`mg_rpc_handle_request  Wrong dst: ${req.dst}`);
      return;
    }
    this.o.onFrame(req, (f) => this.send(f));
  }
}

/** The device's id echo: a digit-only id goes back as a number (§3.2). */
export function echoId(id: unknown): unknown {
  if (typeof id === 'string' && /^\d+$/.test(id)) return Number(id);
  return id;
}

function asciiOnly(json: string): string {
  return json.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function bytesOf(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}
