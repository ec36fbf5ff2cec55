// The station's acceptance test: eight virtual boards provisioned in parallel by
// `espfleet provision --station …` (development encryption) all succeed, and every board is
// then checked independently with Espressif's tools over RFC 2217 — espefuse shows BLOCK1
// read/write-protected and FLASH_CRYPT_CNT odd; esptool read-flash of the fs partition,
// decrypted by espsecure with the escrowed key, mounts in littlefs-python with the right
// conf9.json and a device.crt that openssl chains to the fleet CA. The registry and the
// audit log hold exactly one consistent provisioned entry per board, and `audit verify`
// passes on the log and fails on a copy with one line edited.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CA_FILES } from '../../certs/ca.ts';
import { readBundle } from '../../firmware-js/bundle/index.ts';
import { planFlash } from '../../firmware-js/flash-plan.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { Rfc2217Server, VirtualEsp32, registerSimBoard } from '../../hil-tests/index.ts';
import { espefuse, espsecure, esptool, expectOk, openssl, python } from '../../scripts/lib/oracles.ts';
import type { AuditEntry, DeviceRecord } from '../station/records.ts';
import { espfleet } from './cli-harness.ts';
import { writeStationFixture } from './station-fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-station-acceptance-'));
const unregister: Array<() => void> = [];
const servers: Rfc2217Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const u of unregister) u();
  rmSync(dir, { recursive: true, force: true });
});

const BOARDS = 8;
const MQTT_SERVER = 'mqtt.acceptance.example.net:8883';
const stationPath = join(dir, 'station.toml');
const caDir = join(dir, 'ca');

const boards = Array.from({ length: BOARDS }, (_, i) => {
  const chip = new VirtualEsp32({ name: `accept-${i + 1}-${process.pid}` });
  chip.powerOn();
  unregister.push(registerSimBoard(chip.options.name, chip));
  return { chip, url: `sim://${chip.options.name}` };
});

const demo = makeDemoFirmware({ version: '3.0.0', appSize: 0x18000 });
const fsRegion = planFlash(readBundle(demo.bundle)).find((r) => r.part === 'fs');

beforeAll(async () => {
  await writeStationFixture(dir, { id: 'acceptance-line', operator: 'acceptor', firmware: { bundle: demo.bundle }, mqttServer: MQTT_SERVER, encryption: 'development', ports: boards.map((b) => b.url) });
}, 60_000);

/** One field's summary from `espefuse summary`, with its wrapped continuation lines. */
function fuseLine(summary: string, field: string): string {
  const lines = summary.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`${field} (`));
  if (at < 0) throw new Error(`espefuse summary has no ${field}:\n${summary}`);
  return lines.slice(at, at + 3).join(' ');
}

/** Mounts a plaintext littlefs image; prints the listing, then conf9.json, and saves device.crt. */
const LITTLEFS_READ = `import littlefs, sys, json
data = bytearray(open(sys.argv[1], 'rb').read())
fs = littlefs.LittleFS(block_size=4096, block_count=len(data)//4096, mount=False)
fs.context.buffer = data
fs.mount()
print(json.dumps(sorted(fs.listdir('/'))))
print(json.dumps(json.loads(fs.open('conf9.json', 'r').read())))
open(sys.argv[2], 'w').write(fs.open('device.crt', 'r').read())`;

interface ProvisionRow {
  port: string;
  deviceId: string | null;
  mac: string | null;
  result: string;
  record: DeviceRecord | null;
}

interface BoardCheck {
  url: string;
  deviceId: string;
  mac: string;
  block1: string;
  flashCryptCnt: number;
  files: string[];
  conf9: { device?: { id?: string }; mqtt?: { server?: string } };
  certCn: string | undefined;
  certSerial: string | undefined;
  verify: string;
}

const portFree = () => new Promise((r) => setTimeout(r, 300));

