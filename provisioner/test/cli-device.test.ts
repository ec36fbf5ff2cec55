// `espfleet device …` against the Mongoose OS double on a virtual board (sim://), run
// in-process like a technician's shell: info, call, config get/set, fs ls/get/put/rm, reboot,
// and the errors a field user meets.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualEsp32, registerSimBoard } from '../../hil-tests/index.ts';
import { mgosBoard } from '../../hil-tests/test/helpers/mgos-board.ts';
import { firmwareSet, hardReset, place } from '../../hil-tests/test/helpers/firmware-set.ts';
import { espfleet } from './cli-harness.ts';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function simBoard(files: Record<string, string> = {}): Promise<{ port: string; chip: VirtualEsp32 }> {
  const chip = await mgosBoard({ files });
  const name = chip.options.name;
  const off = registerSimBoard(name, chip);
  cleanups.push(() => {
    off();
    chip.powerOff();
  });
  return { port: `sim://${name}`, chip };
}

describe('espfleet device', () => {
  it('info shows id, app, version and MAC (and --json the whole Sys.GetInfo)', async () => {
    const { port } = await simBoard({ 'conf9.json': '{"device":{"id":"field-7"}}' });
    const r = await espfleet(['device', 'info', '--port', port]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^mode: +Mongoose OS/m);
    expect(r.stdout).toMatch(/^id: +field-7$/m);
    expect(r.stdout).toMatch(/^app: +espfleet-demo 1\.2\.3/m);
    expect(r.stdout).toMatch(/^version: +1\.2\.3$/m);
    expect(r.stdout).toMatch(/^mac: +([0-9A-F]{2}:){5}[0-9A-F]{2}$/m);
    const j = await espfleet(['device', 'info', '--port', port, '--json']);
    expect(JSON.parse(j.stdout)).toMatchObject({ id: 'field-7', app: 'espfleet-demo', fw_version: '1.2.3', mac: expect.stringMatching(/^[0-9A-F]{12}$/) });
  });

  it('call prints the result as JSON; a 404 from the board shows its message', async () => {
    const { port } = await simBoard({ 'a.txt': 'x' });
    const r = await espfleet(['device', 'call', 'FS.ListExt', '{"path":"/"}', '--port', port]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(expect.arrayContaining([{ name: 'a.txt', size: 1 }]));
    const bad = await espfleet(['device', 'call', 'Nope.Nope', '--port', port]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('error: Nope.Nope failed on the board: 404 No handler for Nope.Nope [rpc.remote]');
    expect(bad.stderr).toMatch(/hint: .*RPC\.List/);
    const notJson = await espfleet(['device', 'call', 'FS.List', '{path:/}', '--port', port]);
    expect(notJson.stderr).toContain('[field.call.bad_params]');
  });

  it('config set checks keys and types against the board before sending anything', async () => {
    const { port } = await simBoard();
    const unknown = await espfleet(['device', 'config', 'set', 'mqtt.nope=1', '--port', port]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("error: the board's config has no key mqtt.nope [field.config.unknown_key]");
    expect(unknown.stderr).toContain('hint: see the keys with `espfleet device config get mqtt`');
    const badNum = await espfleet(['device', 'config', 'set', 'mqtt.keep_alive=soon', '--port', port]);
    expect(badNum.stderr).toContain('mqtt.keep_alive is a number on the board; "soon" is not a number [field.config.bad_value]');
    const badBool = await espfleet(['device', 'config', 'set', 'mqtt.enable=yes', '--port', port]);
    expect(badBool.stderr).toContain('[field.config.bad_value]');
    const section = await espfleet(['device', 'config', 'set', 'mqtt=1', '--port', port]);
    expect(section.stderr).toContain('mqtt is a section');
    const noEq = await espfleet(['device', 'config', 'set', 'mqtt.enable', '--port', port]);
    expect(noEq.stderr).toContain('[field.config.bad_assignment]');
    expect((await espfleet(['device', 'config', 'get', 'mqtt.keep_alive', '--port', port])).stdout).toBe('60\n');
  });

  it('config set saves and reboots (mos defaults); config get shows the values after the reboot; --no-save does not persist', async () => {
    const { port, chip } = await simBoard();
    const r = await espfleet(['device', 'config', 'set', 'mqtt.server=broker.example.net:8883', 'mqtt.keep_alive=30', 'mqtt.enable=true', '--port', port]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('set mqtt.server, mqtt.keep_alive, mqtt.enable; saved; the board rebooted\n');
    expect(chip.bootLog()).toContain('SW_CPU_RESET');
    const g = await espfleet(['device', 'config', 'get', 'mqtt', '--port', port, '--json']);
    expect(JSON.parse(g.stdout)).toMatchObject({ server: 'broker.example.net:8883', keep_alive: 30, enable: true });
    expect((await espfleet(['device', 'config', 'set', 'mqtt.user=temp', '--no-save', '--port', port])).stdout).toContain('not saved');
    expect((await espfleet(['device', 'reboot', '--port', port])).stdout).toBe('the board rebooted and answers again\n');
    expect((await espfleet(['device', 'config', 'get', 'mqtt.user', '--port', port])).stdout).toBe('\n');
  });

  it('fs put (chunked), fs ls, fs get and fs rm', async () => {
    const { port } = await simBoard();
    const dir = mkdtempSync(join(tmpdir(), 'cli-device-'));
    const data = Buffer.alloc(10_000, 0).map((_, i) => (i * 7) & 0xff);
    writeFileSync(join(dir, 'blob.bin'), data);
    const put = await espfleet(['device', 'fs', 'put', 'blob.bin', '--port', port], { cwd: dir });
    // Progress on stderr (not a terminal here): plain lines, the phase's start and its end.
    expect(put.stderr).toMatch(/^put blob\.bin: 0 B of 9\.8 KiB \(0%\)$/m);
    expect(put.stderr).toMatch(/^put blob\.bin: 9\.8 KiB of 9\.8 KiB \(100%\)/m);
    expect(put.stdout).toMatch(/^put blob\.bin: 10000 bytes in 4 chunks$/m);
    const quiet = await espfleet(['device', 'fs', 'put', 'blob.bin', '--port', port, '--quiet'], { cwd: dir });
    expect(quiet.stderr).toBe('');
    const small = await espfleet(['device', 'fs', 'put', 'blob.bin', 'b2.bin', '--chunk-size', '512', '--port', port, '--json'], { cwd: dir });
    expect(JSON.parse(small.stdout)).toMatchObject({ remote: 'b2.bin', bytes: 10_000, chunks: 20 });
    const ls = await espfleet(['device', 'fs', 'ls', '--port', port]);
    expect(ls.stdout).toMatch(/^blob\.bin +10000$/m);
    const get = await espfleet(['device', 'fs', 'get', 'b2.bin', 'back.bin', '--port', port], { cwd: dir });
    expect(get.code).toBe(0);
    expect(Buffer.from(readFileSync(join(dir, 'back.bin'))).equals(data)).toBe(true);
    const cat = await espfleet(['device', 'fs', 'get', 'conf0.json', '--port', port]);
    expect(cat.stdout).toBe('{}');
    expect((await espfleet(['device', 'fs', 'rm', 'b2.bin', '--port', port])).stdout).toBe('removed b2.bin\n');
    const gone = await espfleet(['device', 'fs', 'get', 'b2.bin', '--port', port]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('400 failed to open b2.bin');
    const tooBig = await espfleet(['device', 'fs', 'put', 'blob.bin', '--chunk-size', '4000', '--port', port], { cwd: dir });
    expect(tooBig.stderr).toContain('[field.fs.chunk_too_big]');
  });

  it('a board that does not run Mongoose OS: not answering RPC, with a hint about the baud rate and the firmware', async () => {
    const chip = new VirtualEsp32({ name: `no-mgos-${process.pid}` });
    place(chip, firmwareSet({ version: '1.0.0' }));
    chip.powerOn();
    const off = registerSimBoard(chip.options.name, chip);
    cleanups.push(() => {
      off();
      chip.powerOff();
    });
    const r = await espfleet(['device', 'info', '--port', `sim://${chip.options.name}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nor does its ROM loader (not in download mode)');
    expect(r.stderr).toMatch(/does not answer Mongoose OS RPC .*\[rpc\.no_answer\]/);
    expect(r.stderr).toMatch(/hint: is it running Mongoose OS .*baud rate/);
  });

  it('console prints the log of a reboot without resetting the board itself', async () => {
    const { port, chip } = await simBoard();
    const resetsBefore = chip.bootLog().split('rst:').length;
    const watching = espfleet(['device', 'console', '--port', port, '--duration', '400']);
    await new Promise((r) => setTimeout(r, 50));
    expect(chip.bootLog().split('rst:').length).toBe(resetsBefore); // opening did not reset it
    await hardReset(chip);
    const r = await watching;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^rst:0x1 \(POWERON_RESET\)/m);
    expect(r.stdout).toMatch(/mgos_init +Mongoose OS /);
    expect(r.stdout).toMatch(/Init done/);
    expect(r.stdout).not.toContain('"""');
  });

  it('info on a board sitting in its ROM loader shows the ROM facts and says it found download mode', async () => {
    const chip = new VirtualEsp32({ name: `rom-${process.pid}` });
    chip.powerOn();
    // IO0 low while EN is released: the ROM waits for a download.
    chip.setSignals({ dtr: false, rts: true });
    await new Promise((r) => setTimeout(r, 10));
    chip.setSignals({ dtr: true, rts: false });
    await new Promise((r) => setTimeout(r, 20));
    chip.setSignals({ dtr: false, rts: false });
    expect(chip.state).toBe('download');
    const off = registerSimBoard(chip.options.name, chip);
    cleanups.push(() => {
      off();
      chip.powerOff();
    });
    const r = await espfleet(['device', 'info', '--port', `sim://${chip.options.name}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^mode: +download \(ROM loader/m);
    expect(r.stdout).toMatch(/^mac: +([0-9A-F]{2}:){5}[0-9A-F]{2}$/m);
    expect(chip.state).toBe('download'); // left as it was
    const j = JSON.parse((await espfleet(['device', 'info', '--json', '--port', `sim://${chip.options.name}`])).stdout);
    expect(j.mode).toBe('download');
  });

  it('--help of each subcommand has examples', async () => {
    for (const cmd of [['console'], ['info'], ['call'], ['config', 'get'], ['config', 'set'], ['fs', 'ls'], ['fs', 'get'], ['fs', 'put'], ['fs', 'rm'], ['reboot']]) {
      const r = await espfleet(['device', ...cmd, '--help']);
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.stdout, cmd.join(' ')).toMatch(/Examples?:\n {2}espfleet device /);
    }
  });
});
