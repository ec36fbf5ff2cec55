// The Mongoose OS double's updater (spec mongoose-os.md §1.1, §1.5, §2.1–§2.5): a signed bundle
// pushed with OTA.Begin/Write/End lands in the inactive slot, the next boot runs it
// uncommitted, OTA.Commit keeps it, a timeout or a reset reverts; bad bundles change nothing.
import { afterEach, describe, expect, it } from 'vitest';
import { generateSigningKey, mgosPublicKeyConfig, signBundle } from '../../firmware-js/bundle/index.ts';
import { buildOtadata, parseOtadata } from '../../firmware-js/partition/otadata.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { oracleAvailable } from '../../scripts/lib/oracles.ts';
import { ManualClock, type VirtualEsp32 } from '../index.ts';
import { mjsRunner, type MongooseOsOptions } from '../mongoose-os/index.ts';
import { place } from './helpers/firmware-set.ts';
import { RawUart, mgosBoard, waitFor } from './helpers/mgos-board.ts';
import { APP_1, demoBundle, expectEncryptedApp1, otadataSlotOf, powerCycleBoard, rpcOver, runningVersionOf, waitRebooted, type BundleOptions, type Reply } from './helpers/mgos-ota.ts';

const signer = generateSigningKey();
const other = generateSigningKey();
const keyConf = JSON.stringify({ update: { key0: mgosPublicKeyConfig(signer.publicKeyPem), sig_req_mask: 1 } });

let chip: VirtualEsp32 | undefined;
let uart: RawUart;
afterEach(() => {
  uart?.close();
  chip?.powerOff();
  chip = undefined;
});

async function boot(opts: { clock?: ManualClock; key?: Uint8Array; conf?: string; mgos?: MongooseOsOptions } = {}): Promise<void> {
  chip = await mgosBoard({
    files: { 'conf9.json': opts.conf ?? keyConf, 'device.txt': 'mine' },
    ...(opts.key ? { key: opts.key } : {}),
    ...(opts.clock ? { chip: { clock: opts.clock } } : {}),
    ...(opts.mgos ? { mgos: opts.mgos } : {}),
  });
  uart = new RawUart(chip);
}

function rpc(method: string, params?: unknown, ms = 3_000): Promise<Reply> {
  return rpcOver(uart, method, params, ms);
}

