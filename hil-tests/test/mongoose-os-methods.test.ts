// The Mongoose OS double's RPC methods (spec mongoose-os.md §3.3, §4.1): Sys.*, Config.* with
// levels/try_once/reboot/ACL, FS.* with the offset/append rules, RPC.*; reboots go through
// the boot check and keep what was saved. Driven with raw frames, not with our client.
import { afterEach, describe, expect, it } from 'vitest';
import { openLittlefs } from '../../firmware-js/littlefs/index.ts';
import type { VirtualEsp32 } from '../index.ts';
import { FS0, RawUart, mgosBoard, waitFor } from './helpers/mgos-board.ts';

let chip: VirtualEsp32 | undefined;
let uart: RawUart;
let nextId = 100;
afterEach(() => {
  uart?.close();
  chip?.powerOff();
  chip = undefined;
});

async function boot(files: Record<string, string> = {}): Promise<void> {
  chip = await mgosBoard({ files });
  uart = new RawUart(chip);
}

type Reply = { id: number; result?: unknown; error?: { code: number; message: string } };
async function rpc(method: string, params?: unknown): Promise<Reply> {
  const id = nextId++;
  uart.send(`${JSON.stringify({ id, method, ...(params === undefined ? {} : { params }) })}\n`);
  const rx = await uart.until((r) => r.includes(`{"id":${id},`) && r.endsWith('}\n'), method);
  const line = rx.split('\n').find((l) => l.startsWith(`{"id":${id},`));
  return JSON.parse(line!) as Reply;
}
async function ok(method: string, params?: unknown): Promise<unknown> {
  const r = await rpc(method, params);
  expect(r.error, `${method} ${JSON.stringify(r.error)}`).toBeUndefined();
  return r.result;
}
/** Waits for the next boot's "Init done" (bootLog covers the current boot only). */
async function rebooted(): Promise<void> {
  await waitFor(() => uart.peek().includes('SW_CPU_RESET') && uart.peek().includes('Init done'), 'the reboot', 3_000);
  uart.take();
}
const fsNow = () => openLittlefs(chip!.flash.read(FS0.offset, FS0.size));

describe('Mongoose OS double: Sys.*', () => {
  it('Sys.GetInfo: id from esp32_?????? and the MAC, app and version from the app desc, mac as 12 uppercase hex digits', async () => {
    await boot();
    const info = (await ok('Sys.GetInfo')) as Record<string, unknown>;
    expect(info.mac).toMatch(/^[0-9A-F]{12}$/);
    expect(info.id).toBe(`esp32_${String(info.mac).slice(6)}`);
    expect(info).toMatchObject({ app: 'espfleet-demo', fw_version: '1.2.3', arch: 'esp32', fs_size: FS0.size });
    expect(info.fs_free).toBeLessThan(FS0.size);
    expect(Object.keys(info)).toEqual(expect.arrayContaining(['fw_id', 'mg_version', 'mg_id', 'uptime', 'public_key', 'ram_size', 'ram_free', 'ram_min_free', 'wifi']));
  });

  it('Sys.Reboot restarts through the boot check; a negative delay is 400; calls right before the reboot get 418', async () => {
    await boot();
    expect((await rpc('Sys.Reboot', { delay_ms: -1 })).error?.code).toBe(400);
    expect(await ok('Sys.Reboot', { delay_ms: 60 })).toBeNull();
    expect((await rpc('RPC.Ping')).error).toEqual({ code: 418, message: 'Reboot in progress' });
    await rebooted();
    expect(chip!.bootLog()).toContain('rst:0xc (SW_CPU_RESET)');
    expect(await ok('RPC.Ping')).toBeNull();
  });
});

