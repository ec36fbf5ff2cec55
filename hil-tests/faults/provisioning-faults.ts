// The provisioning flow of the fault matrix (fault-matrix.ts): `espfleet provision` with a
// station that turns on development flash encryption, on fresh virtual ESP32s, each cut at
// one named point — power (a USB-powered board: power and port go together), line noise on
// the UART, or the station's own process killed. The recovery the product prescribes is the
// same command run again on the same port (docs/factory.md); then the board must boot the
// station's firmware, and the registry, the keystore escrow, the CA index, the audit chain
// and the board's own flash must agree.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCaRecords, openKeystore } from '../../certs/index.ts';
import { readBundle } from '../../firmware-js/bundle/index.ts';
import { decryptFlash, expandFlashKey } from '../../firmware-js/flash-encryption/index.ts';
import { planFlash, type FlashRegion } from '../../firmware-js/flash-plan.ts';
import { openLittlefs } from '../../firmware-js/littlefs/index.ts';
import { keyToBlockWords } from '../../provisioner/encryption/index.ts';
import { espfleet, type CliRun } from '../../provisioner/test/cli-harness.ts';
import { spawnCli } from '../../provisioner/test/cli-child.ts';
import { writeStationFixture, type StationFixture } from '../../provisioner/test/station-fixture.ts';
import { Rfc2217Server, VirtualEsp32, registerSimBoard } from '../virtual-esp32/index.ts';
import { check, verdictFor, type FaultPoint, type PointVerdict } from './fault-matrix.ts';

const VERSION = '2.0.0';

/** What a point gets to arm its fault on its board before the first run. */
interface Arming {
  chip: VirtualEsp32;
  url: string;
  /** The flash plan the station writes (to find a region's sectors). */
  plan: readonly FlashRegion[];
  /** Cuts the board's power (and with it its USB port), once; records why. */
  cutPower(why: string): void;
  /** For line faults and process kills: says the fault fired. */
  fired(why: string): void;
  /** Sees each progress line the station prints for this board. */
  onProgress(listener: (line: string) => void): void;
  /** For process kills: kills the station process, once. */
  killStation(why: string): void;
}

export interface ProvisioningPoint extends FaultPoint {
  /** The station runs as its own process on an RFC 2217 port, so it can be killed. */
  ownProcess?: true;
  arm(a: Arming): void;
}

const sectorStart = (o: number) => o - (o % 0x1000);
/** True once the first 16 bytes of the sector at `address` are no longer erased (written). */
const written = (chip: VirtualEsp32, address: number) => !chip.flash.bytes.subarray(address, address + 16).every((b) => b === 0xff);

/** At the first flash commit after which `sector(region)` holds data: the cut lands right after that write. */
function atSector(part: string, where: 'first' | 'middle' | 'last'): (a: Arming) => void {
  return (a) => {
    const r = a.plan.find((x) => x.part === part);
    if (!r) throw new Error(`the station's plan has no ${part} region`);
    const last = sectorStart(r.bytes.length - 1);
    const offset = where === 'first' ? 0 : where === 'middle' ? sectorStart(Math.floor(r.bytes.length / 2)) : last;
    const off = a.chip.onCommit((op) => {
      if (op.startsWith('FLASH_') && written(a.chip, r.address + offset)) {
        off();
        a.cutPower(`after ${op} wrote ${part} 0x${(r.address + offset).toString(16)}`);
      }
    });
  };
}

/** At the PGM after which `burned(chip)` holds: the eFuse is programmed, the host never hears back. */
function atBurn(field: string, burned: (chip: VirtualEsp32) => boolean): (a: Arming) => void {
  return (a) => {
    const off = a.chip.onCommit((op) => {
      if (op === 'EFUSE_PGM' && burned(a.chip)) {
        off();
        a.cutPower(`right after the PGM that burned ${field}`);
      }
    });
  };
}

/** At the station's progress line for this board matching `line`. */
function atLine(line: RegExp): (a: Arming) => void {
  return (a) => {
    let done = false;
    a.onProgress((l) => {
      if (done || !line.test(l)) return;
      done = true;
      a.cutPower(`at "${l.replace(/^\[[^\]]+\]\s*/, '').trim().slice(0, 60)}"`);
    });
  };
}

