// The agent's init.js on the Mongoose OS double, in the project's mJS engine with the §5.2
// APIs (spec mongoose-os.md §5.1–§5.3): Cfg, Timer on the host clock, Sys, RPC.addHandler
// (answered over UART), RPC.call(RPC.LOCAL), File; extra ffi tables from the caller.
import { afterEach, describe, expect, it } from 'vitest';
import { openLittlefs } from '../../firmware-js/littlefs/index.ts';
import { ManualClock, type VirtualEsp32 } from '../index.ts';
import { mjsRunner } from '../mongoose-os/index.ts';
import { mergeFfi } from '../mongoose-os/mjs-runner.ts';
import { FS0, RawUart, mgosBoard } from './helpers/mgos-board.ts';

const AGENT = `load('api_config.js');
load('api_rpc.js');
load('api_timer.js');
load('api_sys.js');
load('api_file.js');
print('agent up, server', Cfg.get('mqtt.server'), Cfg.get('mqtt.keep_alive'), Cfg.get('mqtt'));
let state = { ticks: 0, id: '' };
Timer.set(1000, Timer.REPEAT, function(st) { st.ticks = st.ticks + 1; }, state);
RPC.addHandler('Agent.Status', function(args, src, st) {
  return { ticks: st.ticks, id: st.id, src: src, echo: args, up: Sys.uptime() >= 0 };
}, state);
RPC.addHandler('Agent.Fail', function(args, src, ud) { return { error: 409, message: 'busy' }; }, null);
RPC.addHandler('Agent.Save', function(args, src, ud) { return { ok: Cfg.set({ mqtt: { server: args.server } }) , bad: Cfg.set({ mqtt: { nope: 1 } }) }; }, null);
RPC.addHandler('Agent.Note', function(args, src, ud) {
  File.write(args.text, 'note.txt');
  File.write('!', 'note.txt', 'a');
  return { back: File.read('note.txt'), missing: File.read('nope.txt') };
}, null);
RPC.call(RPC.LOCAL, 'Sys.GetInfo', null, function(res, code, msg, st) { st.id = res.id; }, state);
`;

let chip: VirtualEsp32 | undefined;
let uart: RawUart;
let nextId = 1;
afterEach(() => {
  uart?.close();
  chip?.powerOff();
  chip = undefined;
});

async function rpc(method: string, params?: unknown): Promise<{ result?: unknown; error?: { code: number; message: string } }> {
  const id = nextId++;
  uart.send(`${JSON.stringify({ id, src: 'tech', method, ...(params === undefined ? {} : { params }) })}\n`);
  const rx = await uart.until((r) => new RegExp(`\\{"id":${id},[^\\n]*\\n`).test(r), method);
  return JSON.parse(rx.split('\n').find((l) => l.startsWith(`{"id":${id},`))!);
}

describe('Mongoose OS double: the agent in mJS', () => {
  it('init.js reads config, sets timers on the host clock, and answers RPC through its handlers', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 1));
    chip = await mgosBoard({ chip: { clock }, files: { 'init.js': AGENT, 'conf9.json': '{"mqtt":{"server":"b:8883"}}' }, mgos: { scripts: mjsRunner() } });
    uart = new RawUart(chip);
    expect(chip.bootLog()).toContain('agent up, server b:8883 60 undefined');
    clock.advance(3_500);
    const status = await rpc('Agent.Status', { x: [1, 'two'] });
    expect(status.result).toMatchObject({ ticks: 3, src: 'tech', echo: { x: [1, 'two'] }, up: true });
    expect((status.result as { id: string }).id).toMatch(/^esp32_[0-9A-F]{6}$/);
    expect(await rpc('Agent.Fail')).toMatchObject({ error: { code: 409, message: 'busy' } });
    expect(((await rpc('RPC.List')).result as string[])).toEqual(expect.arrayContaining(['Agent.Status', 'Agent.Note']));
  });

  it('Cfg.set applies and saves conf9.json (and refuses unknown keys); File.write/read/append work on the board FS', async () => {
    chip = await mgosBoard({ files: { 'init.js': AGENT }, mgos: { scripts: mjsRunner() } });
    uart = new RawUart(chip);
    expect((await rpc('Agent.Save', { server: 'agent:1883' })).result).toEqual({ ok: true, bad: false });
    expect((await rpc('Config.Get', { key: 'mqtt.server' })).result).toBe('agent:1883');
    const fs = openLittlefs(chip.flash.read(FS0.offset, FS0.size));
    expect(JSON.parse(new TextDecoder().decode(fs.readFile('/conf9.json')))).toEqual({ mqtt: { server: 'agent:1883' } });
    expect((await rpc('Agent.Note', { text: 'hello' })).result).toEqual({ back: 'hello!', missing: null });
  });

  it('an API the double does not have yet (HTTP) fails the script visibly, as a missing file would', async () => {
    chip = await mgosBoard({ files: { 'init.js': "load('api_http.js');\nprint('not reached');" }, mgos: { scripts: mjsRunner() } });
    expect(chip.bootLog()).toMatch(/MJS error: .*api_http\.js/);
    expect(chip.bootLog()).not.toContain('not reached');
  });

  it('serves extra ffi tables and api files from its caller, made per boot from the board context; a clash is refused', async () => {
    const api = { 'api_extra.js': "let Extra = { id: ffi('char *extra_id(void)'), n: ffi('int extra_n(int)') };\n" };
    const runner = mjsRunner({ apiFiles: api, ffi: [{ extra_n: (n) => Number(n) * 2 }, (ctx) => ({ extra_id: () => String(ctx.config.get().device && (ctx.config.get().device as { id: string }).id) })] });
    chip = await mgosBoard({ files: { 'init.js': "load('api_extra.js');\nprint('extra', Extra.n(21), Extra.id());" }, mgos: { scripts: runner } });
    expect(chip.bootLog()).toMatch(/extra 42 esp32_[0-9A-F]{6}/);
    expect(() => mergeFfi({ mgos_uptime: () => 1 }, [{ a: () => 0 }, () => ({ mgos_uptime: () => 0 })], {} as never)).toThrow(/mgos_uptime is served twice/);
  });

  it('Timer.fmt formats board time as strftime does (UTC, the default tz)', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 2, 3, 4, 5));
    const script = "load('api_timer.js');\nprint(Timer.fmt('%Y-%m-%d %H:%M:%S %a %b %j %%', Timer.now()));\n";
    chip = await mgosBoard({ chip: { clock }, files: { 'init.js': script }, mgos: { scripts: mjsRunner() } });
    expect(chip.bootLog()).toContain('2026-12-02 03:04:05 Wed Dec 336 %');
  });

  it('a runaway script trips the watchdog: the board reboots through the boot check', async () => {
    const script = "let n = 0;\nwhile (true) { n = n + 1; }\n";
    chip = await mgosBoard({ files: { 'init.js': script }, mgos: { scripts: mjsRunner() } });
    for (let i = 0; i < 200 && chip.resets < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(chip.resets).toBeGreaterThanOrEqual(2);
    expect(chip.bootLog()).toContain('rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)');
    expect(chip.bootLog()).toContain('boot: Loaded app from partition at offset');
    chip.powerOff(); // it would trip again on every boot, as a board with such a script does
  });
});
