// manifest.json parsing, the device's required fields (spec mongoose-os.md §1.1–§1.2), mos's
// serialisation layout (§1.3), and a seeded fuzz proving only FirmwareError escapes.
import { describe, expect, it } from 'vitest';
import { FirmwareError } from '../errors.ts';
import { parseManifest, serializeManifest, validateManifest, type Manifest } from '../bundle/index.ts';
import { encodeGoJson, goJsonString } from '../bundle/go-json.ts';
import { parseStrictJson } from '../bundle/strict-json.ts';
import { expectOk, python } from '../../scripts/lib/oracles.ts';
import { SeededRandom } from './seeded-random.ts';
import { expectCode } from './error-codes.ts';

const enc = (s: string) => new TextEncoder().encode(s);

const SAMPLE: Manifest = {
  name: 'app',
  platform: 'esp32',
  version: '1.0',
  build_id: '20260101-000000/1.0@espfleet',
  build_timestamp: '2026-01-01T00:00:00Z',
  parts: {
    app: { type: 'app', ptn: 'app_0', src: 'app.bin', size: 3, encrypt: true, cs_sha1: 'a'.repeat(40), cs_sha256: 'b'.repeat(64) },
    boot: { type: 'boot', addr: 0x1000, src: 'bootloader.bin', update: false, cs_sha1: 'c'.repeat(40) },
    nvs: { type: 'nvs', ptn: 'nvs', size: 0x4000, fill: 0xff, encrypt: false },
  },
};

const withField = (patch: Record<string, unknown>) => enc(JSON.stringify({ ...SAMPLE, ...patch }));
const withPart = (patch: Record<string, unknown>) => withField({ parts: { app: { ...SAMPLE.parts['app'], ...patch } } });

describe('manifest: serialisation in mos layout', () => {
  it('writes Go MarshalIndent layout: struct order, sorted attrs and parts, HTML escapes', () => {
    const manifest = {
      zeta: 1,
      parts: {
        fs: {},
        app: { custom: 'y', update: false, size: 3, src: 'app.bin', type: 'app' },
      },
      alpha: { z: 1, a: [1, '<x>'] },
      build_id: 'b/1',
      version: '1.0',
      description: 'd & e',
      platform: 'esp32',
      name: 'app',
    } as Manifest;
    const expected = [
      '{',
      ' "name": "app",',
      ' "platform": "esp32",',
      ' "description": "d \\u0026 e",',
      ' "version": "1.0",',
      ' "build_id": "b/1",',
      ' "parts": {',
      '  "app": {',
      '   "type": "app",',
      '   "src": "app.bin",',
      '   "size": 3,',
      '   "custom": "y",',
      '   "update": false',
      '  },',
      '  "fs": {}',
      ' },',
      ' "alpha": {',
      '  "a": [',
      '   1,',
      '   "\\u003cx\\u003e"',
      '  ],',
      '  "z": 1',
      ' },',
      ' "zeta": 1',
      '}',
    ].join('\n');
    expect(new TextDecoder().decode(serializeManifest(manifest))).toBe(expected);
  });

  it('escapes strings as Go does and Python decodes them back', async () => {
    const samples = ['plain', 'quote " back \\ slash', 'ctl \u0001\u001f \b\f\n\r\t', '<&>', 'line\u2028sep\u2029', 'ü €  😀', '\ud800 lone'];
    const encoded = samples.map(goJsonString);
    expect(encoded[3]).toBe('"\\u003c\\u0026\\u003e"');
    expect(encoded[2]).toBe('"ctl \\u0001\\u001f \\b\\f\\n\\r\\t"');
    expect(encoded[6]).toBe('"\ufffd lone"');
    const decoded = JSON.parse(expectOk(await python('import json,sys\nprint(json.dumps([json.loads(l) for l in sys.stdin.read().splitlines()]))', [], { input: encoded.join('\n') }), 'json')) as string[];
    expect(decoded).toEqual([...samples.slice(0, 6), '\ufffd lone']);
  });

  it('sorts map keys by UTF-8 bytes, as Go does', () => {
    expect(encodeGoJson({ '\uffff': 1, '😀': 2, b: 3, B: 4 })).toBe('{"B":4,"b":3,"\uffff":1,"😀":2}');
  });

  it('round-trips: parse(serialize(m)) equals m, including zero values mos would drop', () => {
    expect(parseManifest(serializeManifest(SAMPLE))).toEqual(SAMPLE);
    const zeroes: Manifest = { ...SAMPLE, parts: { p: { addr: 0, size: 0, encrypt: false, flash: false, fill: 0 } } };
    expect(parseManifest(serializeManifest(zeroes))).toEqual(zeroes);
  });

  it('keeps unknown attributes at both levels', () => {
    const m = parseManifest(withField({ rollout: { wave: 2 }, parts: { app: { src: 'a', cs_sha1: 'a'.repeat(40), my_attr: [1, 2] } } }));
    expect(m['rollout']).toEqual({ wave: 2 });
    expect(m.parts['app']?.['my_attr']).toEqual([1, 2]);
  });

  it('reads a manifest in the Python builder layout (indent 2, sorted keys)', async () => {
    const text = expectOk(await python('import json,sys\nprint(json.dumps(json.loads(sys.stdin.read()), indent=2, sort_keys=True))', [], { input: JSON.stringify(SAMPLE) }), 'json');
    expect(parseManifest(enc(text))).toEqual(SAMPLE);
  });
});

