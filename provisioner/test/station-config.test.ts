// station.toml: allow-list errors name the key path, every bad value kind is refused with
// the key and the value, defaults fill in, relative paths resolve beside the file.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EspfleetError } from '../../firmware-js/errors.ts';
import {
  DEFAULT_DEVICE_ID_TEMPLATE,
  StationConfigError,
  caPassphraseSource,
  deviceIdFor,
  keystoreSecretSource,
  loadStationConfig,
  parseStationConfig,
  type StationConfig,
} from '../station/config.ts';

const MIN = `[station]\nid = "s1"\noperator = "alice"\n`;
const BASE = '/srv/line1';

function parse(text: string): StationConfig {
  return parseStationConfig(text, { baseDir: BASE });
}

function errorOf(text: string): StationConfigError {
  try {
    parse(text);
  } catch (e) {
    expect(e).toBeInstanceOf(StationConfigError);
    expect(e).toBeInstanceOf(EspfleetError);
    return e as StationConfigError;
  }
  throw new Error(`expected an error for:\n${text}`);
}

describe('station config: defaults', () => {
  it('fills every default from a minimal file', () => {
    const cfg = parse(MIN);
    expect(cfg.station).toEqual({ id: 's1', operator: 'alice' });
    expect(cfg.firmware).toEqual({ bundle: null, signingKeys: [], requireSignatures: true });
    expect(cfg.ca).toEqual({ dir: null, passphraseFile: null });
    expect(cfg.keystore).toEqual({ path: null, keyFile: null, passphraseFile: null, mirrors: [] });
    expect(cfg.device.idTemplate).toBe(DEFAULT_DEVICE_ID_TEMPLATE);
    expect(cfg.mqtt.server).toBeNull();
    expect(cfg.agent).toEqual({});
    expect(cfg.encryption.mode).toBe('off');
    expect(cfg.ports).toEqual({ urls: [], usb: [] });
    expect(cfg.serial.baud).toBe(921600);
    expect(cfg.paths).toEqual({
      registry: resolve(BASE, 'registry.sqlite'),
      audit: resolve(BASE, 'audit.jsonl'),
      journalDir: resolve(BASE, 'journal'),
    });
    expect(cfg.source).toBe('station.toml');
    expect(cfg.baseDir).toBe(resolve(BASE));
  });

  it('reads a full file with typed values', () => {
    const cfg = parse(`${MIN}
[firmware]
bundle = "fw/app.zip"
signing_keys = ["k0.pem", "/abs/k1.pem"]
[mqtt]
server = "broker.local:8883"
[agent.wifi.sta]
ssid = "net"
enable = true
[agent]
debug = { level = 2 }
[ports]
urls = ["/dev/ttyUSB0", "rfc2217://rig:4000", "sim://a"]
usb = [{ vid = "10c4", pid = "0xEA60" }, { vid = "1a86" }]
[serial]
baud = 115200
[keystore]
path = "ks.json"
[encryption]
mode = "release"
`);
    expect(cfg.firmware.bundle).toBe(resolve(BASE, 'fw/app.zip'));
    expect(cfg.firmware.signingKeys).toEqual([resolve(BASE, 'k0.pem'), '/abs/k1.pem']);
    expect(cfg.mqtt.server).toEqual({ host: 'broker.local', port: 8883 });
    expect(cfg.agent).toEqual({ wifi: { sta: { ssid: 'net', enable: true } }, debug: { level: 2 } });
    expect(cfg.ports.usb).toEqual([
      { vid: 0x10c4, pid: 0xea60 },
      { vid: 0x1a86, pid: null },
    ]);
    expect(cfg.ports.urls).toHaveLength(3);
    expect(cfg.serial.baud).toBe(115200);
    expect(cfg.encryption.mode).toBe('release');
    expect(parse(`${MIN}[mqtt]\nserver = "[::1]:1883"\n`).mqtt.server).toEqual({ host: '::1', port: 1883 });
  });

  it('paths.registry takes a postgres:// URL as written, and sqlite:PATH as a path', () => {
    const url = 'postgres://espfleet@db.example.net:5432/fleet?sslmode=verify-full&sslrootcert=/etc/espfleet/db-ca.pem';
    expect(parse(`${MIN}[paths]\nregistry = "${url}"\n`).paths.registry).toBe(url);
    expect(parse(`${MIN}[paths]\nregistry = "sqlite:data/reg.sqlite"\n`).paths.registry).toBe(resolve(BASE, 'data/reg.sqlite'));
  });

  it('resolves relative paths against the TOML file directory (loadStationConfig)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'espfleet-station-'));
    const file = join(dir, 'station.toml');
    writeFileSync(file, `${MIN}[paths]\nregistry = "db/reg.sqlite"\naudit = "/var/log/audit.jsonl"\n[ca]\ndir = "../ca"\n`);
    const cfg = loadStationConfig(file);
    expect(cfg.paths.registry).toBe(join(dir, 'db/reg.sqlite'));
    expect(cfg.paths.audit).toBe('/var/log/audit.jsonl');
    expect(cfg.paths.journalDir).toBe(join(dir, 'journal'));
    expect(cfg.ca.dir).toBe(resolve(dir, '../ca'));
    expect(cfg.source).toBe(file);
  });

  it('a missing file is a StationConfigError naming the path', () => {
    expect(() => loadStationConfig('/nonexistent/station.toml')).toThrow(/cannot read station config \/nonexistent\/station.toml: no such file/);
  });

  it('docs/station.example.toml parses', () => {
    const cfg = loadStationConfig(resolve(import.meta.dirname, '../../docs/station.example.toml'));
    expect(cfg.station.id).toBe('line1-station3');
    expect(cfg.encryption.mode).toBe('development');
    expect(cfg.firmware.signingKeys).toHaveLength(2);
    expect(cfg.ports.usb).toEqual([
      { vid: 0x10c4, pid: 0xea60 },
      { vid: 0x1a86, pid: null },
    ]);
    expect(cfg.agent).toEqual({ wifi: { sta: { enable: true, ssid: 'factory-net' } }, debug: { level: 2 } });
  });
});