/** UART noise (bytes dropped and bit-flipped both ways) from one event to another. */
function noise(from: (a: Arming, on: () => void) => void, until: (a: Arming, off: () => void) => void, seed: number): (a: Arming) => void {
  return (a) => {
    from(a, () => {
      a.chip.setLineFaults({ dropRate: 2e-4, corruptRate: 2e-4, seed });
      a.fired('UART noise on');
    });
    until(a, () => a.chip.setLineFaults(undefined));
  };
}
const onLine = (re: RegExp) => (a: Arming, f: () => void) => {
  let done = false;
  a.onProgress((l) => !done && re.test(l) && ((done = true), f()));
};
const onFirstCommit = (prefix: string) => (a: Arming, f: () => void) => {
  const off = a.chip.onCommit((op) => op.startsWith(prefix) && (off(), f()));
};
const atPowerOn = (a: Arming, f: () => void) => f();

const blk1 = (c: VirtualEsp32) => Array.from(c.efuse.hardwareBlockWords(1)).some((w) => w !== 0);
const field = (name: string) => (c: VirtualEsp32) => c.efuse.hardwareField(name);

/** Kills the station while a board's flash is being written: at a commit matching `when`. */
function killAt(when: (op: string, chip: VirtualEsp32) => boolean, what: string): (a: Arming) => void {
  return (a) => {
    const off = a.chip.onCommit((op) => {
      if (when(op, a.chip)) {
        off();
        a.killStation(what);
      }
    });
  };
}

export const PROVISIONING_POINTS: readonly ProvisioningPoint[] = [
  { name: 'provisioning/connect/sync', kind: 'power-loss', what: 'power lost while the host syncs with the ROM loader (600 bytes in): nothing of the board exists yet', arm: (a) => a.chip.injectPowerLoss({ afterRxBytes: 600 }) },
  { name: 'provisioning/connect/stub-upload', kind: 'power-loss', what: 'power lost at the second MEM_DATA of the flasher stub upload', arm: (a) => a.chip.injectPowerLoss({ atCommand: 'MEM_DATA', occurrence: 2 }) },
  { name: 'provisioning/identify/after-identify', kind: 'power-loss', what: 'power lost once the board is identified (journal started, no certificate yet)', arm: atLine(/identify: /) },
  { name: 'provisioning/plan/after-certificate-issued', kind: 'power-loss', what: 'power lost after the CA issued the certificate and the plan was made, before any write: the certificate must be revoked by the re-run', arm: atLine(/plan: /) },
  { name: 'provisioning/escrow/key-escrowed-before-burn', kind: 'power-loss', what: 'power lost after the flash-encryption key is escrowed, before the first eFuse PGM', arm: atLine(/escrowing a new flash-encryption key/) },
  { name: 'provisioning/efuse-burn/BLK1', kind: 'power-loss', what: 'power lost right after the PGM that burned the key into BLK1', arm: atBurn('BLK1', blk1) },
  { name: 'provisioning/efuse-burn/FLASH_CRYPT_CONFIG', kind: 'power-loss', what: 'power lost right after the PGM that burned FLASH_CRYPT_CONFIG = 0xF', arm: atBurn('FLASH_CRYPT_CONFIG', (c) => field('FLASH_CRYPT_CONFIG')(c) === 0xf) },
  { name: 'provisioning/efuse-burn/RD_DIS+WR_DIS', kind: 'power-loss', what: 'power lost right after the PGM that read- and write-protected BLK1 (key hidden from the host)', arm: atBurn('RD_DIS bit 0', (c) => (field('RD_DIS')(c) & 1) === 1) },
  { name: 'provisioning/flash/bootloader/middle-sector', kind: 'power-loss', what: 'power lost in the middle of the pre-encrypted bootloader write', arm: atSector('boot', 'middle') },
  { name: 'provisioning/flash/partition-table', kind: 'power-loss', what: 'power lost right after the partition table sector was written', arm: atSector('pt', 'first') },
  { name: 'provisioning/flash/otadata', kind: 'power-loss', what: 'power lost right after the otadata sector was written', arm: atSector('otadata', 'first') },
  { name: 'provisioning/flash/app/first-sector', kind: 'power-loss', what: 'power lost after the first sector of the app', arm: atSector('app', 'first') },
  { name: 'provisioning/flash/app/middle-sector', kind: 'power-loss', what: 'power lost in the middle of the app', arm: atSector('app', 'middle') },
  { name: 'provisioning/flash/app/last-sector', kind: 'power-loss', what: 'power lost after the last sector of the app', arm: atSector('app', 'last') },
  { name: 'provisioning/flash/fs/first-sector', kind: 'power-loss', what: 'power lost after the first sector of the fs image (the device identity)', arm: atSector('fs', 'first') },
  { name: 'provisioning/flash/fs/middle-sector', kind: 'power-loss', what: 'power lost in the middle of the fs image', arm: atSector('fs', 'middle') },
  { name: 'provisioning/flash/fs/last-sector', kind: 'power-loss', what: 'power lost after the last sector of the fs image, before FLASH_CRYPT_CNT', arm: atSector('fs', 'last') },
  { name: 'provisioning/efuse-burn/FLASH_CRYPT_CNT/before-pgm', kind: 'power-loss', what: 'power lost with every region written, just before the counter burn (encryption still off)', arm: atLine(/burning FLASH_CRYPT_CNT/) },
  { name: 'provisioning/efuse-burn/FLASH_CRYPT_CNT', kind: 'power-loss', what: 'power lost right after the PGM that burned FLASH_CRYPT_CNT odd (encryption on, the host never heard)', arm: atBurn('FLASH_CRYPT_CNT', (c) => c.flashEncryptionEnabled()) },
  {
    name: 'provisioning/boot-check/first-boot',
    kind: 'power-loss',
    what: 'power lost while the station watches the first boot (the app verdict printed)',
    arm: (a) => {
      let tail = '';
      const off = a.chip.onTransmit((b) => {
        tail = (tail + Buffer.from(b).toString('latin1')).slice(-300);
        if (a.chip.flashEncryptionEnabled() && /would run app/.test(tail)) {
          off();
          setImmediate(() => a.cutPower('at the first boot verdict'));
        }
      });
    },
  },
  { name: 'provisioning/line/noise-during-connect', kind: 'line-fault', what: 'UART bytes dropped and corrupted (~1 in 2500 each way) from power-on until the board is identified', arm: noise(atPowerOn, onLine(/identify: /), 11) },
  { name: 'provisioning/line/noise-during-efuse-burn', kind: 'line-fault', what: 'UART noise from the key escrow until the first flash write (the eFuse register writes)', arm: noise(onLine(/escrowing a new flash-encryption key/), onFirstCommit('FLASH_DEFL_DATA'), 12) },
  { name: 'provisioning/line/noise-during-flash-write', kind: 'line-fault', what: 'UART noise through the pre-encrypted flash write', arm: noise(onFirstCommit('FLASH_DEFL_DATA'), onLine(/burning FLASH_CRYPT_CNT/), 13) },
  { name: 'provisioning/station-killed/after-BLK1-burn', kind: 'process-kill', ownProcess: true, what: 'the station process SIGKILLed right after BLK1 was burned (its locks and journal left as a crash leaves them)', arm: killAt((op, c) => op === 'EFUSE_PGM' && blk1(c), 'after the BLK1 PGM') },
  { name: 'provisioning/station-killed/mid-app-write', kind: 'process-kill', ownProcess: true, what: 'the station process SIGKILLed while it writes the app', arm: killAt((op, c) => op.startsWith('FLASH_') && written(c, 0x10000 + 0x8000), 'in the middle of the app write') },
  { name: 'provisioning/station-killed/at-boot-check', kind: 'process-kill', ownProcess: true, what: 'the station process SIGKILLed once FLASH_CRYPT_CNT is burned, during the boot check, before the record', arm: killAt((op, c) => op === 'EFUSE_PGM' && c.flashEncryptionEnabled(), 'after the FLASH_CRYPT_CNT PGM') },
];

