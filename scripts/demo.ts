// The demo on virtual boards: a fleet CA, a keystore, a signed Mongoose OS bundle and a
// station.toml naming them, then N virtual ESP32s provisioned in parallel by the factory
// station (openStation + runStation: resumable, journaled, with a registry and a
// hash-chained audit log) — each gets its own key, certificate and conf9.json, a fresh
// flash-encryption key escrowed before any eFuse is burned, pre-encrypted firmware, and a
// boot check. One board is then checked independently with Espressif's esptool, espsecure
// and espefuse and the reference littlefs.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { planFlash } from '../firmware-js/flash-plan.ts';
import { Rfc2217Server, VirtualEsp32, registerSimBoard, saveState } from '../hil-tests/virtual-esp32/index.ts';
import { exportFlashKey } from '../provisioner/encryption/index.ts';
import { loadStationConfig } from '../provisioner/station/config.ts';
import { verifyAuditLog } from '../provisioner/station/audit-log.ts';
import { openStation } from '../provisioner/station/open-station.ts';
import { renderSummary, runStation } from '../provisioner/station/runner.ts';
import { createDemoStation } from './lib/demo-station.ts';
import { espefuse, espsecure, esptool, openssl, python } from './lib/oracles.ts';

const { values } = parseArgs({
  options: { workdir: { type: 'string' }, boards: { type: 'string', default: '4' }, help: { type: 'boolean' } },
});
if (values.help) {
  console.log(`usage: scripts/demo [--workdir <dir>] [--boards N]

Creates a CA, a keystore, a signed demo bundle and a station.toml naming them in <dir>
(default: a new temp dir), starts N virtual ESP32 boards (sim://board1…), provisions
them in parallel through the factory station (identity, escrowed flash encryption,
firmware, boot check, registry, audit log), and checks one with esptool, espsecure,
espefuse, openssl and littlefs-python. The CA and keystore passphrases come from
$ESPFLEET_CA_PASSPHRASE / $ESPFLEET_KEYSTORE_PASSPHRASE when set; otherwise they are
generated and kept in <dir>/passphrases.env (mode 0600). Afterwards, e.g.:
  set -a; . <dir>/passphrases.env; set +a
  espfleet devices list --station <dir>/station.toml
  espfleet audit verify --station <dir>/station.toml
  espfleet keystore export --keystore <dir>/keystore.json --mac <MAC> --out board.key
Board states are saved under <dir>/boards/; restart one with: espfleet sim --state <dir>/boards/board1.state`);
  process.exit(0);
}
const boardCount = Number(values.boards);
const workdir = resolve(values.workdir ?? mkdtempSync(join(tmpdir(), 'espfleet-demo-')));
mkdirSync(join(workdir, 'boards'), { recursive: true });
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`.padStart(6);
const say = (line: string) => console.log(`[${elapsed()}] ${line}`);

say(`work directory ${workdir}`);
const boards = Array.from({ length: boardCount }, (_, i) => {
  const chip = new VirtualEsp32({ name: `board${i + 1}` });
  chip.powerOn();
  registerSimBoard(chip.options.name, chip);
  return chip;
});
say(`${boardCount} virtual ESP32 boards powered on as ${boards.map((c) => `sim://${c.options.name}`).join(', ')}`);

const { stationPath, env, passphrasesFile, usage } = await createDemoStation({
  workdir,
  ports: boards.map((c) => `sim://${c.options.name}`),
  encryption: 'development',
  say,
});

const config = loadStationConfig(stationPath);
const station = await openStation(config, { env });
say('station opened: CA and keystore unlocked, registry and audit log open, bundle signature checked');
const outcomes = await runStation(station.ctx, config.ports.urls, { onLine: say });
console.log('');
for (const line of renderSummary(outcomes)) console.log(line);
const failed = outcomes.filter((o) => !o.ok);
if (failed.length > 0) {
  await station.close();
  throw new Error(`${failed.length} board(s) failed: ${failed.map((o) => `${o.portUrl}: ${o.error?.message}`).join('; ')}`);
}

