// SLIP framing as the ESP32 ROM and stubs use it (spec esp32-rom-efuse-crypto.md §1.1):
// 0xC0 delimits, 0xDB 0xDC / 0xDB 0xDD escape 0xC0 / 0xDB.

const END = 0xc0;
const ESC = 0xdb;
const ESC_END = 0xdc;
const ESC_ESC = 0xdd;

export function slipEncode(packet: Uint8Array): Uint8Array {
  let extra = 0;
  for (const b of packet) if (b === END || b === ESC) extra++;
  const out = new Uint8Array(packet.length + extra + 2);
  let at = 0;
  out[at++] = END;
  for (const b of packet) {
    if (b === END) {
      out[at++] = ESC;
      out[at++] = ESC_END;
    } else if (b === ESC) {
      out[at++] = ESC;
      out[at++] = ESC_ESC;
    } else out[at++] = b;
  }
  out[at] = END;
  return out;
}

/**
 * Incremental deframer for the device side. The ROM is forgiving: bytes outside a
 * frame are ignored and a bad escape drops the frame (the host then times out and
 * retries), unlike the host readers which treat both as fatal.
 */
export class SlipDecoder {
  private buf: number[] = [];
  private inFrame = false;
  private escaped = false;
  private broken = false;

  constructor(private readonly onFrame: (frame: Uint8Array) => void) {}

  push(chunk: Uint8Array): void {
    for (const b of chunk) this.pushByte(b);
  }

  reset(): void {
    this.buf = [];
    this.inFrame = false;
    this.escaped = false;
    this.broken = false;
  }

  private pushByte(b: number): void {
    if (b === END) {
      if (this.inFrame && this.buf.length > 0 && !this.broken && !this.escaped) {
        const frame = Uint8Array.from(this.buf);
        this.buf = [];
        this.onFrame(frame);
      }
      // Two 0xC0 in a row: the second one opens the next frame.
      this.buf = [];
      this.inFrame = true;
      this.escaped = false;
      this.broken = false;
      return;
    }
    if (!this.inFrame) return;
    if (this.escaped) {
      this.escaped = false;
      if (b === ESC_END) this.buf.push(END);
      else if (b === ESC_ESC) this.buf.push(ESC);
      else this.broken = true;
      return;
    }
    if (b === ESC) this.escaped = true;
    else this.buf.push(b);
  }
}