interface BoardUnderFault {
  point: ProvisioningPoint;
  chip: VirtualEsp32;
  /** sim:// in this process; for station-kill points the board's RFC 2217 port (the same port for the re-run). */
  url: string;
  verdict: PointVerdict;
  progress: Array<(line: string) => void>;
  first?: Row;
  final?: Row;
  server?: Rfc2217Server;
  kill?: () => void;
  dispose: () => void;
}

interface Row {
  port: string;
  result: string;
  deviceId: string | null;
  mac: string | null;
  reason?: string | null;
}

export interface ProvisioningFaultOptions {
  /** Only these points (by name); default all. */
  only?: (p: FaultPoint) => boolean;
  log?: (line: string) => void;
  /** Runs on each board after the recovery, before the judging: the matrix's own test breaks boards here to show the judge sees it. */
  beforeJudge?: (chip: VirtualEsp32, point: FaultPoint, plan: readonly FlashRegion[]) => void;
}

export async function runProvisioningFaults(opts: ProvisioningFaultOptions = {}): Promise<PointVerdict[]> {
  const log = opts.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'espfleet-faults-provisioning-'));
  try {
    const station = await writeStationFixture(dir, { id: 'faults-line', firmware: { version: VERSION, appSize: 0x18000 }, encryption: 'development' });
    const plan = planFlash(readBundle(new Uint8Array(readFileSync(join(dir, 'fw.zip')))));
    const points = PROVISIONING_POINTS.filter(opts.only ?? (() => true));
    const boards = points.map((p, i) => armBoard(p, i, plan));
    try {
      // In-process points: one `espfleet provision` for all their boards at once, as a station with many ports.
      const inProcess = boards.filter((b) => !b.point.ownProcess);
      if (inProcess.length > 0) {
        const first = await provision(station, inProcess);
        for (const b of inProcess) b.first = first.find((r) => r.port === b.url);
      }
      // Station-kill points: the station as its own process, killed at the point, one board at a time.
      for (const b of boards.filter((x) => x.point.ownProcess)) await killedRun(station, b);
      log(`provisioning: first runs done (${boards.filter((b) => b.verdict.fired).length}/${boards.length} faults fired)`);
      // Power and line back, then the prescribed recovery: the same command on the same ports.
      for (const b of boards) {
        b.chip.setLineFaults(undefined);
        if (b.chip.state === 'off' || b.chip.state === 'dead') b.chip.powerOn();
      }
      const again = boards.filter((b) => b.first?.result !== 'provisioned');
      const second = again.length > 0 ? await provision(station, again) : [];
      for (const b of boards) b.final = second.find((r) => r.port === b.url) ?? b.first;
      const audit = await espfleet(['audit', 'verify', '--station', station.stationPath]);
      for (const b of boards) {
        opts.beforeJudge?.(b.chip, b.point, plan);
        await judge(station, plan, b, audit);
      }
    } finally {
      for (const b of boards) b.dispose();
    }
    return boards.map((b) => b.verdict);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function armBoard(point: ProvisioningPoint, i: number, plan: readonly FlashRegion[]): BoardUnderFault {
  const chip = new VirtualEsp32({ name: `faults-prov-${i}-${process.pid}` });
  chip.powerOn();
  const unregister = registerSimBoard(chip.options.name, chip);
  const b: BoardUnderFault = { point, chip, url: `sim://${chip.options.name}`, verdict: verdictFor('provisioning', point), progress: [], dispose: () => {} };
  const fired = (why: string) => {
    if (b.verdict.fired) return;
    b.verdict.fired = true;
    b.verdict.ending = why;
  };
  // A cut armed by byte or command count leaves the chip dead: its USB bridge goes with it.
  const watch = setInterval(() => {
    if (chip.state !== 'dead') return;
    fired(`cut ${chip.powerCuts[0] ?? ''}`);
    chip.unplug();
  }, 2);
  b.dispose = () => {
    clearInterval(watch);
    chip.setLineFaults(undefined);
    chip.powerOff();
    unregister();
    void b.server?.close();
  };
  point.arm({
    chip,
    url: b.url,
    plan,
    cutPower: (why) => {
      if (b.verdict.fired) return;
      fired(`cut ${why}`);
      chip.unplug();
    },
    fired,
    onProgress: (l) => b.progress.push(l),
    killStation: (why) => {
      if (b.verdict.fired) return;
      fired(`station killed ${why}`);
      b.kill?.();
    },
  });
  return b;
}

/** `espfleet provision` in-process on the boards' ports; each progress line goes to its board's listeners. */
async function provision(station: StationFixture, boards: readonly BoardUnderFault[]): Promise<Row[]> {
  const byUrl = new Map(boards.map((b) => [b.url, b]));
  let partial = '';
  const r = await espfleet(['provision', '--station', station.stationPath, ...boards.flatMap((b) => ['--port', b.url]), '--json'], {
    onStderr: (text) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) for (const [url, b] of byUrl) if (l.includes(`[${url}]`) || l.includes(`${url}:`)) b.progress.forEach((f) => f(l));
    },
  });
  return parseRows(r);
}

