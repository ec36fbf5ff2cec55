// The scenario runner's own contract: expect() reads forward from the last match, a timeout
// names the pattern, shows the tail and the transcript's path; a failing step is named by its
// number and sentence; a real-board run is skipped with the variables that enable it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConsoleLog, ExpectTimeout } from '../scenarios/console-log.ts';
import { REAL_BOARD_VARIABLES, realBoardEnv, realBoardTitle } from '../scenarios/rig-env.ts';
import { StepFailed, runScenario, step } from '../scenarios/story.ts';
import type { Rig } from '../scenarios/rig.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-hil-console-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bytes = (s: string) => new TextEncoder().encode(s);

describe('ConsoleLog', () => {
  it('expect matches across chunks, then only after the previous match; a string is literal', async () => {
    const log = new ConsoleLog(join(dir, 'a.log'));
    const first = log.expect(/MQTT (\w+) 0/, 1000);
    log.feed(bytes('[1.0] mgos_mqtt_ev MQTT CON'));
    log.feed(bytes('NACK 0\r\n[1.1] espfleet: connected as esp32_ABCDEF\r\n'));
    expect((await first)[1]).toBe('CONNACK');
    expect((await log.expect('connected as esp32_ABCDEF', 1000))[0]).toBe('connected as esp32_ABCDEF');
    await expect(log.expect(/MQTT CONNACK/, 30)).rejects.toThrow(ExpectTimeout); // already consumed
    expect(log.pending()).toBe('\r\n');
    log.feed(bytes('axb a.b!'));
    expect((await log.expect('a.b', 1000)).index).toBe(6); // '\r\naxb ' skipped: '.' is not a wildcard
    expect(log.pending()).toBe('!');
  });

  it('a timeout names the pattern, shows the tail and the transcript path; the file holds everything, control bytes shown as dots', async () => {
    const path = join(dir, 'b.log');
    const log = new ConsoleLog(path, 40);
    log.feed(bytes(`rst:0x1 (POWERON_RESET)\r\n\xc0\x00\x08${'x'.repeat(100)}\r\nlast words\r\n`));
    log.note('step 1: waiting');
    const err = await log.expect(/Guru Meditation/, 20).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExpectTimeout);
    const t = err as ExpectTimeout;
    expect(t.code).toBe('hil.expect.timeout');
    expect(t.message).toContain('/Guru Meditation/');
    expect(t.message).toContain('last words');
    expect(t.tail.length).toBe(40);
    expect(t.message).toContain(path);
    const file = readFileSync(path, 'utf8');
    expect(file).toContain('rst:0x1 (POWERON_RESET)');
    expect(file).toContain('## step 1: waiting');
    expect(file).not.toMatch(/[\x00-\x08]/);
  });
});

describe('stories', () => {
  it('a failing step is reported by scenario, number and sentence, with the transcript; the steps after it do not run', async () => {
    const console = new ConsoleLog(join(dir, 'c.log'));
    const ran: string[] = [];
    const rig = { board: { console } } as unknown as Rig;
    const err = await runScenario(rig, {
      name: 'demo',
      story: 'three steps',
      budgetMs: 1000,
      steps: [step('one', async () => void ran.push('one')), step('two fails', async () => { throw new Error('boom'); }), step('three', async () => void ran.push('three'))],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailed);
    expect((err as Error).message).toMatch(/^demo, step 2 "two fails": boom\n\(transcript: .*c\.log\)$/);
    expect(ran).toEqual(['one']);
    expect(readFileSync(join(dir, 'c.log'), 'utf8')).toMatch(/## step 2 FAILED: boom/);
  });

  it('without a board the real-board title names every missing variable; with them all it names the port', () => {
    const none = realBoardEnv({});
    expect(none.env).toBeUndefined();
    for (const v of REAL_BOARD_VARIABLES) expect(realBoardTitle(none)).toContain(v);
    const some = realBoardEnv({ ESPFLEET_HIL_PORT: '/dev/ttyUSB0', ESPFLEET_HIL_WIFI_SSID: 'lab' });
    expect(some.missing).toEqual(['ESPFLEET_HIL_BROKER', 'ESPFLEET_HIL_OTA_URL', 'ESPFLEET_HIL_FIRMWARE_DIR']);
    const all = realBoardEnv({ ESPFLEET_HIL_PORT: '/dev/ttyUSB0', ESPFLEET_HIL_BROKER: '192.168.1.10:8883', ESPFLEET_HIL_OTA_URL: 'https://192.168.1.10:8443/', ESPFLEET_HIL_FIRMWARE_DIR: '/tmp/fw', ESPFLEET_HIL_WIFI_SSID: 'lab' });
    expect(all.env).toMatchObject({ port: '/dev/ttyUSB0', wifi: { ssid: 'lab', pass: '' } });
    expect(realBoardTitle(all)).toBe('real ESP32 on ESPFLEET_HIL_PORT=/dev/ttyUSB0');
  });
});