describe('station config: secret sources (never the secrets themselves)', () => {
  it('file when configured, else the environment variable', () => {
    expect(caPassphraseSource(parse(MIN))).toEqual({ what: 'CA key', envVar: 'ESPFLEET_CA_PASSPHRASE' });
    const cfg = parse(`${MIN}[ca]\ndir = "ca"\npassphrase_file = "ca.pass"\n[keystore]\npath = "ks.json"\nkey_file = "ks.key"\n`);
    expect(caPassphraseSource(cfg)).toEqual({ what: 'CA key', envVar: 'ESPFLEET_CA_PASSPHRASE', file: resolve(BASE, 'ca.pass') });
    expect(keystoreSecretSource(cfg)).toEqual({ keyFile: resolve(BASE, 'ks.key') });
    expect(keystoreSecretSource(parse(`${MIN}[keystore]\npath = "ks.json"\n`))).toEqual({
      passphrase: { what: 'keystore', envVar: 'ESPFLEET_KEYSTORE_PASSPHRASE' },
    });
  });
});

describe('station config: device ids', () => {
  it('{mac6} is the last 6 hex digits upper-case, {mac} all 12', () => {
    expect(deviceIdFor('esp32_{mac6}', '24:0a:c4:12:ab:cd')).toBe('esp32_12ABCD');
    expect(deviceIdFor('dev-{mac}', '240ac412abcd')).toBe('dev-240AC412ABCD');
    expect(() => deviceIdFor('esp32_{mac6}', 'nope')).toThrow(/not a MAC address/);
  });
});

