// The factory pipeline on virtual boards: a board provisioned end to end (registry, the real audit
// log, journal without keys, the chip's decrypted fs), the refusals that burn nothing, a
// resume that keeps a finished identity, and the fault matrix — power cut at many points,
// then a re-run that always ends provisioned, with BLK1 equal to the escrowed key and every
// abandoned certificate revoked.
import { createHash, createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeystore, initCa, issueDeviceCert, listIssued, type Ca, type Keystore } from '../../certs/index.ts';
import { generateSigningKey, mgosPublicKeyConfig, readBundle, signBundle, type Bundle } from '../../firmware-js/bundle/index.ts';
import { decryptFlash, expandFlashKey } from '../../firmware-js/flash-encryption/index.ts';
import { planFlash } from '../../firmware-js/flash-plan.ts';
import { openLittlefs } from '../../firmware-js/littlefs/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import type { PowerLossFault, VirtualEsp32 } from '../../hil-tests/virtual-esp32/index.ts';
import { keyToBlockWords } from '../encryption/index.ts';
import { openBoardSession, type BoardSession } from '../session/index.ts';
import { composeConf9, deviceIdFor, journalPath, provisionBoard, readJournal, type BoardJournal, type BoardOutcome, type PipelineContext } from '../station/pipeline.ts';
import { headPath, openAuditLog, verifyAuditLog, type FileAuditLog } from '../station/audit-log.ts';
import type { AuditEntry, DeviceRecord, DeviceRegistry, DeviceStatus } from '../station/records.ts';
import { type TestBoard, boardsPerTest, connectWatched } from './session-fixtures.ts';

// ---- small in-memory stores implementing the station's interfaces ------------------------

class MemoryRegistry implements DeviceRegistry {
  readonly records = new Map<string, DeviceRecord>();
  async upsert(record: DeviceRecord): Promise<void> {
    this.records.set(record.deviceId, { ...record });
  }
  async get(deviceId: string): Promise<DeviceRecord | undefined> {
    return this.records.get(deviceId);
  }
  async findByMac(mac: string): Promise<DeviceRecord | undefined> {
    return [...this.records.values()].find((r) => r.mac === mac);
  }
  async list(filter: { status?: DeviceStatus; station?: string } = {}): Promise<DeviceRecord[]> {
    return [...this.records.values()].filter((r) => (!filter.status || r.status === filter.status) && (!filter.station || r.station === filter.station));
  }
  async close(): Promise<void> {}
}

/**
 * The station's real audit log (FileAuditLog on disk, with its head file), read back
 * from the file for the checks: what the tests see is what `espfleet audit verify` sees.
 */
class FileAudit {
  private constructor(
    readonly log: FileAuditLog,
    readonly path: string,
  ) {}

  static async open(path: string): Promise<FileAudit> {
    return new FileAudit(await openAuditLog(path), path);
  }

  lines(): string[] {
    if (!existsSync(this.path)) return [];
    const text = readFileSync(this.path, 'utf8');
    return text === '' ? [] : text.trimEnd().split('\n');
  }

  entries(): AuditEntry[] {
    return this.lines().map((l) => JSON.parse(l) as AuditEntry);
  }

  actions(deviceId?: string): string[] {
    return this.entries()
      .filter((e) => !deviceId || e.subject.deviceId === deviceId)
      .map((e) => e.action);
  }
}

// ---- shared fixtures ---------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'espfleet-pipeline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const signer = generateSigningKey();
const demo = makeDemoFirmware({ version: '3.0.0', appSize: 0x18000 });
const signedBundle: Bundle = readBundle(signBundle(demo.bundle, signer.privateKeyPem, 0));
const unsignedBundle: Bundle = readBundle(demo.bundle);
const fsPlan = planFlash(unsignedBundle).find((r) => r.part === 'fs');
let ca: Ca;
let n = 0;
beforeAll(async () => {
  ca = await initCa({ dir: join(dir, 'ca'), passphrase: randomBytes(24).toString('base64') });
}, 60_000);

const newBoard = boardsPerTest();
const boards = new Map<string, TestBoard>();