describe('Mongoose OS double: Config.* (§4.1, §3.3)', () => {
  it('layers conf1..9.json in order over the compiled-in defaults; Config.Get by key and level', async () => {
    await boot({ 'conf1.json': '{"mqtt":{"server":"vendor:1883","keep_alive":30}}', 'conf9.json': '{"mqtt":{"server":"user:8883"},"device":{"id":"dev-1"}}' });
    expect(await ok('Config.Get', { key: 'mqtt.server' })).toBe('user:8883');
    expect(await ok('Config.Get', { key: 'mqtt.server', level: 1 })).toBe('vendor:1883');
    expect(await ok('Config.Get', { key: 'mqtt.server', level: 0 })).toBe('iot.eclipse.org:1883');
    expect(await ok('Config.Get', { key: 'mqtt.keep_alive' })).toBe(30);
    expect(await ok('Config.Get', { key: 'device.id' })).toBe('dev-1');
    expect(((await ok('Config.Get')) as { wifi: { ap: { ssid: string } } }).wifi.ap.ssid).toMatch(/^Mongoose_[0-9A-F]{6}$/);
    expect((await rpc('Config.Get', { key: 'no.such' })).error?.code).toBe(404);
  });

  it('conf_acl set by a vendor level filters the levels after it, and Config.Set is refused outside it', async () => {
    await boot({ 'conf5.json': '{"conf_acl":"-mqtt.ssl*,mqtt.*"}', 'conf9.json': '{"mqtt":{"server":"ok:1"},"wifi":{"ap":{"enable":false}},"debug":{"level":3}}' });
    expect(await ok('Config.Get', { key: 'mqtt.server' })).toBe('ok:1');
    expect(await ok('Config.Get', { key: 'wifi.ap.enable' })).toBe(true);
    expect(await ok('Config.Get', { key: 'debug.level' })).toBe(2);
    expect((await rpc('Config.Set', { config: { mqtt: { ssl_ca_cert: 'x.pem' } } })).error?.code).toBe(403);
    expect(await ok('Config.Set', { config: { mqtt: { client_id: 'c1' } } })).toEqual({ saved: false });
  });

  it('Config.Set: unknown key 404, wrong type 400, level 0 400; key+value form; not saved unless asked', async () => {
    await boot();
    expect((await rpc('Config.Set', { config: { mqtt: { nope: 1 } } })).error?.code).toBe(404);
    expect((await rpc('Config.Set', { config: { mqtt: { keep_alive: 'x' } } })).error?.code).toBe(400);
    expect((await rpc('Config.Set', { config: { mqtt: { keep_alive: 1.5 } } })).error?.code).toBe(400);
    expect(await ok('Config.Set', { config: { mqtt: { reconnect_timeout_min: 1.5 } } })).toEqual({ saved: false });
    expect((await rpc('Config.Set', { config: { mqtt: { enable: true } }, level: 0 })).error).toMatchObject({ code: 400, message: expect.stringMatching(/not allowed/) });
    expect(await ok('Config.Set', { key: 'mqtt.user', value: 'u1' })).toEqual({ saved: false });
    expect(await ok('Config.Get', { key: 'mqtt.user' })).toBe('u1');
    expect(fsNow().exists('/conf9.json')).toBe(false);
  });

  it('save writes conf9.json with only what differs from the levels below; it survives a reboot', async () => {
    await boot({ 'conf3.json': '{"mqtt":{"keep_alive":45}}' });
    expect(await ok('Config.Set', { config: { mqtt: { server: 'b:8883', keep_alive: 45 } }, save: true, reboot: true })).toEqual({ saved: true });
    expect(JSON.parse(new TextDecoder().decode(fsNow().readFile('/conf9.json')))).toEqual({ mqtt: { server: 'b:8883' } });
    await rebooted();
    expect(await ok('Config.Get', { key: 'mqtt.server' })).toBe('b:8883');
  });

  it('level N saves confN.json; Config.Save saves what Config.Set left unsaved', async () => {
    await boot();
    await ok('Config.Set', { config: { debug: { level: 3 } }, level: 4, save: true });
    expect(JSON.parse(new TextDecoder().decode(fsNow().readFile('/conf4.json')))).toEqual({ debug: { level: 3 } });
    await ok('Config.Set', { config: { mqtt: { user: 'later' } } });
    expect(await ok('Config.Save', {})).toEqual({ saved: true });
    expect(JSON.parse(new TextDecoder().decode(fsNow().readFile('/conf9.json')))).toEqual({ mqtt: { user: 'later' } });
  });

  it('try_once writes conf9.json.try, loaded at the next boot instead of conf9.json and then deleted', async () => {
    await boot({ 'conf9.json': '{"mqtt":{"server":"kept:1"}}' });
    await ok('Config.Set', { config: { mqtt: { server: 'trial:2' } }, save: true, try_once: true, reboot: true });
    expect(fsNow().exists('/conf9.json.try')).toBe(true);
    await rebooted();
    expect(await ok('Config.Get', { key: 'mqtt.server' })).toBe('trial:2');
    expect(fsNow().exists('/conf9.json.try')).toBe(false);
    await ok('Sys.Reboot', { delay_ms: 0 });
    await rebooted();
    expect(await ok('Config.Get', { key: 'mqtt.server' })).toBe('kept:1');
  });
});