// An independent check of board 1 with Espressif's tools over RFC 2217: esptool reads
// the fs partition back as the board holds it (ciphertext), espsecure decrypts it with the
// escrowed key (exported as a technician would), the reference littlefs reads the
// plaintext, openssl reads the device certificate in it, and espefuse shows the key
// protected and the counter odd. All of it must agree with the registry.
const first = boards[0] as VirtualEsp32;
const firstOutcome = outcomes[0];
if (!firstOutcome?.record || !firstOutcome.mac) throw new Error('board1 has no registry record');
const fsRegion = planFlash(station.ctx.bundle).find((r) => r.part === 'fs');
if (!fsRegion) throw new Error('the demo bundle has no fs part');
const fsAddress = `0x${fsRegion.address.toString(16)}`;
const checkDir = mkdtempSync(join(tmpdir(), 'espfleet-demo-check-'));
const encryptedImage = join(checkDir, 'fs.enc');
const plainImage = join(checkDir, 'fs.img');
const keyFile = join(checkDir, 'board1.key');
exportFlashKey(station.ctx.keystore, firstOutcome.mac, keyFile);
const server = new Rfc2217Server(first);
await server.listen();
const readBack = await esptool(['--port', server.url, '--chip', 'esp32', 'read-flash', fsAddress, `0x${fsRegion.bytes.length.toString(16)}`, encryptedImage]);
const efuses = await espefuse(['--port', server.url, '--chip', 'esp32', 'summary']);
await server.close();
const unsealed = await espsecure(['decrypt-flash-data', '--keyfile', keyFile, '--address', fsAddress, '--output', plainImage, encryptedImage]);
const listing = await python(
  `import littlefs, sys\ndata = bytearray(open(sys.argv[1], 'rb').read())\nfs = littlefs.LittleFS(block_size=4096, block_count=len(data)//4096, mount=False)\nfs.context.buffer = data\nfs.mount()\nprint(' '.join(sorted(fs.listdir('/'))))\nprint(fs.open('conf9.json','r').read())\nopen(sys.argv[2], 'w').write(fs.open('device.crt','r').read())`,
  [plainImage, join(checkDir, 'device.crt')],
);
const certText = await openssl(['x509', '-in', join(checkDir, 'device.crt'), '-noout', '-subject', '-serial']);
/** A field's summary line from espefuse, with its value line when espefuse wraps it. */
function efuseLine(field: string): string {
  const lines = efuses.stdout.split('\n');
  const at = lines.findIndex((l) => l.trimStart().startsWith(field));
  if (at < 0) return `${field}: not shown`;
  const text = /=/.test(lines[at] ?? '') ? (lines[at] ?? '') : `${lines[at] ?? ''} ${lines[at + 1] ?? ''}`;
  return text.replace(/\s+/g, ' ').trim();
}
const record = firstOutcome.record;
const conf9 = JSON.parse(listing.stdout.split('\n')[1] ?? '{}') as { device?: { id?: string } };
const certSerial = /serial=([0-9A-Fa-f]+)/.exec(certText.stdout)?.[1]?.toLowerCase().replace(/^0+/, '');
const agrees = (ok: boolean) => (ok ? 'agrees with the registry' : 'DIFFERS from the registry');
console.log(`\nindependent check of board1 (${record.deviceId}):`);
console.log(`  esptool read-flash ${fsAddress} + espsecure decrypt-flash-data with the escrowed key: ${readBack.code === 0 && unsealed.code === 0 && listing.code === 0 ? 'a littlefs image' : `FAILED (esptool ${readBack.code}, espsecure ${unsealed.code}, littlefs ${listing.code}: ${listing.stderr.trim().split('\n').at(-1)})`}`);
console.log(`  littlefs-python lists: ${listing.stdout.split('\n')[0]}`);
console.log(`  conf9.json device.id: ${conf9.device?.id} — ${agrees(conf9.device?.id === record.deviceId)}`);
console.log(`  openssl: device.crt ${certText.stdout.trim().replace(/\s*\n\s*/g, ', ')} — ${agrees(certSerial !== undefined && certSerial === record.certSerial?.toLowerCase().replace(/^0+/, ''))}`);
console.log(`  espefuse: ${efuseLine('FLASH_CRYPT_CNT')}`);
console.log(`  espefuse: ${efuseLine('BLOCK1')}`);
const auditCheck = verifyAuditLog(config.paths.audit);
console.log(`  audit log: ${auditCheck.ok ? `intact, ${auditCheck.entries} entries` : `BROKEN at line ${auditCheck.problem?.line}`} (${config.paths.audit})`);
// The images hold the device key and the key file the board's flash key; all of them
// existed only for this check.
rmSync(checkDir, { recursive: true, force: true });
await station.close();

for (const chip of boards) saveState(chip, join(workdir, 'boards', `${chip.options.name}.state`));
say(`board states saved under ${join(workdir, 'boards')}; restart one with: espfleet sim --state ${join(workdir, 'boards', 'board1.state')}`);
say('done');
console.log(`\nthe station stays usable${passphrasesFile ? ` (its generated passphrases are in ${passphrasesFile}, mode 0600)` : ''}; e.g. board1 is ${firstOutcome.mac}:`);
for (const line of usage) console.log(`  ${line.replace('<MAC>', firstOutcome.mac)}`);
