// Bench: flash-encryption throughput (MB/s) for a 1.5 MB app, the size of a
// Mongoose OS app slot. Prints figures; asserts nothing.
import { randomBytes } from 'node:crypto';
import { decryptFlash, encryptFlash } from '../../firmware-js/flash-encryption/index.ts';

const SIZE = 1536 * 1024;
const data = new Uint8Array(randomBytes(SIZE));
const key = new Uint8Array(randomBytes(32));

function measure(label: string, fn: () => void, rounds = 3): void {
  fn(); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) fn();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9 / rounds;
  console.log(`${label.padEnd(34)} ${(SIZE / 1e6 / seconds).toFixed(1).padStart(7)} MB/s  (${(seconds * 1000).toFixed(0)} ms per 1.5 MiB)`);
}

measure('flash encryption: encrypt', () => void encryptFlash(data, 0x10000, key));
measure('flash encryption: decrypt', () => void decryptFlash(data, 0x10000, key));