/** The boot log's verdict, as the demo reads it. */
async function chipVerdict(chip: VirtualEsp32): Promise<{ ok: boolean; line: string }> {
  for (let waited = 0; waited < 3000; waited += 20) {
    const line = chip.bootLog().split('\n').find((l) => /would run|cannot boot|boot failed/i.test(l));
    if (line) return { ok: /would run/i.test(line), line: line.trim() };
    await new Promise((r) => setTimeout(r, 20));
  }
  return { ok: false, line: 'no verdict in the boot log' };
}

interface Station {
  ctx: PipelineContext;
  registry: MemoryRegistry;
  audit: FileAudit;
  keystore: Keystore;
  /** Power cut armed once, right after the next connect. */
  armNext: PowerLossFault | undefined;
  progress: string[];
}

async function station(over: Partial<PipelineContext> = {}): Promise<Station> {
  const keystore = await createKeystore(join(dir, `ks${++n}.json`), { key: new Uint8Array(randomBytes(32)) });
  const registry = new MemoryRegistry();
  const audit = await FileAudit.open(join(dir, `audit${n}.jsonl`));
  const st: Station = { registry, audit, keystore, armNext: undefined, progress: [], ctx: undefined as unknown as PipelineContext };
  st.ctx = {
    ca,
    keystore,
    bundle: signedBundle,
    signingPublicKeys: [signer.publicKeyPem],
    requireSignatures: true,
    deviceIdTemplate: 'esp32_{mac6}',
    mqttServer: 'mqtt.example.net:8883',
    agentSettings: { wifi: { ap: { enable: false } }, device: { location: 'line-3' } },
    encryptionMode: 'development',
    registry,
    audit: audit.log,
    journalDir: join(dir, `journal${n}`),
    station: 'station-test',
    operator: 'tester',
    bootCheck: async (url) => chipVerdict((boards.get(url) as TestBoard).chip),
    onProgress: (line) => st.progress.push(line),
    // A USB-powered board that loses power takes its USB bridge with it: the port vanishes
    // at once instead of the host waiting out a command timeout (connectWatched).
    connect: async (url) => connectAndArm(boards.get(url) as TestBoard, st),
    ...over,
  };
  return st;
}

async function connectAndArm(b: TestBoard, st: Station): Promise<BoardSession> {
  const session = await connectWatched(b);
  if (st.armNext) {
    b.chip.injectPowerLoss(st.armNext);
    st.armNext = undefined;
  }
  return session;
}

function board(opts: Parameters<typeof newBoard>[0] = {}): TestBoard {
  const b = newBoard(opts);
  boards.set(b.simUrl, b);
  return b;
}

function escrowedKey(st: Station, mac: string): Uint8Array {
  return st.keystore.get({ mac }, 'flash-encryption-key').secret;
}

