// A minimal in-process host for protocol-level tests: frames requests, collects SLIP frames
// and raw text from the virtual chip.
import { SlipDecoder, slipEncode } from '../../virtual-esp32/slip.ts';
import { dataChecksum } from '../../virtual-esp32/protocol.ts';
import type { VirtualEsp32 } from '../../index.ts';

export class SlipHost {
  readonly frames: Uint8Array[] = [];
  private readonly decoder = new SlipDecoder((f) => this.frames.push(f));

  constructor(readonly chip: VirtualEsp32) {
    chip.onTransmit((b) => this.decoder.push(b));
  }

  /** Puts the chip into download mode the way esptool's classic reset does. */
  async enterDownloadMode(): Promise<void> {
    if (this.chip.state === 'off') this.chip.powerOn();
    this.chip.setSignals({ dtr: false, rts: true });
    await sleep(5);
    this.chip.setSignals({ dtr: true, rts: false });
    await sleep(20);
    this.chip.setSignals({ dtr: false, rts: false });
  }

  send(op: number, data: Uint8Array = new Uint8Array(0), checksum = 0): void {
    const pkt = new Uint8Array(8 + data.length);
    const dv = new DataView(pkt.buffer);
    pkt[1] = op;
    dv.setUint16(2, data.length, true);
    dv.setUint32(4, checksum, true);
    pkt.set(data, 8);
    this.chip.receive(slipEncode(pkt));
  }

  /** Sends a *_DATA command with its 16-byte header and checksum. */
  sendData(op: number, seq: number, payload: Uint8Array, checksum = dataChecksum(payload)): void {
    const data = new Uint8Array(16 + payload.length);
    const dv = new DataView(data.buffer);
    dv.setUint32(0, payload.length, true);
    dv.setUint32(4, seq, true);
    data.set(payload, 16);
    this.send(op, data, checksum);
  }

  async next(count = 1): Promise<Uint8Array[]> {
    await this.chip.idle();
    for (let i = 0; i < 50 && this.frames.length < count; i++) await sleep(2);
    return this.frames.splice(0, Math.min(count, this.frames.length));
  }
}

export function words(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  values.forEach((v, i) => new DataView(out.buffer).setUint32(i * 4, v >>> 0, true));
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export const SYNC_DATA = Uint8Array.from([0x07, 0x07, 0x12, 0x20, ...new Array<number>(32).fill(0x55)]);