function parseRows(r: CliRun): Row[] {
  try {
    return JSON.parse(r.stdout) as Row[];
  } catch {
    throw new Error(`espfleet provision printed no outcomes (exit ${r.code}): ${r.stderr.slice(-1500)}`);
  }
}

/** One board provisioned by the station as its own process over RFC 2217, killed at the point. */
async function killedRun(station: StationFixture, b: BoardUnderFault): Promise<void> {
  b.server = new Rfc2217Server(b.chip);
  b.url = await b.server.listen();
  const child = spawnCli(['provision', '--station', station.stationPath, '--port', b.url, '--json'], { cwd: join(station.stationPath, '..') });
  b.kill = () => child.child.kill('SIGKILL');
  const end = await child.exited;
  b.first = { port: b.url, result: end.signal === 'SIGKILL' ? 'killed' : `exited ${end.code ?? '?'}: ${child.stderr().slice(-300)}`, deviceId: null, mac: null };
}

async function judge(station: StationFixture, plan: readonly FlashRegion[], b: BoardUnderFault, audit: CliRun): Promise<void> {
  const v = b.verdict;
  const row = b.final;
  v.ending = `${v.ending || 'no fault fired'} → first run ${b.first?.result ?? '?'}${b.final !== b.first ? `, re-run ${row?.result ?? '?'}` : ''}`;
  // Bricked: the prescribed re-run did not provision it, or it does not boot the station's firmware.
  if (row?.result !== 'provisioned') v.bricked.push(`provisioning did not succeed after the fault: ${row?.result ?? 'no outcome'} ${row?.reason ?? ''}`.trim());
  await check(v.bricked, 'boot', async () => {
    // EN pulsed with IO0 high; the verdict is read only from the boot after that reset.
    const resets = b.chip.resets;
    b.chip.setSignals({ dtr: false, rts: true });
    await new Promise((r) => setTimeout(r, 5));
    b.chip.setSignals({ dtr: false, rts: false });
    for (let t = 0; t < 3000; t += 20) {
      if (b.chip.resets > resets && /would run app 'app_0' at 0x10000, version 2\.0\.0/.test(b.chip.bootLog())) return undefined;
      await new Promise((r) => setTimeout(r, 20));
    }
    return `the boot check accepts no firmware: ${b.chip.bootLog().split(/\r?\n/).filter((l) => /espfleet-sim|boot/i.test(l)).slice(-3).join(' | ')}`;
  });
  const deviceId = row?.deviceId;
  const mac = row?.mac;
  if (!deviceId || !mac) return;
  // Lost: the escrow must hold exactly the key in BLK1.
  const keystore = await openKeystore(station.keystorePath, { keyFile: station.keystoreKeyFile });
  let key: Uint8Array | undefined;
  await check(v.lost, 'flash-encryption key escrow', () => {
    const burned = Array.from(b.chip.efuse.hardwareBlockWords(1));
    try {
      key = keystore.get({ mac }, 'flash-encryption-key').secret;
    } catch {
      return burned.some((w) => w !== 0) ? 'BLK1 holds a key the keystore has no record of' : 'no key escrowed for a provisioned board';
    }
    const want = Array.from(keyToBlockWords(key));
    return burned.every((w, i) => w === want[i]) ? undefined : 'BLK1 differs from the escrowed key';
  });
  // The registry record, as `espfleet devices show` prints it.
  const shown = await espfleet(['devices', 'show', deviceId, '--station', station.stationPath, '--json']);
  const rec = shown.code === 0 ? (JSON.parse(shown.stdout) as { status: string; certSerial: string | null; firmwareVersion: string | null }) : undefined;
  await check(v.lost, 'registry record', () => (!rec ? `devices show failed: ${shown.stderr.trim()}` : rec.status !== 'provisioned' ? `status ${rec.status}` : rec.firmwareVersion !== VERSION ? `firmware ${rec.firmwareVersion}` : undefined));
  // The certificate the board holds (read from its flash with the escrowed key) is the registry's, and the only valid one.
  await check(v.lost, 'certificate on the board vs the registry', () => {
    const fs = plan.find((r) => r.part === 'fs');
    if (!key || !fs || !rec) return 'cannot read the board (no key or record)';
    const raw = b.chip.flash.bytes.slice(fs.address, fs.address + fs.bytes.length);
    const cert = new X509Certificate(new TextDecoder().decode(openLittlefs(decryptFlash(raw, fs.address, expandFlashKey(key))).readFile('device.crt')));
    const onBoard = cert.serialNumber.toLowerCase().replace(/^0+/, '');
    return onBoard === (rec.certSerial ?? '').toLowerCase().replace(/^0+/, '') ? undefined : `board ${onBoard}, registry ${rec.certSerial}`;
  });
  await check(v.lost, 'CA index', () => {
    const valid = openCaRecords(station.caDir).index.all().filter((c) => c.cn === deviceId && c.status === 'valid');
    if (valid.length !== 1) return `${valid.length} valid certificates for ${deviceId} (an issued certificate the registry does not name is still valid)`;
    return valid[0]!.serialHex.toLowerCase() === rec?.certSerial?.toLowerCase() ? undefined : `the valid certificate ${valid[0]!.serialHex} is not the registry's ${rec?.certSerial}`;
  });
  await check(v.lost, 'audit chain', () => (audit.code === 0 ? undefined : `espfleet audit verify: ${audit.stdout.trim()} ${audit.stderr.trim()}`));
}