/** The provisioned state, checked against the chip, the CA, the keystore, the stores and the journal. */
function expectProvisioned(st: Station, b: TestBoard, out: BoardOutcome): DeviceRecord {
  expect(out.error, JSON.stringify(out.error)).toBeNull();
  expect(out.ok).toBe(true);
  const mac = out.mac as string;
  const deviceId = `esp32_${mac.replace(/:/g, '').slice(-6).toUpperCase()}`;
  expect(out.deviceId).toBe(deviceId);
  const rec = st.registry.records.get(deviceId) as DeviceRecord;
  expect(rec).toMatchObject({ deviceId, mac, status: 'provisioned', reason: null, firmwareVersion: '3.0.0', encryptionMode: 'development', station: 'station-test', operator: 'tester' });
  expect(rec.keystoreRef).toContain(st.keystore.path);
  // Exactly one valid certificate for the CN: the recorded one; every other is revoked as superseded.
  const certs = listIssued(ca).filter((c) => c.cn === deviceId);
  const valid = certs.filter((c) => c.status === 'valid');
  expect(valid.map((c) => c.serialHex)).toEqual([rec.certSerial]);
  expect(valid[0]?.fingerprintSha256).toBe(rec.certFingerprintSha256);
  expect(valid[0]?.notAfter).toBe(rec.certNotAfter);
  for (const c of certs.filter((c) => c.status !== 'valid')) expect(c.reason).toBe('superseded');
  // Invariant 2 on the real silicon: BLK1 is exactly the escrowed key, and encryption is on.
  const key = escrowedKey(st, mac);
  expect(Array.from(b.chip.efuse.hardwareBlockWords(1))).toEqual(Array.from(keyToBlockWords(key)));
  expect(b.chip.flashEncryptionEnabled()).toBe(true);
  // Invariant 1: the journal holds serials, never a key.
  const journalText = readdirSync(st.ctx.journalDir).map((f) => readFileSync(join(st.ctx.journalDir, f), 'utf8')).join('\n');
  expect(journalText).not.toMatch(/PRIVATE KEY|BEGIN EC/);
  const journal = readJournal(st.ctx.journalDir, mac);
  expect(journal?.status).toBe('done');
  expect(journal?.cert?.serial).toBe(rec.certSerial);
  // The board's fs, decrypted with the escrowed key: conf9.json and an identity for this device.
  if (!fsPlan) throw new Error('demo bundle has no fs part');
  const raw = b.chip.flash.bytes.slice(fsPlan.address, fsPlan.address + fsPlan.bytes.length);
  const fs = openLittlefs(decryptFlash(raw, fsPlan.address, expandFlashKey(key)));
  const text = (p: string) => new TextDecoder().decode(fs.readFile(p));
  const conf9 = JSON.parse(text('conf9.json')) as Record<string, Record<string, unknown>>;
  expect(conf9.device).toEqual({ location: 'line-3', id: deviceId });
  expect(conf9.mqtt).toEqual({ enable: true, server: 'mqtt.example.net:8883', ssl_cert: 'device.crt', ssl_key: 'device.key', ssl_ca_cert: 'ca.pem' });
  expect(conf9.update?.sig_req_mask).toBe(1);
  expect(typeof conf9.update?.key0).toBe('string');
  expect(conf9.wifi).toEqual({ ap: { enable: false } });
  const cert = new X509Certificate(text('device.crt'));
  expect(cert.subject).toBe(`CN=${deviceId}`);
  expect(cert.serialNumber.toLowerCase().replace(/^0+/, '')).toBe((rec.certSerial ?? '').toLowerCase().replace(/^0+/, ''));
  expect(cert.checkPrivateKey(createPrivateKey(text('device.key')))).toBe(true);
  expect(text('ca.pem')).toBe(ca.rootCertPem);
  return rec;
}

