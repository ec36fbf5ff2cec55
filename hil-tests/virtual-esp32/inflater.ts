// Incremental zlib inflation for FLASH_DEFL_DATA (spec esp32-rom-efuse-crypto.md §1.10): the
// host splits one zlib stream (header + deflate + Adler-32) across packets, and the chip
// writes what each packet yields before the next one arrives.
import { constants, createInflate, type Inflate } from 'node:zlib';

export class Inflater {
  private readonly z: Inflate;
  private out: Buffer[] = [];
  private error: Error | undefined;
  private ended = false;

  constructor() {
    this.z = createInflate();
    this.z.on('data', (b: Buffer) => this.out.push(b));
    this.z.on('error', (e: Error) => (this.error = e));
    this.z.on('end', () => (this.ended = true));
  }

  /** Feeds one chunk and resolves with the bytes it produced; rejects on a corrupt stream. */
  push(chunk: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      if (this.error) return reject(this.error);
      if (this.ended) {
        // Data after the end of the stream (e.g. trailing Adler-32 only): nothing to produce.
        return resolve(new Uint8Array(0));
      }
      this.z.write(chunk);
      this.z.flush(constants.Z_SYNC_FLUSH, () => {
        // Let 'data'/'error' events of this flush run before collecting.
        setImmediate(() => {
          if (this.error) return reject(this.error);
          const produced = Buffer.concat(this.out);
          this.out = [];
          resolve(new Uint8Array(produced.buffer, produced.byteOffset, produced.byteLength));
        });
      });
    });
  }

  get finished(): boolean {
    return this.ended;
  }

  close(): void {
    this.z.removeAllListeners('data');
    this.z.on('error', () => {});
    this.z.destroy();
  }
}
