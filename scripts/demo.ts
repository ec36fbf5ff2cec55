// The demo on virtual boards: a fleet CA, a keystore, a signed Mongoose OS bundle, and
// N virtual ESP32s provisioned in parallel over their ROM loaders — each gets its own
// key, certificate and conf9.json, a fresh flash-encryption key escrowed before any
// eFuse is burned, pre-encrypted firmware, and a boot check. One board is then checked
// independently with Espressif's espsecure, esptool and espefuse and the reference
// littlefs. Until the factory station lands this drives the library directly; the
// station (resumable, with a registry and audit log) replaces the per-board steps.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createKeystore, initCa, issueDeviceCert, type Ca } from '../certs/index.ts';
import { generateSigningKey, readBundle, signBundle, verifyBundle, mgosPublicKeyConfig } from '../firmware-js/bundle/index.ts';
import { planFlash } from '../firmware-js/flash-plan.ts';
import { makeDemoFirmware } from '../firmware-js/testgen/demo-firmware.ts';
import { Rfc2217Server, VirtualEsp32, registerSimBoard, saveState } from '../hil-tests/virtual-esp32/index.ts';
import { enableFlashEncryption, exportFlashKey } from '../provisioner/encryption/index.ts';
import { withBoard } from '../provisioner/session/index.ts';
import { espefuse, espsecure, esptool, python } from './lib/oracles.ts';

const { values } = parseArgs({
  options: { workdir: { type: 'string' }, boards: { type: 'string', default: '4' }, help: { type: 'boolean' } },
});
if (values.help) {
  console.log(`usage: scripts/demo [--workdir <dir>] [--boards N]

Creates a CA and a signed demo bundle in <dir> (default: a new temp dir), starts N
virtual ESP32 boards, provisions them in parallel (identity + firmware), boots them,
and checks one with esptool and littlefs-python. Board states are saved under
<dir>/boards/; restart one with: espfleet sim --state <dir>/boards/board1.state`);
  process.exit(0);
}
const boardCount = Number(values.boards);
const workdir = resolve(values.workdir ?? mkdtempSync(join(tmpdir(), 'espfleet-demo-')));
mkdirSync(join(workdir, 'boards'), { recursive: true });
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`.padStart(6);
const say = (line: string) => console.log(`[${elapsed()}] ${line}`);

say(`work directory ${workdir}`);
// The CA passphrase lives only in this process: the demo CA is throwaway.
const ca: Ca = await initCa({ dir: join(workdir, 'ca'), passphrase: randomBytes(24).toString('base64') });
say('fleet CA created (root + issuing intermediate, EC P-256, keys encrypted at rest)');
const keystorePath = join(workdir, 'keystore.json');
const keystore = await createKeystore(keystorePath, { passphrase: randomBytes(24).toString('base64') });
say('keystore created (flash-encryption keys escrowed under AES-256-GCM)');

const signer = generateSigningKey();
const demo = makeDemoFirmware({ version: '1.0.0' });
const signed = signBundle(demo.bundle, signer.privateKeyPem, 0);
writeFileSync(join(workdir, 'fw.zip'), signed);
const verdict = verifyBundle(signed, [signer.publicKeyPem], 1);
if (!verdict.accepted) throw new Error(`demo bundle does not verify: ${verdict.reason}`);
say(`demo bundle ${demo.manifest.version} (${signed.length} bytes) signed in slot 0 and verified`);

const boards = Array.from({ length: boardCount }, (_, i) => {
  const chip = new VirtualEsp32({ name: `board${i + 1}` });
  chip.powerOn();
  registerSimBoard(chip.options.name, chip);
  return chip;
});
say(`${boardCount} virtual ESP32 boards powered on`);

interface Result {
  board: string;
  mac: string;
  deviceId: string;
  serial: string;
  written: number;
  skipped: number;
  boot: string;
}

const bundle = readBundle(signed);
/** Each board's fs region, kept for the independent check. */
const planFor = new Map<string, { address: number; bytes: Uint8Array }>();
const results = await Promise.all(boards.map((chip) => provision(chip)));

async function provision(chip: VirtualEsp32): Promise<Result> {
  const name = chip.options.name;
  return withBoard(`sim://${name}`, { reset: 'classic' }, async (session) => {
    const facts = await session.chipFacts();
    const deviceId = `esp32_${facts.mac.replace(/:/g, '').slice(-6).toUpperCase()}`;
    say(`${name}: ESP32 rev ${facts.revision.major}.${facts.revision.minor}, MAC ${facts.mac}, ${(facts.flash.sizeBytes ?? 0) / 1048576} MB flash → ${deviceId}`);
    const cert = await issueDeviceCert(ca, { cn: deviceId });
    const conf9 = {
      device: { id: deviceId },
      mqtt: { enable: true, server: 'mqtt.example.net:8883', ssl_cert: 'device.crt', ssl_key: 'device.key', ssl_ca_cert: 'ca.pem' },
      update: { key0: mgosPublicKeyConfig(signer.publicKeyPem), sig_req_mask: 1 },
      wifi: { ap: { enable: false } },
    };
    const text = (s: string) => new TextEncoder().encode(s);
    const plan = planFlash(bundle, {
      deviceFiles: {
        'conf9.json': text(JSON.stringify(conf9)),
        'device.crt': text(cert.chainPem),
        'device.key': text(cert.privateKeyPem),
        'ca.pem': text(ca.rootCertPem),
      },
      ...(facts.flash.sizeBytes ? { flashSize: facts.flash.sizeBytes } : {}),
    });
    const fsPlan = plan.find((r) => r.part === 'fs');
    if (fsPlan) planFor.set(deviceId, fsPlan);
    // Escrow a fresh key (flushed to disk), burn it read/write-protected, write the
    // firmware encrypted on the host, then turn the counter on — development mode.
    const enabled = await enableFlashEncryption(session, {
      mode: 'development',
      keystore,
      deviceId,
      regions: plan.map((r) => ({ address: r.address, bytes: r.bytes, encrypt: r.encrypt, name: r.part })),
      confirm: true,
      randomKey: (n) => new Uint8Array(randomBytes(n)),
    });
    const written = enabled.regions;
    await session.hardReset();
    const boot = await bootVerdict(chip);
    say(`${name}: key escrowed, eFuses burned (FLASH_CRYPT_CNT ${enabled.final.flashCryptCnt}), ${plan.length} regions written encrypted, certificate ${cert.serialHex.slice(0, 8)}…, boot: ${boot.trim()}`);
    return {
      board: name,
      mac: facts.mac,
      deviceId,
      serial: cert.serialHex,
      written: written.reduce((n, r) => n + r.sectorsWritten, 0),
      skipped: written.reduce((n, r) => n + r.sectorsSkipped, 0),
      boot: boot.trim(),
    };
  });
}

