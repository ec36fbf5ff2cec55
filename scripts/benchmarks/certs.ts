// Bench: fleet CA throughput — EC P-256 device certificates per second from an EC
// and an RSA-2048 issuing CA (DESIGN.md target ≥ 1000/s for EC), sequential and in
// parallel batches, the time to build a CRL with 100,000 revoked entries, and what
// applying a CRL costs on a running mosquitto (SIGHUP vs restart).
// Prints figures; asserts nothing.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCrl, initCa, issueDeviceCert, openCa, revoke, writeBrokerProfile, type Ca, type CaKeyType } from '../../certs/index.ts';
import { connectClient, freePort, MOSQUITTO, startMosquitto } from '../../certs/test/mosquitto-harness.ts';
import { buildCertificate } from '../../certs/certificate.ts';
import { encodeName } from '../../certs/extensions.ts';
import type { IndexEntry } from '../../certs/issuance-index.ts';
import { deviceProfile } from '../../certs/issue.ts';
import { generateLeafKey, generateLeafKeyMaterial, privateKeyPem, spkiDer } from '../../certs/keys.ts';
import { randomSerial } from '../../certs/serial.ts';

const root = mkdtempSync(join(tmpdir(), 'espfleet-bench-certs-'));
const passphrase = randomBytes(12).toString('hex');
const line = (label: string, value: string) => console.log(`${label.padEnd(52)} ${value}`);

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = process.hrtime.bigint();
  const result = await fn();
  return [result, Number(process.hrtime.bigint() - start) / 1e9];
}

async function issuanceRates(keyType: CaKeyType): Promise<void> {
  const ca = await initCa({ dir: join(root, keyType), keyType, passphrase });
  let n = 0;
  const issueOne = () => issueDeviceCert(ca, { cn: `bench-${n++}` });
  await Promise.all(Array.from({ length: 50 }, issueOne)); // warm-up
  const parallel = 4000;
  const batch = 500;
  const [, tPar] = await timed(async () => {
    for (let done = 0; done < parallel; done += batch) await Promise.all(Array.from({ length: batch }, issueOne));
  });
  line(`${keyType} CA: device certs/s, batches of ${batch} (group commit)`, `${(parallel / tPar).toFixed(0).padStart(7)} /s  (${parallel} in ${tPar.toFixed(2)} s)`);
  const sequential = 300;
  const [, tSeq] = await timed(async () => {
    for (let i = 0; i < sequential; i++) await issueOne();
  });
  line(`${keyType} CA: device certs/s, one at a time (fsync each)`, `${(sequential / tSeq).toFixed(0).padStart(7)} /s  (${sequential} in ${tSeq.toFixed(2)} s)`);
}

async function crlBuild(count: number): Promise<void> {
  const ca: Ca = await initCa({ dir: join(root, 'crl'), passphrase });
  const now = Date.now();
  const entries: IndexEntry[] = [];
  for (let i = 0; i < count; i++) {
    const serialHex = randomBytes(16).toString('hex').replace(/^./, '5');
    const iso = new Date(now).toISOString();
    entries.push(
      { op: 'issue', serialHex, cn: `dev-${i}`, role: 'device', notBefore: iso, notAfter: new Date(now + 365 * 86_400_000).toISOString(), fingerprintSha256: '00'.repeat(32) },
      { op: 'revoke', serialHex, at: iso, reason: i % 2 ? 'keyCompromise' : 'unspecified' },
    );
  }
  await ca.index.appendMany(entries);
  const [reopened, tOpen] = await timed(async () => openCa(ca.dir, passphrase));
  line(`open CA with ${count.toLocaleString('en')} issued + revoked in the index`, `${(tOpen * 1000).toFixed(0).padStart(7)} ms`);
  const [crl, tCrl] = await timed(async () => buildCrl(reopened));
  line(`build + sign CRL with ${crl.revokedSerials.length.toLocaleString('en')} revoked entries`, `${(tCrl * 1000).toFixed(0).padStart(7)} ms  (${(crl.crlPem.length / 1e6).toFixed(1)} MB PEM)`);
}