describe('Mongoose OS double: FS.* (§3.3)', () => {
  it('FS.Put offset rules: 0 truncates, > 0 writes at the offset (r+), < 0 with append appends, < 0 without replaces', async () => {
    await boot();
    const put = (data: string, extra: Record<string, unknown>) => ok('FS.Put', { filename: 'f.txt', data: Buffer.from(data).toString('base64'), ...extra });
    const get = async () => Buffer.from(((await ok('FS.Get', { filename: 'f.txt' })) as { data: string }).data, 'base64').toString();
    await put('hello world', { offset: 0 });
    await put('HELLO', { offset: 0 });
    expect(await get()).toBe('HELLO');
    await put('-there', { offset: 5, append: true });
    expect(await get()).toBe('HELLO-there');
    await put('ww', { offset: 1 });
    expect(await get()).toBe('HwwLO-there');
    await put('!', { offset: -1, append: true });
    expect(await get()).toBe('HwwLO-there!');
    await put('new', { offset: -1, append: false });
    expect(await get()).toBe('new');
    expect((await rpc('FS.Put', { filename: 'missing.txt', data: 'eA==', offset: 3 })).error?.code).toBe(400);
  });

  it('FS.Get with offset and len returns the slice and what is left', async () => {
    await boot({ 'g.txt': '0123456789' });
    expect(await ok('FS.Get', { filename: 'g.txt', offset: 2, len: 3 })).toEqual({ data: Buffer.from('234').toString('base64'), left: 5 });
    expect(await ok('FS.Get', { filename: 'g.txt', offset: 8, len: 5 })).toEqual({ data: Buffer.from('89').toString('base64'), left: 0 });
    expect((await rpc('FS.Get', { filename: 'none.txt' })).error?.code).toBe(400);
  });

  it('FS.List / FS.ListExt / FS.Remove / FS.Rename', async () => {
    await boot({ 'a.txt': 'aaa' });
    expect(await ok('FS.List')).toEqual(expect.arrayContaining(['conf0.json', 'a.txt']));
    expect(await ok('FS.ListExt', { path: '/' })).toEqual(expect.arrayContaining([{ name: 'a.txt', size: 3 }]));
    expect(await ok('FS.Rename', { src: 'a.txt', dst: 'b.txt' })).toBeNull();
    expect(await ok('FS.List')).toEqual(expect.arrayContaining(['b.txt']));
    expect(await ok('FS.List')).not.toContain('a.txt');
    expect(await ok('FS.Remove', { filename: 'b.txt' })).toBeNull();
    expect((await rpc('FS.Remove', { filename: 'b.txt' })).error?.code).toBe(400);
    expect(fsNow().exists('/b.txt')).toBe(false);
  });
});

describe('Mongoose OS double: RPC.*', () => {
  it('RPC.List names every method; RPC.Describe of an unknown one is 404; RPC.Ping answers', async () => {
    await boot();
    expect(await ok('RPC.List')).toEqual(expect.arrayContaining(['Sys.GetInfo', 'Sys.Reboot', 'Config.Get', 'Config.Set', 'Config.Save', 'FS.List', 'FS.ListExt', 'FS.Get', 'FS.Put', 'FS.Remove', 'FS.Rename', 'RPC.List', 'RPC.Describe', 'RPC.Ping']));
    expect(await ok('RPC.Describe', { name: 'FS.Put' })).toMatchObject({ name: 'FS.Put' });
    expect((await rpc('RPC.Describe', { name: 'X.Y' })).error?.code).toBe(404);
    expect(await ok('RPC.Ping')).toBeNull();
  });

  it('the script hook gets init.js and can add RPC handlers; without a runner it says so in the log', async () => {
    chip = await mgosBoard({
      files: { 'init.js': 'print("hi")' },
      mgos: { scripts: (file, source, ctx) => ctx.addHandler('Agent.Echo', (p) => ({ file, source, p })) },
    });
    uart = new RawUart(chip);
    expect(await ok('Agent.Echo', { x: 1 })).toEqual({ file: 'init.js', source: 'print("hi")', p: { x: 1 } });
    uart.close();
    chip.powerOff();
    chip = await mgosBoard({ files: { 'init.js': 'print("hi")' } });
    uart = new RawUart(chip);
    expect(chip.bootLog()).toContain('init.js present; this double has no mJS runner attached, not run');
  });
});

describe('Mongoose OS double: a full filesystem', () => {
  it('FS.Put and Config.Set with save answer 500 with the reason when fs_0 is full, and the board keeps running', async () => {
    await boot();
    const big = Buffer.alloc(2_900, 0x41).toString('base64');
    let code = 0;
    for (let i = 0; i < 200 && code === 0; i++) {
      const r = await rpc('FS.Put', { filename: `fill${i % 100}.bin`, data: big, offset: i < 100 ? 0 : -1, append: true });
      code = r.error?.code ?? 0;
    }
    expect(code).toBe(500);
    const set = await rpc('Config.Set', { config: { mqtt: { server: 'x'.repeat(64) } }, save: true });
    if (set.error) expect(set.error).toMatchObject({ code: 500, message: expect.stringMatching(/failed to save config level 9/) });
    expect(chip!.state).toBe('app');
    expect(await ok('RPC.Ping')).toBeNull();
  });
});