/** The boot log's last word on what the board would run, or why it cannot boot. */
async function bootVerdict(chip: VirtualEsp32): Promise<string> {
  for (let waited = 0; waited < 3000; waited += 50) {
    const line = chip.bootLog().split('\n').find((l) => /would run|cannot boot|boot failed/i.test(l));
    if (line) return line.replace(/^I \(\d+\) [\w-]+: /, '');
    await new Promise((r) => setTimeout(r, 50));
  }
  return 'no verdict in the boot log after 3 s';
}

console.log('\nboard    MAC                device id      sectors written/skipped  certificate serial');
for (const r of results) {
  console.log(`${r.board.padEnd(8)} ${r.mac.padEnd(18)} ${r.deviceId.padEnd(14)} ${`${r.written}/${r.skipped}`.padStart(23)}  ${r.serial}`);
}

// An independent check of board 1 with Espressif's tools over RFC 2217: espsecure
// encrypts our planned fs image with the escrowed key (exported as a technician would),
// esptool confirms the board holds exactly that ciphertext, espefuse shows the key
// protected and the counter odd, and the reference littlefs reads the plaintext.
const first = boards[0] as VirtualEsp32;
const firstResult = results[0] as Result;
const fsRegion = planFor.get(firstResult.deviceId);
if (!fsRegion) throw new Error('no fs region planned for board1');
const checkDir = mkdtempSync(join(tmpdir(), 'espfleet-demo-check-'));
const plainImage = join(checkDir, 'fs.img');
const keyFile = join(checkDir, 'board1.key');
writeFileSync(plainImage, fsRegion.bytes);
exportFlashKey(keystore, firstResult.mac, keyFile);
const encryptedImage = join(checkDir, 'fs.enc');
const sealed = await espsecure(['encrypt-flash-data', '--keyfile', keyFile, '--address', `0x${fsRegion.address.toString(16)}`, '--output', encryptedImage, plainImage]);
const server = new Rfc2217Server(first);
await server.listen();
const verify = await esptool(['--port', server.url, '--chip', 'esp32', 'verify-flash', `0x${fsRegion.address.toString(16)}`, encryptedImage]);
const efuses = await espefuse(['--port', server.url, '--chip', 'esp32', 'summary']);
await server.close();
const listing = await python(
  `import littlefs, sys\ndata = bytearray(open(sys.argv[1], 'rb').read())\nfs = littlefs.LittleFS(block_size=4096, block_count=len(data)//4096, mount=False)\nfs.context.buffer = data\nfs.mount()\nprint(' '.join(sorted(fs.listdir('/'))))\nprint(fs.open('conf9.json','r').read())`,
  [plainImage],
);
/** A field's summary line from espefuse, with its value line when espefuse wraps it. */
function efuseLine(field: string): string {
  const lines = efuses.stdout.split('\n');
  const at = lines.findIndex((l) => l.trimStart().startsWith(field));
  if (at < 0) return `${field}: not shown`;
  const text = /=/.test(lines[at] ?? '') ? (lines[at] ?? '') : `${lines[at] ?? ''} ${lines[at + 1] ?? ''}`;
  return text.replace(/\s+/g, ' ').trim();
}
console.log(`\nindependent check of board1 (${firstResult.deviceId}):`);
console.log(`  espsecure encrypt-flash-data + esptool verify-flash of fs_0: ${sealed.code === 0 && verify.code === 0 && /verify OK|digest matched/i.test(verify.stdout) ? 'board holds exactly the expected ciphertext' : `FAILED (espsecure ${sealed.code}, esptool ${verify.code})`}`);
console.log(`  espefuse: ${efuseLine('FLASH_CRYPT_CNT')}`);
console.log(`  espefuse: ${efuseLine('BLOCK1')}`);
console.log(`  littlefs-python lists: ${listing.stdout.split('\n')[0]}`);
console.log(`  conf9.json device.id: ${(JSON.parse(listing.stdout.split('\n')[1] ?? '{}') as { device?: { id?: string } }).device?.id}`);
// The plaintext image holds the device key and the key file the board's flash key; both
// existed only for this check.
rmSync(checkDir, { recursive: true, force: true });

for (const chip of boards) saveState(chip, join(workdir, 'boards', `${chip.options.name}.state`));
say(`board states saved under ${join(workdir, 'boards')}; restart one with: espfleet sim --state ${join(workdir, 'boards', 'board1.state')}`);
say('done');