/** The log on disk passes the station's own verification (chain, order, head) and holds no key. */
function expectAuditChain(audit: FileAudit): void {
  const lines = audit.lines();
  expect(lines.length).toBeGreaterThan(0);
  expect(verifyAuditLog(audit.path)).toEqual({ ok: true, entries: lines.length });
  expect(JSON.parse(readFileSync(headPath(audit.path), 'utf8'))).toEqual({ entries: lines.length, last: sha256(lines.at(-1)!) });
  expect(lines.join('\n')).not.toMatch(/PRIVATE KEY|BEGIN EC/);
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

// ---- tests -------------------------------------------------------------------------------

describe('conf9.json and device ids', () => {
  it('fixed keys win over agent settings; only the station signing keys are trusted', () => {
    const other = generateSigningKey();
    const conf = composeConf9({
      deviceId: 'esp32_ABCDEF',
      mqttServer: 'broker:8883',
      signingPublicKeys: [signer.publicKeyPem, other.publicKeyPem],
      requireSignatures: true,
      agentSettings: { device: { id: 'spoof', group: 'g1' }, mqtt: { server: 'evil:1883', keep_alive: 30 }, update: { key5: 'AAAA', sig_req_mask: -1, timeout: 600 } },
    }) as Record<string, Record<string, unknown>>;
    expect(conf.device).toEqual({ id: 'esp32_ABCDEF', group: 'g1' });
    expect(conf.mqtt).toMatchObject({ server: 'broker:8883', keep_alive: 30, enable: true, ssl_key: 'device.key' });
    expect(conf.update).toEqual({ timeout: 600, key0: mgosPublicKeyConfig(signer.publicKeyPem), key1: mgosPublicKeyConfig(other.publicKeyPem), sig_req_mask: 3 });
    expect(() => composeConf9({ deviceId: 'x', mqttServer: 'b', signingPublicKeys: [], requireSignatures: true })).toThrow(/no signing public key/);
  });

  it('device ids come from the template and are checked', () => {
    expect(deviceIdFor('esp32_{mac6}', '24:0a:c4:12:34:56')).toBe('esp32_123456');
    expect(deviceIdFor('dev-{mac}', '24:0A:C4:12:34:56')).toBe('dev-240AC4123456');
    expect(() => deviceIdFor('esp32', '24:0a:c4:12:34:56')).toThrow(/same id/);
    expect(() => deviceIdFor('a/{mac6}', '24:0a:c4:12:34:56')).toThrow(/invalid device id/);
  });
});

describe('provisionBoard on a virtual ESP32', () => {
  it('provisions a board with development flash encryption; registry, audit log, journal and the chip agree', { timeout: 60_000 }, async () => {
    const st = await station();
    const b = board();
    const out = await provisionBoard(st.ctx, b.simUrl);
    const rec = expectProvisioned(st, b, out);
    expect(out.steps).toEqual(['identify', 'identity', 'compose', 'plan', 'flash', 'boot', 'record']);
    expect(out.resumed).toBe(false);
    expect(out.revoked).toEqual([]);
    expect(st.audit.actions(rec.deviceId)).toEqual(['provision.start', 'provision.identity', 'provision.escrow', 'provision.efuse', 'provision.flash', 'provision.done']);
    expect(st.audit.entries().map((e) => e.actor)).toEqual(Array(6).fill('tester'));
    expectAuditChain(st.audit);
    // The check has teeth: the same log with one step's record edited fails verification there.
    const copy = join(dir, 'audit-edited.jsonl');
    const lines = st.audit.lines();
    lines[3] = lines[3]!.replace('"actor":"tester"', '"actor":"mallory"');
    writeFileSync(copy, `${lines.join('\n')}\n`);
    writeFileSync(headPath(copy), readFileSync(headPath(st.audit.path)));
    expect(verifyAuditLog(copy)).toMatchObject({ ok: false, problem: { line: 4 } });
    expect(readJournal(st.ctx.journalDir, rec.mac)?.boot?.line).toContain("would run app 'app_0'");
  });

  it('mode off writes the plan in plaintext, burns nothing, and the default console check reads the boot verdict', { timeout: 60_000 }, async () => {
    const st = await station({ encryptionMode: 'off', requireSignatures: false, signingPublicKeys: [] });
    delete st.ctx.bootCheck;
    const b = board();
    const out = await provisionBoard(st.ctx, b.simUrl);
    expect(out.error, JSON.stringify(out.error)).toBeNull();
    const rec = st.registry.records.get(out.deviceId as string) as DeviceRecord;
    expect(rec).toMatchObject({ status: 'provisioned', encryptionMode: 'off', keystoreRef: null });
    expect(b.chip.efuse.programCount).toBe(0);
    expect(st.keystore.list()).toEqual([]);
    expect(readJournal(st.ctx.journalDir, rec.mac)?.boot?.line).toMatch(/boot: Loaded app from partition at offset 0x10000/);
    if (!fsPlan) throw new Error('demo bundle has no fs part');
    const fs = openLittlefs(b.chip.flash.bytes.slice(fsPlan.address, fsPlan.address + fsPlan.bytes.length));
    const conf9 = JSON.parse(new TextDecoder().decode(fs.readFile('conf9.json'))) as { device: { id: string }; update: Record<string, unknown> };
    expect(conf9.device.id).toBe(rec.deviceId);
    expect(conf9.update).toEqual({ sig_req_mask: -1 });
    expect(st.audit.actions(rec.deviceId)).toEqual(['provision.start', 'provision.identity', 'provision.flash', 'provision.done']);
  });

  it('revokes a certificate issued for the device id that no journal knows (a crash right after the CA issued it)', { timeout: 60_000 }, async () => {
    const st = await station();
    const b = board();
    const deviceId = `esp32_${Array.from(b.chip.options.mac.slice(3), (x) => x.toString(16).padStart(2, '0')).join('').toUpperCase()}`;
    const stray = await issueDeviceCert(ca, { cn: deviceId });
    const out = await provisionBoard(st.ctx, b.simUrl);
    expectProvisioned(st, b, out);
    expect(out.revoked).toEqual([stray.serialHex]);
  });

  it('a re-run that is cut too: the third run finishes, and both abandoned certificates are revoked', { timeout: 90_000 }, async () => {
    const st = await station();
    const b = board();
    const serials: string[] = [];
    for (const fault of [{ atCommand: 'WRITE_REG' as const, occurrence: 60 }, { atCommand: 'FLASH_DEFL_DATA' as const, occurrence: 4 }]) {
      st.armNext = fault;
      const out = await provisionBoard(st.ctx, b.simUrl);
      expect(out.error?.code).toMatch(/^session\./);
      serials.push(readJournal(st.ctx.journalDir, out.mac as string)?.cert?.serial as string);
      b.chip.powerOff();
      b.chip.powerOn();
    }
    const out = await provisionBoard(st.ctx, b.simUrl);
    const rec = expectProvisioned(st, b, out);
    expect(out.resumed).toBe(true);
    expect(out.revoked).toEqual([serials[1]]);
    const journal = readJournal(st.ctx.journalDir, rec.mac);
    expect(journal?.runs).toBe(3);
    expect(journal?.abandoned.map((a) => a.serial)).toEqual(serials);
    expect(journal?.abandoned.every((a) => a.revokedAt !== null)).toBe(true);
  });

  it('a crash after the registry write but before the journal said done is finished by the re-run, not refused', { timeout: 60_000 }, async () => {
    const st = await station();
    const b = board();
    const first = expectProvisioned(st, b, await provisionBoard(st.ctx, b.simUrl));
    // The journal as it was on disk before its last write.
    const journal = readJournal(st.ctx.journalDir, first.mac) as BoardJournal;
    delete journal.steps.record;
    writeFileSync(journalPath(st.ctx.journalDir, first.mac), JSON.stringify({ ...journal, status: 'in-progress' }));
    const again = await provisionBoard(st.ctx, b.simUrl);
    const rec = expectProvisioned(st, b, again);
    expect(again.steps).toEqual(['identify', 'boot', 'record']);
    expect(rec.certSerial).toBe(first.certSerial);
  });

  it('boards on several ports at once share the CA, keystore, registry and audit log', { timeout: 90_000 }, async () => {
    const st = await station();
    const several = [board(), board(), board()];
    const outs = await Promise.all(several.map((b) => provisionBoard(st.ctx, b.simUrl)));
    outs.forEach((out, i) => expectProvisioned(st, several[i] as TestBoard, out));
    expect(new Set(outs.map((o) => o.deviceId)).size).toBe(3);
    expect(await st.registry.list({ status: 'provisioned', station: 'station-test' })).toHaveLength(3);
    expect(st.keystore.list()).toHaveLength(3);
    expectAuditChain(st.audit);
  });

  it('release mode: provisioned, the board in release mode, and a cut re-run still finishes', { timeout: 90_000 }, async () => {
    const st = await station({ encryptionMode: 'release' });
    const b = board();
    st.armNext = { atCommand: 'FLASH_DEFL_DATA', occurrence: 3 };
    const first = await provisionBoard(st.ctx, b.simUrl);
    expect(first.error?.code).toMatch(/^session\./);
    b.chip.powerOff();
    b.chip.powerOn();
    const out = await provisionBoard(st.ctx, b.simUrl);
    expect(out.error, JSON.stringify(out.error)).toBeNull();
    const rec = st.registry.records.get(out.deviceId as string) as DeviceRecord;
    expect(rec).toMatchObject({ status: 'provisioned', encryptionMode: 'release' });
    expect(b.chip.efuse.hardwareField('FLASH_CRYPT_CNT')).toBe(0x7f);
    expect(Array.from(b.chip.efuse.hardwareBlockWords(1))).toEqual(Array.from(keyToBlockWords(escrowedKey(st, rec.mac))));
    expect(listIssued(ca).filter((c) => c.cn === rec.deviceId && c.status === 'valid').map((c) => c.serialHex)).toEqual([rec.certSerial]);
  });

  it('refuses a chip that is not an ESP32 with one error and burns nothing', { timeout: 60_000 }, async () => {
    const st = await station();
    const b = board({ chipMagic: 0x1234_5678 });
    const out = await provisionBoard(st.ctx, b.simUrl);
    expect(out.ok).toBe(false);
    expect(out.error?.code).toBe('session.wrong_chip');
    expect(out.error?.message).toContain('not an ESP32');
    expect(b.chip.efuse.programCount).toBe(0);
    expect(st.registry.records.size).toBe(0);
    expect(st.audit.actions()).toEqual(['provision.failed']);
  });

  it('refuses an unsigned bundle when signatures are required, before touching the board', { timeout: 60_000 }, async () => {
    const st = await station({ bundle: unsignedBundle });
    const b = board();
    const before = b.chip.wireStats().hostToChip;
    const issued = listIssued(ca).length;
    const out = await provisionBoard(st.ctx, b.simUrl);
    expect(out.ok).toBe(false);
    expect(out.error?.code).toBe('station.unsigned_bundle');
    expect(out.error?.message).toMatch(/not signed as required.*sig0/);
    expect(b.chip.wireStats().hostToChip).toBe(before);
    expect(b.chip.efuse.programCount).toBe(0);
    expect(listIssued(ca).length).toBe(issued);
    expect(st.registry.records.size).toBe(0);
  });

  it('refuses a board already provisioned; with reprovision it gets a new identity and the old one is revoked', { timeout: 90_000 }, async () => {
    const st = await station();
    const b = board();
    const first = expectProvisioned(st, b, await provisionBoard(st.ctx, b.simUrl));
    const programs = b.chip.efuse.programCount;
    const issued = listIssued(ca).length;

    const again = await provisionBoard(st.ctx, b.simUrl);
    expect(again.ok).toBe(false);
    expect(again.error?.code).toBe('station.already_provisioned');
    expect(again.error?.message).toContain(first.deviceId);
    expect(b.chip.efuse.programCount).toBe(programs);
    expect(listIssued(ca).length).toBe(issued);
    expect(st.registry.records.get(first.deviceId)?.status).toBe('provisioned');

    const re = await provisionBoard({ ...st.ctx, reprovision: true }, b.simUrl);
    const second = expectProvisioned(st, b, re);
    expect(second.certSerial).not.toBe(first.certSerial);
    expect(re.revoked).toEqual([first.certSerial]);
    expect(second.createdAt).toBe(first.createdAt);
    expect(b.chip.efuse.programCount).toBe(programs); // the escrowed key is reused, nothing burned again
    expect(st.audit.actions(first.deviceId)).toContain('reprovision');
    expect(st.audit.actions(first.deviceId)).toContain('certificate.revoke');
    expectAuditChain(st.audit);
  });

  it('resumes after the flash step without a new identity when the board still holds it', { timeout: 60_000 }, async () => {
    let calls = 0;
    const st = await station();
    st.ctx.bootCheck = async (url) => (++calls === 1 ? { ok: false, line: 'simulated: console silent' } : chipVerdict((boards.get(url) as TestBoard).chip));
    const b = board();
    const first = await provisionBoard(st.ctx, b.simUrl);
    expect(first.error?.code).toBe('station.boot_failed');
    expect(st.registry.records.get(first.deviceId as string)?.status).toBe('failed');
    const serial = readJournal(st.ctx.journalDir, first.mac as string)?.cert?.serial;
    const second = await provisionBoard(st.ctx, b.simUrl);
    const rec = expectProvisioned(st, b, second);
    expect(second.resumed).toBe(true);
    expect(second.steps).toEqual(['identify', 'boot', 'record']);
    expect(rec.certSerial).toBe(serial);
    expect(second.revoked).toEqual([]);
  });
});

describe('fault matrix: power lost anywhere, a re-run finishes the board', () => {
  it('every cut point ends provisioned, with BLK1 = the escrowed key and every abandoned certificate revoked', { timeout: 600_000 }, async () => {
    // Reference run: how much the pipeline sends after connecting, and how many register
    // writes and deflate blocks that takes, so the cut points spread over all of it.
    const refStation = await station();
    const ref = board();
    let writeRegs = 0;
    let deflBlocks = 0;
    const offCommit = ref.chip.onCommit((op) => {
      if (op === 'FLASH_DEFL_DATA') deflBlocks++;
    });
    let rxAtConnect = 0;
    refStation.ctx.connect = async (url) => {
      const s = await connectAndArm(boards.get(url) as TestBoard, refStation);
      rxAtConnect = ref.chip.wireStats().hostToChip;
      const write = s.writeReg.bind(s);
      s.writeReg = (a, v) => {
        writeRegs++;
        return write(a, v);
      };
      return s;
    };
    expectProvisioned(refStation, ref, await provisionBoard(refStation.ctx, ref.simUrl));
    offCommit();
    const rxTotal = ref.chip.wireStats().hostToChip - rxAtConnect;
    expect(writeRegs).toBeGreaterThan(50);
    expect(deflBlocks).toBeGreaterThan(3);

    const points: Array<PowerLossFault & { atPowerOn?: true }> = [
      // While connecting (sync, stub upload) and identifying: nothing of the board's exists yet.
      { afterRxBytes: 600, atPowerOn: true },
      { atCommand: 'MEM_DATA', occurrence: 2, atPowerOn: true },
      { atCommand: 'READ_REG', occurrence: 3 },
      // Reading the eFuses before the key is chosen: a certificate exists, no key is escrowed.
      { atCommand: 'READ_REG', occurrence: 20 },
      // Through the eFuse burns (key, config, protection, counter) …
      ...[1, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0].map((f) => ({ atCommand: 'WRITE_REG' as const, occurrence: Math.max(1, Math.round(writeRegs * f)) })),
      // … and the pre-encrypted flash writes, by command and mid-packet.
      ...[1, Math.ceil(deflBlocks / 2), deflBlocks].map((k) => ({ atCommand: 'FLASH_DEFL_DATA' as const, occurrence: k })),
      ...[0.05, 0.2, 0.4, 0.6, 0.8, 0.97].map((f) => ({ afterRxBytes: Math.max(1, Math.round(rxTotal * f)) })),
    ];
    expect(points.length).toBeGreaterThanOrEqual(10);
    const seen: string[] = [];
    for (const { atPowerOn, ...fault } of points) {
      const st = await station();
      const b = board();
      if (atPowerOn) b.chip.injectPowerLoss(fault);
      else st.armNext = fault;
      const first = await provisionBoard(st.ctx, b.simUrl);
      const name = JSON.stringify(fault);
      expect(b.chip.powerCuts.length, `${name}: the cut fired`).toBe(1);
      expect(first.ok, `${name}: first run fails`).toBe(false);
      expect(first.error?.code, `${name}: ${first.error?.message}`).toMatch(/^session\./);
      seen.push(`${name} → ${first.steps.at(-1) ?? 'connect'}`);
      // Whatever was burned so far is a subset of the key on disk (invariant 2).
      const burned = Array.from(b.chip.efuse.hardwareBlockWords(1));
      if (burned.some((w) => w !== 0)) {
        const want = keyToBlockWords(escrowedKey(st, first.mac as string));
        burned.forEach((w, i) => expect((w & ~(want[i] ?? 0)) >>> 0).toBe(0));
      }
      b.chip.powerOff();
      b.chip.powerOn();
      const second = await provisionBoard(st.ctx, b.simUrl);
      expectProvisioned(st, b, second);
      seen[seen.length - 1] += `; re-run revoked ${second.revoked.length}, resumed at ${second.steps[1] ?? '?'}`;
      if (first.steps.includes('identity')) expect(second.revoked.length, `${name}: the abandoned certificate is revoked`).toBeGreaterThanOrEqual(1);
      expect(second.resumed, name).toBe(first.mac !== null && first.steps.length > 0);
      expect(st.audit.actions(second.deviceId as string).filter((a) => a === 'provision.done')).toHaveLength(1);
      expectAuditChain(st.audit);
    }
    if (process.env.ESPFLEET_DEBUG) console.log(seen.join('\n'));
    // The matrix covers cuts before the board was identified and after its identity was made.
    expect(seen.some((s) => / → connect/.test(s)), seen.join('\n')).toBe(true);
    expect(seen.some((s) => / → plan/.test(s)), seen.join('\n')).toBe(true);
  });
});