/** Where one EC device certificate's time goes, without the index write. */
function breakdown(ca: Ca): void {
  const N = 2000;
  const per = (label: string, fn: () => void) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < N; i++) fn();
    line(`  per cert: ${label}`, `${(Number(process.hrtime.bigint() - start) / 1e3 / N).toFixed(0).padStart(7)} µs`);
  };
  const { privateKey, publicKey } = generateLeafKey();
  const spki = spkiDer(publicKey);
  per('EC P-256 key generation (OpenSSL)', () => void generateLeafKey());
  per('SPKI export via OpenSSL encoder (not used)', () => void spkiDer(publicKey));
  per('private key PKCS#8 PEM via OpenSSL (not used)', () => void privateKeyPem(privateKey));
  per('key generation + SPKI + PKCS#8 PEM via JWK (used)', () => void generateLeafKeyMaterial());
  per('TBS build + ECDSA sign (DER)', () =>
    void buildCertificate(
      { serial: randomSerial(ca.random), issuer: ca.issuer.subject, subject: encodeName({ cn: 'x' }), notBefore: new Date(), notAfter: new Date(), spki, extensions: deviceProfile() },
      ca.signingKey,
    ),
  );
}

/** What applying a CRL costs on a running mosquitto: SIGHUP vs restart, with `boards` connected. */
async function brokerReload(boards: number): Promise<void> {
  if (!existsSync(MOSQUITTO)) return line('mosquitto reload cost', `skipped: ${MOSQUITTO} not installed`);
  const ca = await initCa({ dir: join(root, 'broker-ca'), passphrase });
  const port = await freePort();
  const profile = await writeBrokerProfile(ca, {
    outDir: join(root, 'broker'), host: '127.0.0.1', port, bindAddress: '127.0.0.1',
    ...(process.getuid?.() === 0 ? { user: 'root' } : {}),
  });
  const caPem = readFileSync(profile.paths.cafile, 'utf8');
  // certs[0] is revoked, certs[1] probes after the reload, the rest stay connected.
  const certs = await Promise.all(Array.from({ length: boards + 2 }, (_, i) => issueDeviceCert(ca, { cn: `board-${i}` })));
  const id = (c: (typeof certs)[number]) => ({ cert: c.chainPem, key: c.privateKeyPem });
  let broker = await startMosquitto(profile.confPath);
  const clients = await Promise.all(certs.slice(2).map((c) => connectClient(port, caPem, id(c))));
  await revoke(ca, certs[0]!.serialHex);
  writeFileSync(profile.paths.crlfile, buildCrl(ca).crlPem);
  const [, tHup] = await timed(async () => {
    await broker.reload();
    await (await connectClient(port, caPem, id(certs[1]!))).endAsync();
  });
  const still = clients.filter((c) => c.connected).length;
  line(`SIGHUP, ${boards} boards on: reload → next handshake (incl. 200 ms settle)`, `${(tHup * 1000).toFixed(0).padStart(7)} ms, ${still}/${boards} sessions kept`);
  await broker.stop();
  const [, tRestart] = await timed(async () => {
    broker = await startMosquitto(profile.confPath);
    await Promise.all(certs.slice(2).map(async (c) => (await connectClient(port, caPem, id(c))).endAsync()));
  });
  line(`restart: ${boards} boards dropped; start + all reconnect (host CPU)`, `${(tRestart * 1000).toFixed(0).padStart(7)} ms`);
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await broker.stop();
}

try {
  const ecCa = await initCa({ dir: join(root, 'breakdown'), passphrase });
  breakdown(ecCa);
  await issuanceRates('ec-p256');
  await issuanceRates('rsa-2048');
  await crlBuild(100_000);
  await brokerReload(200);
} finally {
  rmSync(root, { recursive: true, force: true });
}