describe('manifest: device-required fields and types', () => {
  it.each(['platform', 'version', 'build_id', 'parts'])('missing %s is firmware.manifest.missing_field', (field) => {
    const value: Record<string, unknown> = { ...SAMPLE };
    delete value[field];
    const e = expectCode(() => parseManifest(enc(JSON.stringify(value))), 'firmware.manifest.missing_field');
    expect(e.message).toContain(`"${field}"`);
    expect(e.hint).toBeTruthy();
  });

  it.each(['platform', 'version', 'build_id'])('empty %s is missing, as on the device', (field) => {
    expectCode(() => parseManifest(withField({ [field]: '' })), 'firmware.manifest.missing_field');
  });

  it('name is optional', () => {
    const value: Record<string, unknown> = { ...SAMPLE };
    delete value['name'];
    expect(parseManifest(enc(JSON.stringify(value))).name).toBeUndefined();
  });

  it.each([
    [{ version: 1 }, 'version'],
    [{ parts: [] }, 'parts'],
    [{ parts: 'app' }, 'parts'],
    [{ name: 7 }, 'name'],
    [{ build_timestamp: 20260101 }, 'build_timestamp'],
    [{ parts: { app: 'app.bin' } }, 'parts.app'],
  ] as const)('wrong type %j is firmware.manifest.bad_field naming %s', (patch, path) => {
    const e = expectCode(() => parseManifest(withField(patch)), 'firmware.manifest.bad_field');
    expect(e.message).toContain(`"${path}"`);
  });

  it.each([
    [{ addr: -1 }, 'addr'],
    [{ addr: 2 ** 32 }, 'addr'],
    [{ size: 1.5 }, 'size'],
    [{ size: '3' }, 'size'],
    [{ fill: 256 }, 'fill'],
    [{ encrypt: 'yes' }, 'encrypt'],
    [{ update: 1 }, 'update'],
    [{ cs_sha1: 'A'.repeat(40) }, 'cs_sha1'],
    [{ cs_sha1: 'a'.repeat(39) }, 'cs_sha1'],
    [{ cs_sha256: 'a'.repeat(40) }, 'cs_sha256'],
    [{ src: '' }, 'src'],
    [{ src: { 'a.bin': {} } }, 'src'],
  ] as const)('part field %j is firmware.manifest.bad_field naming parts.app.%s', (patch, field) => {
    const e = expectCode(() => parseManifest(withPart(patch)), 'firmware.manifest.bad_field');
    expect(e.message).toContain(`"parts.app.${field}"`);
  });

  it('fill without size (and no src) is a missing field', () => {
    expectCode(() => parseManifest(withField({ parts: { nvs: { fill: 255 } } })), 'firmware.manifest.missing_field');
  });

  it('validateManifest takes already-parsed values', () => {
    expect(validateManifest(JSON.parse(JSON.stringify(SAMPLE)))).toEqual(SAMPLE);
    expectCode(() => validateManifest(null), 'firmware.manifest.bad_json');
    expectCode(() => validateManifest([SAMPLE]), 'firmware.manifest.bad_json');
  });
});