describe('station config: unknown keys name the key path', () => {
  const cases: Array<[string, string]> = [
    ['stations = 1\n', 'stations'],
    ['[statoin]\nid = "x"\n', 'statoin'],
    ['[station]\nid = "s1"\noperator = "a"\nname = "x"\n', 'station.name'],
    [`${MIN}[firmware]\nsigning_key = ["a"]\n`, 'firmware.signing_key'],
    [`${MIN}[ports]\nusb = [{ vid = "10c4", product = "ea60" }]\n`, 'ports.usb[0].product'],
    [`${MIN}[[ports.usb]]\nvid = "10c4"\n[[ports.usb]]\nvid = "1a86"\nserial = "x"\n`, 'ports.usb[1].serial'],
    [`${MIN}[paths.registry]\nfile = "x"\n`, 'paths.registry'],
  ];
  for (const [text, path] of cases) {
    it(path, () => {
      const e = errorOf(text);
      expect(e.keyPath).toBe(path);
      expect(e.message.startsWith(`station.toml: ${path}: `)).toBe(true);
      if (path !== 'paths.registry') expect(e.code).toBe('station.config.unknown_key');
    });
  }

  it('an unknown key wins over missing values (a typo is the root cause)', () => {
    const e = errorOf('[statoin]\nid = "x"\noperator = "a"\n');
    expect(e.code).toBe('station.config.unknown_key');
    expect(e.message).toMatch(/allowed sections: station, firmware/);
  });

  it('a passphrase in the file is refused with a hint, and the value is not echoed', () => {
    const e = errorOf(`${MIN}[ca]\ndir = "ca"\npassphrase = "hunter2"\n`);
    expect(e.keyPath).toBe('ca.passphrase');
    expect(e.hint).toMatch(/never go in station.toml/);
    expect(e.message).not.toContain('hunter2');
  });
});

describe('station config: bad values name the key and the value', () => {
  const cases: Array<[string, string, RegExp]> = [
    [`${MIN}[encryption]\nmode = "on"\n`, 'encryption.mode', /^station\.toml: encryption\.mode: expected one of off, development, release, got "on"$/],
    [`${MIN}[serial]\nbaud = "fast"\n`, 'serial.baud', /expected a whole number from 9600 to 5000000, got "fast"/],
    [`${MIN}[serial]\nbaud = 100\n`, 'serial.baud', /got 100$/],
    [`${MIN}[serial]\nbaud = 9600.5\n`, 'serial.baud', /got 9600.5$/],
    [`${MIN}[firmware]\nrequire_signatures = "yes"\n`, 'firmware.require_signatures', /expected true or false, got "yes"/],
    [`${MIN}[firmware]\nbundle = 3\n`, 'firmware.bundle', /expected a path, got 3/],
    [`${MIN}[firmware]\nbundle = ""\n`, 'firmware.bundle', /got ""/],
    [`${MIN}[firmware]\nsigning_keys = "k.pem"\n`, 'firmware.signing_keys', /expected an array of paths/],
    [`${MIN}[firmware]\nsigning_keys = ["a","b","c","d","e","f","g","h","i"]\n`, 'firmware.signing_keys', /at most 8 paths .* got 9/],
    [`${MIN}[firmware]\nsigning_keys = ["a", 1]\n`, 'firmware.signing_keys[1]', /got 1/],
    ['[station]\nid = "has space"\noperator = "a"\n', 'station.id', /got "has space"/],
    ['[station]\nid = 2026-01-01T00:00:00Z\noperator = "a"\n', 'station.id', /got a date \(2026-01-01T00:00:00.000Z\)/],
    [`${MIN}[device]\nid_template = "esp32"\n`, 'device.id_template', /every board would get the same id/],
    [`${MIN}[device]\nid_template = "esp32_{serial}"\n`, 'device.id_template', /unknown placeholder \{serial\}/],
    [`${MIN}[device]\nid_template = "esp 32_{mac6}"\n`, 'device.id_template', /may hold only/],
    [`${MIN}[mqtt]\nserver = "broker.local"\n`, 'mqtt.server', /expected host:port.*got "broker.local"/],
    [`${MIN}[mqtt]\nserver = "broker.local:70000"\n`, 'mqtt.server', /got "broker.local:70000"/],
    [`${MIN}[agent]\nlist = [1, 2]\n`, 'agent.list', /expected a string, finite number, boolean or table, got an array/],
    [`${MIN}[agent.wifi]\n"bad key" = 1\n`, 'agent.wifi."bad key"', /must match/],
    [`${MIN}[agent]\nx = inf\n`, 'agent.x', /got null|got Infinity|finite/],
    [`${MIN}[ports]\nurls = ["COMX", "/dev/ttyUSB0"]\n`, 'ports.urls[0]', /not a port URL/],
    [`${MIN}[ports]\nusb = [{ vid = "xyz" }]\n`, 'ports.usb[0].vid', /hex USB id .* got "xyz"/],
    [`${MIN}[ports]\nusb = [{ vid = 4292 }]\n`, 'ports.usb[0].vid', /got 4292/],
    [`${MIN}[ports]\nusb = [{ pid = "ea60" }]\n`, 'ports.usb[0].vid', /required key is missing/],
    [`${MIN}[ports]\nusb = { vid = "10c4" }\n`, 'ports.usb', /expected an array of tables/],
    [`paths = "x"\n${MIN}`, 'paths', /expected a table \[paths\], got "x"/],
    [`${MIN}[paths]\njournal_dir = true\n`, 'paths.journal_dir', /got true/],
  ];
  for (const [text, path, message] of cases) {
    it(`${path}: ${message.source.slice(0, 50)}`, () => {
      const e = errorOf(text);
      expect(e.keyPath).toBe(path);
      expect(e.message).toContain(`station.toml: ${path}: `);
      expect(e.message).toMatch(message);
      expect(['station.config.bad_value', 'station.config.missing']).toContain(e.code);
    });
  }
});

