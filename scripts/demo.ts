// The demo on virtual boards: a fleet CA, a signed Mongoose OS bundle, and N virtual
// ESP32s flashed in parallel over their ROM loaders, each with its own key,
// certificate and conf9.json, then booted — and one board checked independently
// with Espressif's esptool and the reference littlefs.
// Until the factory station lands this drives the library directly and leaves
// flash encryption off; the station replaces the per-board steps here.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initCa, issueDeviceCert, type Ca } from '../certs/index.ts';
import { generateSigningKey, readBundle, signBundle, verifyBundle, mgosPublicKeyConfig } from '../firmware-js/bundle/index.ts';
import { planFlash } from '../firmware-js/flash-plan.ts';
import { makeDemoFirmware } from '../firmware-js/testgen/demo-firmware.ts';
import { Rfc2217Server, VirtualEsp32, registerSimBoard, saveState } from '../hil-tests/virtual-esp32/index.ts';
import { withBoard } from '../provisioner/session/index.ts';
import { esptool, python } from './lib/oracles.ts';

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
    const written = await session.writeRegions(plan.map((r) => ({ address: r.address, bytes: r.bytes, name: r.part })));
    await session.hardReset();
    const boot = await bootVerdict(chip);
    say(`${name}: flashed ${plan.length} regions, certificate ${cert.serialHex.slice(0, 8)}…, boot: ${boot.trim()}`);
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

// An independent check of board 1: Espressif's esptool (over RFC 2217) confirms the board
// holds exactly the fs image we planned for it, and the reference littlefs reads that image.
const first = boards[0] as VirtualEsp32;
const firstResult = results[0] as Result;
const fsRegion = planFor.get(firstResult.deviceId);
if (!fsRegion) throw new Error('no fs region planned for board1');
const fsImage = join(workdir, 'board1-fs.img');
writeFileSync(fsImage, fsRegion.bytes);
const server = new Rfc2217Server(first);
await server.listen();
const verify = await esptool(['--port', server.url, '--chip', 'esp32', 'verify-flash', `0x${fsRegion.address.toString(16)}`, fsImage]);
await server.close();
const listing = await python(
  `import littlefs, sys\ndata = bytearray(open(sys.argv[1], 'rb').read())\nfs = littlefs.LittleFS(block_size=4096, block_count=len(data)//4096, mount=False)\nfs.context.buffer = data\nfs.mount()\nprint(' '.join(sorted(fs.listdir('/'))))\nprint(fs.open('conf9.json','r').read())`,
  [fsImage],
);
console.log(`\nindependent check of board1 (${firstResult.deviceId}):`);
console.log(`  esptool verify-flash of the fs partition: ${verify.code === 0 && /verify OK|digest matched/i.test(verify.stdout) ? 'OK' : `FAILED (exit ${verify.code})`}`);
console.log(`  littlefs-python lists: ${listing.stdout.split('\n')[0]}`);
console.log(`  conf9.json device.id: ${(JSON.parse(listing.stdout.split('\n')[1] ?? '{}') as { device?: { id?: string } }).device?.id}`);
// The fs image holds the device key in clear; it was only needed for the check.
rmSync(fsImage);

for (const chip of boards) saveState(chip, join(workdir, 'boards', `${chip.options.name}.state`));
say(`board states saved under ${join(workdir, 'boards')}; restart one with: espfleet sim --state ${join(workdir, 'boards', 'board1.state')}`);
say('done');