describe('manifest: strict JSON', () => {
  it.each([
    ['trailing comma', '{"platform": "esp32",}'],
    ['single quotes', "{'platform': 'esp32'}"],
    ['a comment', '{"platform": "esp32" /* x */}'],
    ['a BOM', '\ufeff' + JSON.stringify(SAMPLE)],
    ['two values', JSON.stringify(SAMPLE) + '{}'],
    ['NaN', '{"platform": NaN}'],
    ['a raw control character', '{"platform": "es\np32"}'],
    ['nothing', ''],
    ['a number out of range', '{"platform": 1e999}'],
    ['an unpaired surrogate escape', '{"platform": "\\ud800"}'],
  ])('%s is firmware.manifest.bad_json with an offset', (_what, text) => {
    const e = expectCode(() => parseManifest(enc(text)), 'firmware.manifest.bad_json');
    expect(e.message).toMatch(/offset \d+/);
  });

  it('refuses duplicate keys, which the device and the host could read differently', () => {
    const text = JSON.stringify(SAMPLE).replace('"version":"1.0"', '"version":"1.0","version":"9.9"');
    const e = expectCode(() => parseManifest(enc(text)), 'firmware.manifest.bad_json');
    expect(e.message).toContain('duplicate key "version"');
  });

  it('refuses invalid UTF-8', () => {
    const bytes = withField({ description: 'xx' });
    bytes[bytes.indexOf(0x78)] = 0xc3; // a lead byte followed by 'x'
    expectCode(() => parseManifest(bytes), 'firmware.manifest.bad_json');
  });

  it('keeps a "__proto__" member as data', () => {
    const m = parseManifest(enc(JSON.stringify(SAMPLE).replace('{', '{"__proto__": {"polluted": true},')));
    expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
    expect(Object.hasOwn(m, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('refuses nesting deeper than 64 without overflowing the stack', () => {
    const deep = '['.repeat(100000) + ']'.repeat(100000);
    expectCode(() => parseManifest(enc(`{"x": ${deep}}`)), 'firmware.manifest.bad_json');
  });
});

describe('manifest: seeded fuzz', () => {
  it('the strict parser agrees with JSON.parse on 5,000 mutated texts, refusing only what it must', () => {
    const rnd = new SeededRandom(0x4a534f4e);
    const seeds = [serializeManifest(SAMPLE), enc('{"a": [1, -2.5e3, true, null, "\\u00e9\\n"], "b": {"c": {}}}')];
    let agreed = 0;
    for (let i = 0; i < 5_000; i++) {
      const text = new TextDecoder().decode(rnd.mutate(rnd.pick(seeds)));
      let expected: unknown;
      let builtinOk = true;
      try {
        expected = JSON.parse(text);
      } catch {
        builtinOk = false;
      }
      try {
        const value = parseStrictJson(text, 'test.bad_json', 'fuzz input');
        expect(builtinOk, `case ${i}: JSON.parse refused what we accepted: ${text}`).toBe(true);
        expect(value).toEqual(expected);
        agreed++;
      } catch (e) {
        if (!(e instanceof FirmwareError)) throw new Error(`case ${i}: ${String(e)}`);
        if (builtinOk) expect((e as Error).message).toMatch(/duplicate key|nesting|surrogate|out of range/);
      }
    }
    expect(agreed).toBeGreaterThan(500);
  });

  it('10,000 mutated manifests: only FirmwareError escapes; whatever parses round-trips', () => {
    const rnd = new SeededRandom(0x6d616e69);
    const seeds = [serializeManifest(SAMPLE), enc(JSON.stringify(SAMPLE)), enc(JSON.stringify(SAMPLE, null, 2))];
    let parsed = 0;
    const codes = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      let input = rnd.pick(seeds);
      for (let n = rnd.int(1, 3); n > 0; n--) input = rnd.mutate(input);
      try {
        const m = parseManifest(input);
        parsed++;
        expect(parseManifest(serializeManifest(m))).toEqual(m);
      } catch (e) {
        if (!(e instanceof FirmwareError)) throw new Error(`case ${i}: ${String(e)}`);
        expect(e.code).toMatch(/^firmware\.manifest\./);
        codes.add(e.code);
      }
    }
    expect(parsed).toBeGreaterThan(100); // the fuzz also reaches the accepting path
    expect(codes.size).toBeGreaterThanOrEqual(2);
  });
});
