// openStation on a real station directory (secrets from the environment and from a prompt,
// the refusals that come before any board), and watchStation provisioning virtual boards
// as they "plug in": each new port once, again only after it went away and came back.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeystore, initCa } from '../../certs/index.ts';
import { generateSigningKey, signBundle } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { VirtualEsp32, registerSimBoard } from '../../hil-tests/index.ts';
import { CA_PASSPHRASE_ENV, KEYSTORE_PASSPHRASE_ENV, parseStationConfig, type StationConfig } from '../station/config.ts';
import { openStation } from '../station/open-station.ts';
import { watchStation } from '../station/runner.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-station-watch-'));
const unregister: Array<() => void> = [];
afterAll(() => {
  for (const u of unregister) u();
  rmSync(dir, { recursive: true, force: true });
});
const caPass = randomBytes(18).toString('base64');
const ksPass = randomBytes(18).toString('base64');
const env = { [CA_PASSPHRASE_ENV]: caPass, [KEYSTORE_PASSPHRASE_ENV]: ksPass };

function config(extra = '', over: Record<string, string> = {}): StationConfig {
  const text = `[station]
id = "watch-line"
operator = "tester"
[firmware]
bundle = "${over.bundle ?? 'fw.zip'}"
signing_keys = ["sign0.pub.pem"]
[ca]
dir = "${over.ca ?? 'ca'}"
[keystore]
path = "keys.json"
[mqtt]
server = "[::1]:8883"
[encryption]
mode = "development"
${extra}`;
  return parseStationConfig(text, { baseDir: dir, source: 'station.toml' });
}

function board(name: string): { chip: VirtualEsp32; url: string } {
  const chip = new VirtualEsp32({ name: `${name}-${process.pid}` });
  chip.powerOn();
  unregister.push(registerSimBoard(chip.options.name, chip));
  return { chip, url: `sim://${chip.options.name}` };
}

beforeAll(async () => {
  await initCa({ dir: join(dir, 'ca'), passphrase: caPass });
  await createKeystore(join(dir, 'keys.json'), { passphrase: ksPass }, { scrypt: { N: 1 << 14, r: 8, p: 1 } });
  const signer = generateSigningKey();
  const other = generateSigningKey();
  writeFileSync(join(dir, 'sign0.pub.pem'), signer.publicKeyPem);
  const demo = makeDemoFirmware({ version: '4.0.0', appSize: 0x18000 });
  writeFileSync(join(dir, 'fw.zip'), signBundle(demo.bundle, signer.privateKeyPem, 0));
  writeFileSync(join(dir, 'fw-other.zip'), signBundle(demo.bundle, other.privateKeyPem, 0));
}, 60_000);

describe('openStation', () => {
  it('builds the pipeline context from the config, secrets from the environment', async () => {
    const st = await openStation(config(), { env });
    try {
      expect(st.ctx).toMatchObject({
        station: 'watch-line',
        operator: 'tester',
        mqttServer: '[::1]:8883',
        encryptionMode: 'development',
        requireSignatures: true,
        deviceIdTemplate: 'esp32_{mac6}',
        journalDir: join(dir, 'journal'),
        baud: 921600,
      });
      expect(st.ctx.signingPublicKeys).toHaveLength(1);
      expect(st.ctx.bundle.manifest.version).toBe('4.0.0');
      expect(st.ctx.keystore.path).toBe(join(dir, 'keys.json'));
    } finally {
      await st.close();
    }
  });

  it('asks on the terminal when neither a file nor the environment has the passphrase', async () => {
    const asked: string[] = [];
    const answers = [caPass, ksPass];
    const st = await openStation(config(), { env: {}, prompt: async (q) => (asked.push(q), answers.shift() ?? '') });
    await st.close();
    expect(asked).toEqual(['Passphrase for the CA key: ', 'Passphrase for the keystore: ']);
  });

  it('refuses before any board: wrong keystore passphrase, a bundle not signed by the station key, no CA, no secret', async () => {
    await expect(openStation(config(), { env: { ...env, [KEYSTORE_PASSPHRASE_ENV]: 'wrong-passphrase' } })).rejects.toMatchObject({
      code: 'certs.keystore.bad_passphrase',
      message: expect.stringMatching(/no board was touched$/),
      hint: expect.stringMatching(/^the keystore passphrase came from \$ESPFLEET_KEYSTORE_PASSPHRASE; keystore\.passphrase_file in station\.toml/),
    });
    await expect(openStation(config('', { bundle: 'fw-other.zip' }), { env })).rejects.toMatchObject({ code: 'station.unsigned_bundle' });
    await expect(openStation(config('', { ca: 'no-ca' }), { env })).rejects.toMatchObject({ code: 'certs.ca.not_found' });
    await expect(openStation(config(), { env: {} })).rejects.toMatchObject({ code: 'secret.missing' });
    const noMqtt = { ...config(), mqtt: { server: null } };
    await expect(openStation(noMqtt, { env })).rejects.toMatchObject({ code: 'station.config_incomplete', message: expect.stringContaining('mqtt.server') });
  });
});

describe('watchStation', () => {
  it('provisions boards as their ports appear, and a port again only after it came back', async () => {
    const a = board('watch-a');
    const b = board('watch-b');
    // The "USB" the station sees: a at once, b later, then a unplugged and plugged back.
    let visible: string[] = [a.url];
    const st = await openStation(config(), { env });
    const stop = new AbortController();
    const lines: string[] = [];
    const done: string[] = [];
    const watching = watchStation(st.ctx, {
      list: async () => visible,
      signal: stop.signal,
      intervalMs: 20,
      onLine: (l) => lines.push(l),
      onOutcome: (o) => done.push(`${o.portUrl} ${o.ok ? 'ok' : o.error?.code}`),
    });
    const until = async (cond: () => boolean) => {
      for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
      expect(cond()).toBe(true);
    };
    await until(() => done.length === 1);
    visible = [a.url, b.url];
    await until(() => done.length === 2);
    await new Promise((r) => setTimeout(r, 100)); // a stays plugged in: not provisioned again
    expect(done).toHaveLength(2);
    visible = [b.url];
    await new Promise((r) => setTimeout(r, 60));
    visible = [a.url, b.url];
    await until(() => done.length === 3);
    stop.abort();
    const outcomes = await watching;
    await st.close();
    expect(done).toEqual([`${a.url} ok`, `${b.url} ok`, `${a.url} station.already_provisioned`]);
    expect(outcomes.map((o) => o.portUrl)).toEqual([a.url, b.url, a.url]);
    expect(lines.filter((l) => l.endsWith('plugged in'))).toEqual([`[${a.url}] plugged in`, `[${b.url}] plugged in`, `[${a.url}] plugged in`]);
    expect(lines.some((l) => l.startsWith(`[${b.url}] boot: `))).toBe(true);
    expect(a.chip.flashEncryptionEnabled() && b.chip.flashEncryptionEnabled()).toBe(true);
  }, 60_000);

  it('returns at once when stopped before anything appears', async () => {
    const st = await openStation(config(), { env });
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 50);
    const outcomes = await watchStation(st.ctx, { list: async () => [], signal: stop.signal, intervalMs: 10_000 });
    await st.close();
    expect(outcomes).toEqual([]);
  });
});