describe('station config: missing and cross-field', () => {
  it('station.id and station.operator are required', () => {
    expect(errorOf('[station]\noperator = "a"\n')).toMatchObject({ code: 'station.config.missing', keyPath: 'station.id' });
    expect(errorOf('[station]\nid = "s"\n')).toMatchObject({ code: 'station.config.missing', keyPath: 'station.operator' });
    expect(errorOf('')).toMatchObject({ code: 'station.config.missing', keyPath: 'station.id' });
  });

  it('a bundle with require_signatures needs signing keys', () => {
    const e = errorOf(`${MIN}[firmware]\nbundle = "fw.zip"\n`);
    expect(e).toMatchObject({ code: 'station.config.missing', keyPath: 'firmware.signing_keys' });
    expect(parse(`${MIN}[firmware]\nbundle = "fw.zip"\nrequire_signatures = false\n`).firmware.requireSignatures).toBe(false);
  });

  it('flash encryption needs a keystore for escrow', () => {
    expect(errorOf(`${MIN}[encryption]\nmode = "development"\n`)).toMatchObject({ code: 'station.config.missing', keyPath: 'keystore.path' });
  });

  it('keystore key_file and passphrase_file are exclusive', () => {
    expect(errorOf(`${MIN}[keystore]\npath = "k"\nkey_file = "a"\npassphrase_file = "b"\n`)).toMatchObject({
      code: 'station.config.bad_value',
      keyPath: 'keystore.key_file',
    });
  });
});

describe('station config: syntax errors', () => {
  it('name line and column', () => {
    const e = errorOf('[station]\nid = "s1"\noperator = \n');
    expect(e.code).toBe('station.config.syntax');
    expect(e.line).toBe(3);
    expect(e.column).toBeGreaterThan(0);
    expect(e.message).toMatch(/^station\.toml: line 3, column \d+: TOML syntax error: /);
    expect(e.message).not.toContain('\n');
  });

  it('duplicate keys are syntax errors', () => {
    const e = errorOf('[station]\nid = "a"\nid = "b"\n');
    expect(e.code).toBe('station.config.syntax');
    expect(e.line).toBe(3);
  });

  it('use the file path given to loadStationConfig', () => {
    const dir = mkdtempSync(join(tmpdir(), 'espfleet-station-'));
    const file = join(dir, 'station.toml');
    writeFileSync(file, '[station\n');
    expect(() => loadStationConfig(file)).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: line 1, column \\d+: TOML syntax error`));
  });
});