function bundle(opts: BundleOptions = {}): { zip: Uint8Array; app: Uint8Array } {
  return demoBundle({ signer, other }, opts);
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

const rebooted = () => waitRebooted(uart);
const runningVersion = () => runningVersionOf(chip!);
const otadataSlot = () => otadataSlotOf(chip!);
const powerCycle = () => powerCycleBoard(chip!, uart);

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

  it('a second update goes the other way: from app_1 into app_0, with the device files carried along again', async () => {
    await boot();
    expect(await push(bundle().zip)).toBeUndefined();
    await rebooted();
    expect((await rpc('OTA.Commit')).error).toBeUndefined();
    const app1 = chip!.flash.read(APP_1, 0x8000).slice();
    const fw = makeDemoFirmware({ version: '1.4.0', seed: 9 });
    expect(await push(signBundle(fw.bundle, signer.privateKeyPem, 0))).toBeUndefined();
    expect(Buffer.from(chip!.flash.read(APP_1, 0x8000)).equals(app1)).toBe(true);
    await rebooted();
    expect(runningVersion()).toBe('app_0 1.4.0');
    expect((await rpc('FS.List')).result).toEqual(expect.arrayContaining(['conf9.json', 'device.txt']));
    expect((await rpc('OTA.Commit')).error).toBeUndefined();
    await powerCycle();
    expect(runningVersion()).toBe('app_0 1.4.0');
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
    ['wrong platform', () => bundle({ platform: 'esp8266' }).zip, /Wrong platform/],
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

describe('Mongoose OS double: power loss between the flash steps of finalize and commit', () => {
  // A cut inside one RPC is modelled by the flash state it would leave: the steps before it
  // done, the ones after it not (each step is one sector erase + program).
  async function cutAfter(otadata: Uint8Array): Promise<void> {
    chip!.powerOff();
    uart.take();
    place(chip!, [{ address: 0xd000, data: otadata }]);
    chip!.powerOn();
    await waitFor(() => chip!.state === 'app' && chip!.bootLog().includes('Init done'), 'the boot after the cut');
    uart.take();
  }

  it('End cut after the boot word, before otadata: app_0 runs, the word is cleared, a new update is accepted', async () => {
    await boot();
    const before = chip!.flash.read(0xd000, 0x2000).slice();
    expect(await push(bundle().zip)).toBeUndefined();
    await cutAfter(before);
    expect(runningVersion()).toBe('app_0 1.2.3');
    expect(chip!.bootLog()).toContain('did not boot; staying on slot 0');
    expect(((await rpc('OTA.GetBootState')).result as { is_committed: boolean }).is_committed).toBe(true);
    expect(await push(bundle().zip)).toBeUndefined();
    await rebooted();
    expect(runningVersion()).toBe('app_1 1.3.0');
  }, 30_000);

  it('Commit cut after otadata, before the boot word: app_1 boots committed', async () => {
    await boot();
    expect(await push(bundle().zip)).toBeUndefined();
    await rebooted();
    const active = parseOtadata(chip!.flash.read(0xd000, 0x2000)).active!;
    expect((active.seq - 1) % 2).toBe(0); // tombstoned to app_0
    await cutAfter(buildOtadata({ seq: active.seq + 1, otherCopy: 'previous' }));
    expect(runningVersion()).toBe('app_1 1.3.0');
    expect(((await rpc('OTA.GetBootState')).result as { is_committed: boolean }).is_committed).toBe(true);
  }, 30_000);
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
    await expectEncryptedApp1(chip!, key, app);
  }, 200_000);
});

describe('Mongoose OS double: signature policy, timeouts and boot state', () => {
  const pub = (k: { publicKeyPem: string }) => mgosPublicKeyConfig(k.publicKeyPem);

  it('sig_req_mask -1 (the default) accepts an unsigned bundle; 0 is the tombstone that refuses even a good one', async () => {
    await boot({ conf: '{}' });
    expect(await push(bundle({ sign: 'none' }).zip)).toBeUndefined();
    uart.take();
    chip!.powerOff();
    await boot({ conf: JSON.stringify({ update: { key0: pub(signer), sig_req_mask: 0 } }) });
    expect((await push(bundle().zip))?.message).toMatch(/disabled/);
  }, 30_000);

  it('key rotation: mask 2 needs sig1 by key1 (a sig0 alone is refused)', async () => {
    await boot({ conf: JSON.stringify({ update: { key0: pub(signer), key1: pub(other), sig_req_mask: 2 } }) });
    expect((await push(bundle().zip))?.message).toMatch(/verified 0x1, required 0x2/);
    expect(await push(bundle({ sign: 'other', slot: 1 }).zip)).toBeUndefined();
  }, 30_000);

  it('platform: the 2018 prefix compare takes esp32c3; the exact reading refuses it', async () => {
    await boot();
    expect(await push(bundle({ platform: 'esp32c3' }).zip)).toBeUndefined();
    uart.take();
    chip!.powerOff();
    await boot({ mgos: { ota: { platformMatch: 'exact' } } });
    expect((await push(bundle({ platform: 'esp32c3' }).zip))?.message).toMatch(/Wrong platform/);
  }, 30_000);

  it('update.timeout: an update that stops making progress is abandoned (ManualClock), and a new one can start', async () => {
    const clock = new ManualClock();
    await boot({ clock });
    const { zip } = bundle();
    expect(await rpc('OTA.Begin', { timeout: 30, commit_timeout: 300, size: zip.length })).not.toHaveProperty('error');
    expect(((await rpc('OTA.Status')).result as { state: number }).state).toBe(1);
    expect((await rpc('OTA.Begin', { size: 1 })).error?.message).toMatch(/in progress/);
    clock.advance(30_000);
    expect((await rpc('OTA.Status')).result).toMatchObject({ state: 2, msg: 'Update timed out' });
    expect((await rpc('OTA.Write', { offset: 0, data: 'AAAA' })).error?.message).toMatch(/No update in progress/);
    expect(await push(zip)).toBeUndefined();
  }, 30_000);

  it('OTA.SetBootState picks the slot for the next boot', async () => {
    await boot();
    expect(await push(bundle().zip)).toBeUndefined();
    await rebooted();
    expect((await rpc('OTA.Commit')).error).toBeUndefined();
    expect((await rpc('OTA.SetBootState', { active_slot: 0, is_committed: true })).error).toBeUndefined();
    expect(otadataSlot()).toBe(0);
    await powerCycle();
    expect(runningVersion()).toBe('app_0 1.2.3');
  }, 30_000);

  it('power cuts at UART byte offsets of the push (Begin, manifest, early, middle, last chunks) each leave app_0 running and updatable', async () => {
    const { zip } = bundle();
    await boot();
    // UART bytes, not bundle bytes: base64 makes the stream ~4/3 of the bundle.
    for (const cutAt of [60, 900, 20_000, Math.floor(zip.length * 0.6), Math.floor((zip.length * 4) / 3 * 0.99)]) {
      chip!.injectPowerLoss({ afterRxBytes: cutAt });
      await push(zip).catch(() => undefined);
      expect(chip!.state, `cut at ${cutAt}`).not.toBe('app');
      uart.take();
      chip!.powerOn();
      await waitFor(() => chip!.state === 'app' && chip!.bootLog().includes('Init done'), 'boot after the cut');
      uart.take();
      expect(runningVersion(), `cut at ${cutAt}`).toBe('app_0 1.2.3');
      expect(((await rpc('OTA.Status')).result as { state: number }).state).toBe(0);
    }
    expect(await push(zip)).toBeUndefined();
    await rebooted();
    expect(runningVersion()).toBe('app_1 1.3.0');
  }, 120_000);
});

describe('Mongoose OS double: api_ota.js for the agent', () => {
  it('the new firmware\'s init.js reads its boot state and commits itself with OTA.commit()', async () => {
    await boot({ mgos: { scripts: mjsRunner() } });
    const initJs = `load('api_ota.js');
let st = OTA.getBootState();
print('ota slot', st.active_slot, 'committed', OTA.isCommitted() ? 'yes' : 'no');
if (!OTA.isCommitted()) { print('commit', OTA.commit() ? 'ok' : 'failed'); }
print('after', OTA.isCommitted() ? 'yes' : 'no', 'second commit', OTA.commit() ? 'ok' : 'refused');
`;
    const fw = makeDemoFirmware({ version: '1.3.0', seed: 7, fsFiles: { 'init.js': new TextEncoder().encode(initJs) } });
    expect(await push(signBundle(fw.bundle, signer.privateKeyPem, 0))).toBeUndefined();
    await rebooted();
    const log = chip!.bootLog();
    expect(log).toContain('ota slot 1 committed no');
    expect(log).toContain('commit ok');
    expect(log).toContain('after yes second commit refused');
    expect(otadataSlot()).toBe(1);
    await powerCycle();
    expect(runningVersion()).toBe('app_1 1.3.0');
  }, 30_000);
});