describe('station acceptance: eight boards in parallel, checked with Espressif tools', () => {
  it('provisions eight boards with development encryption; each checks out with espefuse, esptool, espsecure, littlefs and openssl; registry and audit agree', async () => {
    expect(fsRegion, 'the demo bundle has an fs part').toBeDefined();
    const fs = fsRegion!;
    expect(fs.address).toBe(0x190000);
    expect(fs.bytes.length).toBe(0x40000);

    const t0 = Date.now();
    const r = await espfleet(['provision', '--station', stationPath, '--json']);
    const provisionSeconds = (Date.now() - t0) / 1000;
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as ProvisionRow[];
    expect(rows).toHaveLength(BOARDS);
    expect(rows.map((x) => x.port).sort()).toEqual(boards.map((b) => b.url).sort());
    for (const row of rows) {
      expect(row.result, `${row.port}: ${JSON.stringify(row)}`).toBe('provisioned');
      expect(row.deviceId).toMatch(/^esp32_[0-9A-F]{6}$/);
      expect(row.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      expect(row.record).toMatchObject({ status: 'provisioned', deviceId: row.deviceId, mac: row.mac, encryptionMode: 'development' });
    }
    expect(new Set(rows.map((x) => x.deviceId)).size).toBe(BOARDS);
    expect(new Set(rows.map((x) => x.mac)).size).toBe(BOARDS);
    for (const b of boards) expect(b.chip.flashEncryptionEnabled(), b.url).toBe(true);

    // The escrowed keys, exported one after another as a technician would (each export is logged).
    const byPort = new Map(rows.map((x) => [x.port, x]));
    const keyFiles = new Map<string, string>();
    for (const [i, b] of boards.entries()) {
      const row = byPort.get(b.url)!;
      const keyFile = join(dir, `board${i + 1}.key`);
      const exp = await espfleet(['keystore', 'export', '--keystore', join(dir, 'keys.json'), '--keystore-key-file', join(dir, 'keystore.key'), '--mac', row.mac!, '--out', keyFile]);
      expect(exp.code, exp.stderr).toBe(0);
      keyFiles.set(b.url, keyFile);
    }

    // The oracles, all boards at once: per board espefuse summary, then esptool read-flash
    // over its own RFC 2217 server, then espsecure, littlefs-python and openssl.
    const fsAddress = `0x${fs.address.toString(16)}`;
    const fsSize = `0x${fs.bytes.length.toString(16)}`;
    const t1 = Date.now();
    const checks = await Promise.all(
      boards.map(async (b, i): Promise<BoardCheck> => {
        const row = byPort.get(b.url)!;
        const server = new Rfc2217Server(b.chip);
        servers.push(server);
        const url = await server.listen();
        const summary = expectOk(await espefuse(['--port', url, '--chip', 'esp32', 'summary'], { timeoutMs: 240_000 }), `${b.url}: espefuse summary`);
        await portFree();
        const enc = join(dir, `fs${i + 1}.enc`);
        const plain = join(dir, `fs${i + 1}.img`);
        const crt = join(dir, `device${i + 1}.crt`);
        expectOk(await esptool(['--port', url, '--chip', 'esp32', '--baud', '921600', 'read-flash', fsAddress, fsSize, enc], { timeoutMs: 240_000 }), `${b.url}: esptool read-flash`);
        await server.close();
        const cipher = new Uint8Array(readFileSync(enc));
        expect(cipher.length).toBe(fs.bytes.length);
        expectOk(await espsecure(['decrypt-flash-data', '--keyfile', keyFiles.get(b.url)!, '--address', fsAddress, '--output', plain, enc]), `${b.url}: espsecure decrypt-flash-data`);
        // Ciphertext on flash, plaintext after decryption.
        expect(Buffer.from(cipher).equals(readFileSync(plain)), `${b.url}: fs is encrypted on flash`).toBe(false);
        const [files = '[]', conf9 = '{}'] = expectOk(await python(LITTLEFS_READ, [plain, crt]), `${b.url}: littlefs-python`).split('\n');
        const subject = expectOk(await openssl(['x509', '-in', crt, '-noout', '-subject', '-serial', '-nameopt', 'RFC2253']), `${b.url}: openssl x509`);
        const verify = await openssl(['verify', '-CAfile', join(caDir, CA_FILES.rootCert), '-untrusted', join(caDir, CA_FILES.intermediateCert), crt]);
        const cnt = /=\s*(\d+)\s/.exec(fuseLine(summary, 'FLASH_CRYPT_CNT'))?.[1];
        return {
          url: b.url,
          deviceId: row.deviceId!,
          mac: row.mac!,
          block1: fuseLine(summary, 'BLOCK1'),
          flashCryptCnt: cnt === undefined ? Number.NaN : Number(cnt),
          files: JSON.parse(files) as string[],
          conf9: JSON.parse(conf9) as BoardCheck['conf9'],
          certCn: /CN\s*=\s*([^,\n/]+)/.exec(subject)?.[1]?.trim(),
          certSerial: /serial=([0-9A-Fa-f]+)/.exec(subject)?.[1],
          verify: `${verify.code} ${verify.stdout}${verify.stderr}`.trim(),
        };
      }),
    );
    const oracleSeconds = (Date.now() - t1) / 1000;
    // Set SHOW=1 to see what the oracles reported.
    if (process.env.SHOW) console.log(JSON.stringify(checks, null, 1));

    const normSerial = (s: string | null | undefined) => s?.toLowerCase().replace(/^0+/, '');
    for (const c of checks) {
      expect(c.block1, c.url).toMatch(/^BLOCK1 \(BLOCK1\)\s+Flash encryption key\s+= (\?\? ){31}\?\? -\/-/);
      expect(c.flashCryptCnt % 2, `${c.url}: FLASH_CRYPT_CNT ${c.flashCryptCnt} is odd`).toBe(1);
      expect(c.files, c.url).toEqual(expect.arrayContaining(['conf9.json', 'device.crt']));
      expect(c.conf9.device?.id, c.url).toBe(c.deviceId);
      expect(c.conf9.mqtt?.server, c.url).toBe(MQTT_SERVER);
      expect(c.certCn, c.url).toBe(c.deviceId);
      expect(c.verify, c.url).toMatch(/^0 .*: OK/);
      expect(normSerial(c.certSerial), c.url).toBe(normSerial(byPort.get(c.url)!.record!.certSerial));
    }

    // The registry: exactly one provisioned record per board, matching what provision reported.
    const list = await espfleet(['devices', 'list', '--station', stationPath, '--json']);
    expect(list.code, list.stderr).toBe(0);
    const records = JSON.parse(list.stdout) as DeviceRecord[];
    expect(records).toHaveLength(BOARDS);
    for (const c of checks) {
      const mine = records.filter((rec) => rec.deviceId === c.deviceId);
      expect(mine, c.deviceId).toHaveLength(1);
      expect(mine[0]).toMatchObject({
        mac: c.mac,
        status: 'provisioned',
        encryptionMode: 'development',
        firmwareVersion: '3.0.0',
        station: 'acceptance-line',
        operator: 'acceptor',
        reason: null,
      });
      expect(normSerial(mine[0]!.certSerial)).toBe(normSerial(c.certSerial));
    }

    // The audit log: exactly one provision.done per board, naming the same MAC, port and certificate.
    const auditPath = join(dir, 'audit.jsonl');
    const lines = readFileSync(auditPath, 'utf8').trimEnd().split('\n');
    const entries = lines.map((l) => JSON.parse(l) as AuditEntry);
    const done = entries.filter((e) => e.action === 'provision.done');
    expect(done).toHaveLength(BOARDS);
    expect(entries.filter((e) => e.action === 'provision.failed')).toHaveLength(0);
    for (const c of checks) {
      const mine = done.filter((e) => e.subject.deviceId === c.deviceId);
      expect(mine, c.deviceId).toHaveLength(1);
      expect(mine[0]!.subject.mac).toBe(c.mac);
      expect(mine[0]!.details).toMatchObject({ port: c.url, station: 'acceptance-line', encryptionMode: 'development', firmwareVersion: '3.0.0' });
      expect(normSerial(mine[0]!.details?.certSerial as string | undefined)).toBe(normSerial(c.certSerial));
    }

    // audit verify: intact as written; a copy with one line edited is caught at that line.
    const verify = await espfleet(['audit', 'verify', '--station', stationPath]);
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`^audit log intact: ${lines.length} entries .*; matches the anchor in `));
    const doneLine = lines.findIndex((l) => (JSON.parse(l) as AuditEntry).action === 'provision.done');
    expect(lines[doneLine]).toContain('"acceptor"');
    const edited = lines.map((l, i) => (i === doneLine ? l.replace('"acceptor"', '"intruder"') : l));
    const copy = join(dir, 'audit-edited.jsonl');
    writeFileSync(copy, `${edited.join('\n')}\n`);
    const broken = await espfleet(['audit', 'verify', '--audit-log', copy]);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(new RegExp(`^audit log BROKEN at line ${doneLine + 1}:`));
    // The unedited copy still verifies: the failure is the edit, not the copying.
    const clean = join(dir, 'audit-copy.jsonl');
    copyFileSync(auditPath, clean);
    copyFileSync(`${auditPath}.head`, `${clean}.head`); // a log without its head is a finding
    expect((await espfleet(['audit', 'verify', '--audit-log', clean])).code).toBe(0);

    console.log(`${BOARDS} boards provisioned in ${provisionSeconds.toFixed(1)} s; oracles for all ${BOARDS} in ${oracleSeconds.toFixed(1)} s`);
  }, 300_000);
});
