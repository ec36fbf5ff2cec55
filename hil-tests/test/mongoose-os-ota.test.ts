// The Mongoose OS double's updater (spec mongoose-os.md §1.1, §1.5, §2.1–§2.5): a signed bundle
// pushed with OTA.Begin/Write/End lands in the inactive slot, the next boot runs it
// uncommitted, OTA.Commit keeps it, a timeout or a reset reverts; bad bundles change nothing.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { crc32 } from '../../firmware-js/crc.ts';
import { generateSigningKey, mgosPublicKeyConfig, signBundle } from '../../firmware-js/bundle/index.ts';
import { parseOtadata } from '../../firmware-js/partition/otadata.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { espsecure, esptool, expectOk, oracleAvailable } from '../../scripts/lib/oracles.ts';
import { ManualClock, Rfc2217Server, type VirtualEsp32 } from '../index.ts';
import { RawUart, mgosBoard, waitFor } from './helpers/mgos-board.ts';
import { clean } from './helpers/served-board.ts';

const APP_1 = 0x1d0000;
const signer = generateSigningKey();
const other = generateSigningKey();
const keyConf = JSON.stringify({ update: { key0: mgosPublicKeyConfig(signer.publicKeyPem), sig_req_mask: 1 } });

let chip: VirtualEsp32 | undefined;
let uart: RawUart;
let nextId = 1;
afterEach(() => {
  uart?.close();
  chip?.powerOff();
  chip = undefined;
});

async function boot(opts: { clock?: ManualClock; key?: Uint8Array } = {}): Promise<void> {
  chip = await mgosBoard({ files: { 'conf9.json': keyConf, 'device.txt': 'mine' }, ...(opts.key ? { key: opts.key } : {}), ...(opts.clock ? { chip: { clock: opts.clock } } : {}) });
  uart = new RawUart(chip);
}

type Reply = { id: number; result?: unknown; error?: { code: number; message: string } };
async function rpc(method: string, params?: unknown): Promise<Reply> {
  const id = nextId++;
  uart.send(`${JSON.stringify({ id, method, ...(params === undefined ? {} : { params }) })}\n`);
  const rx = await uart.until((r) => r.includes(`{"id":${id},`) && /\{"id":\d+,[^\n]*\}\n/.test(r.slice(r.indexOf(`{"id":${id},`))), method, 3_000);
  const line = rx.split('\n').find((l) => l.startsWith(`{"id":${id},`));
  return JSON.parse(line!) as Reply;
}

function bundle(opts: { version?: string; platform?: string; sign?: 'good' | 'other' | 'none' } = {}): { zip: Uint8Array; app: Uint8Array } {
  const fw = makeDemoFirmware({ version: opts.version ?? '1.3.0', seed: 7 });
  let zip = fw.bundle;
  if (opts.platform) {
    // Re-write the manifest bytes in place (same length keeps the zip valid apart from the CRC, recomputed here).
    zip = replaceManifestPlatform(zip, opts.platform);
  }
  if (opts.sign !== 'none') zip = signBundle(zip, opts.sign === 'other' ? other.privateKeyPem : signer.privateKeyPem, 0);
  return { zip, app: fw.parts.app };
}

/** OTA.Begin → Write in 2 KiB chunks → End; returns the first error reply, or undefined. */
async function push(zip: Uint8Array, opts: { commitTimeout?: number; upTo?: number } = {}): Promise<Reply['error'] | undefined> {
  const b = await rpc('OTA.Begin', { timeout: 600, commit_timeout: opts.commitTimeout ?? 300, size: zip.length });
  if (b.error) return b.error;
  const end = opts.upTo ?? zip.length;
  for (let at = 0; at < end; at += 2048) {
    const w = await rpc('OTA.Write', { offset: at, data: Buffer.from(zip.subarray(at, Math.min(end, at + 2048))).toString('base64') });
    if (w.error) return w.error;
  }
  if (opts.upTo !== undefined) return undefined;
  return (await rpc('OTA.End')).error;
}

async function rebooted(): Promise<void> {
  await waitFor(() => uart.peek().includes('SW_CPU_RESET') && uart.peek().includes('Init done'), 'the reboot', 3_000);
  uart.take();
}

function runningVersion(): string | undefined {
  return /would run app '(\w+)' at 0x[0-9a-f]+, version (\S+)/.exec(chip!.bootLog())?.slice(1).join(' ');
}

function otadataSlot(): number | undefined {
  const c = parseOtadata(chip!.flash.read(0xd000, 0x2000)).bootSlot(2);
  return c.kind === 'ota' ? c.index : undefined;
}

async function powerCycle(): Promise<void> {
  chip!.powerOff();
  uart.take();
  chip!.powerOn();
  await waitFor(() => chip!.state === 'app' && chip!.bootLog().includes('Init done'), 'the boot after power-on');
  uart.take();
}

