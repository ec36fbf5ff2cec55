// The one MAC parser and device-id function: every notation of a MAC gives one stored form,
// the default id is Mongoose OS's `esp32_??????`, and the old encrypt-flash id maps onto it.
import { describe, expect, it } from 'vitest';
import { canonicalDeviceId, DeviceIdError, defaultDeviceId, deviceIdFor, legacyDeviceId, macHex, normalizeMac, templateProblem } from '../device-id.ts';

describe('device ids', () => {
  it('parses a MAC in any common notation into one form', () => {
    for (const m of ['24:0a:c4:12:ab:cd', '24-0A-C4-12-AB-CD', '240ac4.12abcd', ' 240AC412ABCD ']) {
      expect(macHex(m)).toBe('240AC412ABCD');
      expect(normalizeMac(m)).toBe('24:0a:c4:12:ab:cd');
    }
    for (const bad of ['', 'nope', '24:0a:c4:12:ab', '24:0a:c4:12:ab:cd:ef', 'g4:0a:c4:12:ab:cd']) expect(normalizeMac(bad)).toBeUndefined();
  });

  it('the default id is esp32_ + the last 6 hex digits, upper case; templates fill {mac6} and {mac}', () => {
    expect(defaultDeviceId('24:0a:c4:12:ab:cd')).toBe('esp32_12ABCD');
    expect(deviceIdFor('dev-{mac}', '240ac412abcd')).toBe('dev-240AC412ABCD');
    expect(templateProblem('esp32')).toMatch(/same id/);
    expect(() => deviceIdFor('esp32_{serial}', '240ac412abcd')).toThrow(DeviceIdError);
    expect(() => defaultDeviceId('nope')).toThrow(expect.objectContaining({ code: 'device.bad_mac' }));
  });

  it('the old esp32-<12 hex> id of a MAC reads as its default id; other ids are kept', () => {
    expect(legacyDeviceId('24:0A:C4:12:AB:CD')).toBe('esp32-240ac412abcd');
    expect(canonicalDeviceId('esp32-240ac412abcd', '24:0a:c4:12:ab:cd')).toBe('esp32_12ABCD');
    // The legacy form of another MAC is not this board's id.
    expect(canonicalDeviceId('esp32-240ac4000001', '24:0a:c4:12:ab:cd')).toBe('esp32-240ac4000001');
    expect(canonicalDeviceId('line3-12ABCD', '24:0a:c4:12:ab:cd')).toBe('line3-12ABCD');
  });
});
