// The stub's READ_FLASH data phase (spec esp32-rom-efuse-crypto.md §1.11): raw SLIP frames
// of packet_size bytes, each acknowledged by the host with the running byte count, then
// one frame with the MD5 of everything sent.
import { createHash } from 'node:crypto';

export type InFlightRule = { bytesInFlight: number } | { packetsInFlight: number };

export class ReadFlashStream {
  private sent = 0;
  private acked = 0;
  private packetsSent = 0;
  private packetsAcked = 0;
  private readonly md5 = createHash('md5');

  constructor(
    private readonly data: Uint8Array,
    private readonly packetSize: number,
    private readonly rule: InFlightRule,
    private readonly send: (frame: Uint8Array) => void,
  ) {}

  /** Sends what flow control allows; returns true when the stream is already complete. */
  start(): boolean {
    this.pump();
    return this.finishIfDone();
  }

  /** Handles one host frame; returns false once the stream is over (done or aborted). */
  ack(frame: Uint8Array): boolean {
    if (frame.length !== 4) return false; // anything else ends the read, as in the stubs
    this.acked = new DataView(frame.buffer, frame.byteOffset, 4).getUint32(0, true);
    this.packetsAcked++;
    this.pump();
    return !this.finishIfDone();
  }

  private mayPush(): boolean {
    if (this.sent >= this.data.length) return false;
    if ('bytesInFlight' in this.rule) return this.sent - this.acked < this.rule.bytesInFlight;
    return this.packetsSent - this.packetsAcked < this.rule.packetsInFlight;
  }

  private pump(): void {
    while (this.mayPush()) {
      const chunk = this.data.subarray(this.sent, Math.min(this.data.length, this.sent + this.packetSize));
      this.md5.update(chunk);
      this.send(chunk.slice());
      this.sent += chunk.length;
      this.packetsSent++;
    }
  }

  private finishIfDone(): boolean {
    if (this.sent < this.data.length || this.acked < this.data.length) return false;
    this.send(new Uint8Array(this.md5.digest()));
    return true;
  }
}
