// Bench: bundle signing and verification operations per second on the demo bundle
// (ECDSA P-256 over the manifest; verification includes reading the bundle and
// checking every part's digests, as a device-side check would).
import { generateSigningKey, loadPrivateKey, readBundle, signBundle, verifyBundle } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';

const { bundle } = makeDemoFirmware({ version: '1.0.0' });
const key = generateSigningKey();
const privateKey = loadPrivateKey(key.privateKeyPem);
const signed = signBundle(bundle, privateKey, 0);
const parsed = readBundle(signed);

function rate(label: string, fn: () => void, seconds = 1): void {
  fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() - start < limit) {
    fn();
    n++;
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(`${label.padEnd(52)} ${(n / elapsed).toFixed(0).padStart(7)} ops/s`);
}

console.log(`demo bundle: ${bundle.length} bytes`);
rate('sign (manifest signature, bundle rewritten)', () => void signBundle(bundle, privateKey, 0));
rate('verify signature only (bundle already read)', () => void verifyBundle(parsed, [key.publicKeyPem], 1));
rate('read bundle + part digests + verify signature', () => void verifyBundle(readBundle(signed), [key.publicKeyPem], 1));