describe('Mongoose OS double: OTA push, commit and revert', () => {
  it('a signed bundle pushed over RPC boots from app_1 uncommitted; OTA.Commit keeps it; the old root files are merged', async () => {
    await boot();
    expect(runningVersion()).toBe('app_0 1.2.3');
    const before = chip!.flash.read(0x10000, 0x8000).slice();
    expect(((await rpc('OTA.Status')).result as { state: number }).state).toBe(0);
    const { zip, app } = bundle();
    expect(await push(zip)).toBeUndefined();
    expect(Buffer.from(chip!.flash.read(0x10000, 0x8000)).equals(before)).toBe(true); // running slot untouched
    expect(Buffer.from(chip!.flash.read(APP_1, app.length)).equals(app)).toBe(true);
    await rebooted();
    expect(runningVersion()).toBe('app_1 1.3.0');
    expect(otadataSlot()).toBe(0); // tombstoned: a reset now boots the old slot
    expect((await rpc('OTA.GetBootState')).result).toEqual({ active_slot: 1, is_committed: false, revert_slot: 0, commit_timeout: 300 });
    expect(((await rpc('OTA.Begin', { size: 10 })).error?.message)).toMatch(/not been committed/);
    const files = (await rpc('FS.List')).result as string[];
    expect(files).toEqual(expect.arrayContaining(['conf9.json', 'device.txt', 'init.js', 'updater.dat']));
    expect((await rpc('OTA.Commit')).error).toBeUndefined();
    expect(otadataSlot()).toBe(1);
    expect((await rpc('OTA.Commit')).error?.code).toBe(-1);
    expect(((await rpc('OTA.Status')).result as { is_committed: boolean }).is_committed).toBe(true);
    expect((await rpc('FS.List')).result).not.toContain('updater.dat');
    await powerCycle();
    expect(runningVersion()).toBe('app_1 1.3.0');
    expect(((await rpc('OTA.GetBootState')).result as { is_committed: boolean }).is_committed).toBe(true);
  }, 30_000);

  it('without a commit, the commit timeout (ManualClock) reverts to app_0', async () => {
    const clock = new ManualClock();
    await boot({ clock });
    const done = push(bundle().zip, { commitTimeout: 60 });
    expect(await done).toBeUndefined();
    clock.advance(100);
    await rebooted();
    expect(runningVersion()).toBe('app_1 1.3.0');
    clock.advance(59_000);
    expect(chip!.bootLog()).not.toContain('Reverting');
    clock.advance(1_000);
    await waitFor(() => uart.peek().includes('Reverting to slot 0'), 'the revert');
    clock.advance(100);
    await rebooted();
    expect(runningVersion()).toBe('app_0 1.2.3');
    expect(((await rpc('OTA.GetBootState')).result as { is_committed: boolean }).is_committed).toBe(true);
  }, 30_000);

  it('a reboot before commit reverts; OTA.Revert reverts too', async () => {
    await boot();
    expect(await push(bundle().zip)).toBeUndefined();
    await rebooted();
    expect(runningVersion()).toBe('app_1 1.3.0');
    await powerCycle();
    expect(runningVersion()).toBe('app_0 1.2.3');
    // and again, reverted by RPC this time
    expect(await push(bundle().zip)).toBeUndefined();
    await rebooted();
    expect((await rpc('OTA.Revert')).error).toBeUndefined();
    await rebooted();
    expect(runningVersion()).toBe('app_0 1.2.3');
  }, 30_000);
});

describe('Mongoose OS double: bundles the board refuses', () => {
  const cases: Array<[string, () => Uint8Array, RegExp]> = [
    ['unsigned', () => bundle({ sign: 'none' }).zip, /Signature check failed/],
    ['signed with a key the board lacks', () => bundle({ sign: 'other' }).zip, /Signature check failed/],
    ['wrong platform', () => bundle({ platform: 'esp82' }).zip, /Wrong platform/],
    ['older version', () => bundle({ version: '1.1.0' }).zip, /Anti-rollback/],
  ];
  for (const [what, make, message] of cases) {
    it(`${what}: refused, running firmware and otadata untouched`, async () => {
      await boot();
      const od = chip!.flash.read(0xd000, 0x2000).slice();
      const err = await push(make());
      expect(err?.message).toMatch(message);
      expect(((await rpc('OTA.Status')).result as { state: number; msg: string }).state).toBe(2);
      expect(Buffer.from(chip!.flash.read(0xd000, 0x2000)).equals(od)).toBe(true);
      await powerCycle();
      expect(runningVersion()).toBe('app_0 1.2.3');
    }, 30_000);
  }

  it('truncated: OTA.End refuses a bundle cut short, nothing switches', async () => {
    await boot();
    const { zip } = bundle();
    expect(await push(zip, { upTo: zip.length - 5000 })).toBeUndefined();
    expect((await rpc('OTA.End')).error?.message).toMatch(/Premature end|Incomplete/);
    await powerCycle();
    expect(runningVersion()).toBe('app_0 1.2.3');
  }, 30_000);

  it('a corrupted stored entry is refused by the stream parser (CRC / SHA-1)', async () => {
    await boot();
    const { zip } = bundle();
    const bad = zip.slice();
    bad[bad.length - 30_000] = (bad[bad.length - 30_000] ?? 0) ^ 0xff; // inside a stored file: CRC / SHA-1 mismatch
    expect((await push(bad))?.message).toMatch(/CRC mismatch|SHA-1/);
  }, 30_000);
});

describe('Mongoose OS double: power loss during an update', () => {
  it('mid-write, after End before the reboot, and on first boot before commit: always a valid firmware', async () => {
    await boot();
    const { zip } = bundle();
    // mid-write: cut after half the bundle
    expect(await push(zip, { upTo: Math.floor(zip.length / 2) })).toBeUndefined();
    await powerCycle();
    expect(runningVersion()).toBe('app_0 1.2.3');
    expect(((await rpc('OTA.Status')).result as { state: number }).state).toBe(0);
    // after End, before the 100 ms reboot: the new slot boots (uncommitted)
    expect(await push(zip)).toBeUndefined();
    chip!.powerOff();
    uart.take();
    chip!.powerOn();
    await waitFor(() => chip!.state === 'app' && chip!.bootLog().includes('Init done'), 'boot');
    uart.take();
    expect(runningVersion()).toBe('app_1 1.3.0');
    // first boot before commit: power loss → old slot
    await powerCycle();
    expect(runningVersion()).toBe('app_0 1.2.3');
    expect(((await rpc('OTA.GetBootState')).result as { is_committed: boolean }).is_committed).toBe(true);
  }, 60_000);
});

describe.skipIf(!oracleAvailable('esptool') || !oracleAvailable('espsecure'))('Mongoose OS double: OTA on an encrypted board', () => {
  it('esptool read-flash + espsecure decrypt-flash-data show the new app in app_1; the boot check runs it', async () => {
    const key = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
    await boot({ key });
    const { zip, app } = bundle();
    expect(await push(zip)).toBeUndefined();
    await rebooted();
    expect(runningVersion()).toBe('app_1 1.3.0');
    expect((await rpc('OTA.Commit')).error).toBeUndefined();
    const server = new Rfc2217Server(chip!);
    const url = await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const dir = mkdtempSync(join(tmpdir(), 'mgos-ota-'));
      const raw = join(dir, 'raw.bin');
      const len = Math.ceil(app.length / 0x1000) * 0x1000;
      const out = await esptool(['--port', url, '--after', 'no-reset', 'read-flash', `0x${APP_1.toString(16)}`, `0x${len.toString(16)}`, raw], { timeoutMs: 170_000 });
      expect(out.code, clean(out)).toBe(0);
      expect(Buffer.from(readFileSync(raw)).subarray(0, app.length).equals(Buffer.from(app))).toBe(false); // ciphertext on flash
      writeFileSync(join(dir, 'key.bin'), key);
      const plain = join(dir, 'plain.bin');
      expectOk(await espsecure(['decrypt-flash-data', '--keyfile', join(dir, 'key.bin'), '--address', `0x${APP_1.toString(16)}`, '--output', plain, raw]), 'espsecure');
      expect(Buffer.from(readFileSync(plain)).subarray(0, app.length).equals(Buffer.from(app))).toBe(true);
    } finally {
      await server.close();
    }
  }, 200_000);
});

/** A same-length platform swap in manifest.json, fixing the local and central CRCs. */
function replaceManifestPlatform(zip: Uint8Array, platform: string): Uint8Array {
  const out = zip.slice();
  const text = Buffer.from(out).toString('latin1');
  const at = text.indexOf('"platform": "esp32"');
  if (at < 0 || platform.length !== 5) throw new Error('test helper: needs a 5-letter platform and a Go-style manifest');
  out.set(Buffer.from(`"platform": "${platform}"`, 'latin1'), at);
  // manifest.json is the first entry: local header at 0, data after name+extra.
  const dv = new DataView(out.buffer);
  const nameLen = dv.getUint16(26, true);
  const extraLen = dv.getUint16(28, true);
  const size = dv.getUint32(18, true);
  const start = 30 + nameLen + extraLen;
  const crc = crc32(out.subarray(start, start + size));
  dv.setUint32(14, crc, true);
  const cd = text.indexOf('PK\u0001\u0002');
  dv.setUint32(cd + 16, crc, true);
  return out;
}
