// The one MAC parser and the one device-id function every part of espfleet uses (keystore,
// registry, station, encrypt-flash). Mongoose OS names a board `esp32_??????` by default,
// the `?` filled from the last three bytes of its MAC; the station does the same. Pure.
import { EspfleetError } from './errors.ts';

/** Errors about MACs and device-id templates. */
export class DeviceIdError extends EspfleetError {}

/** The station's default and the id `encrypt-flash` escrows under: `esp32_12ABCD`. */
export const DEFAULT_DEVICE_ID_TEMPLATE = 'esp32_{mac6}';
const PLACEHOLDERS = ['{mac6}', '{mac}'] as const;

/** `24:0a:c4:12:34:56`, `24-0A-C4-12-34-56`, `240ac4.123456`, `240AC4123456` → `240AC4123456`; else undefined. */
export function macHex(mac: string): string | undefined {
  const hex = mac.trim().replace(/[:\-.]/g, '');
  return /^[0-9a-fA-F]{12}$/.test(hex) ? hex.toUpperCase() : undefined;
}

/** The stored form of a MAC (lower case, colon-separated: `24:0a:c4:12:34:56`), or undefined if not a MAC. */
export function normalizeMac(mac: string): string | undefined {
  return macHex(mac)?.toLowerCase().match(/../g)?.join(':');
}

/** Why a template is unusable, or undefined when it is fine. */
export function templateProblem(template: string): string | undefined {
  const placeholders = template.match(/\{[^}]*\}/g) ?? [];
  const unknown = placeholders.find((p) => !(PLACEHOLDERS as readonly string[]).includes(p));
  if (unknown) return `unknown placeholder ${unknown} in ${JSON.stringify(template)} (use {mac6} or {mac})`;
  if (placeholders.length === 0) return `${JSON.stringify(template)} has no {mac6} or {mac}, so every board would get the same id`;
  return undefined;
}

/** `{mac6}` = the MAC's last 6 hex digits, `{mac}` = all 12, upper case. */
export function deviceIdFor(template: string, mac: string): string {
  const problem = templateProblem(template);
  if (problem) throw new DeviceIdError('device.bad_id_template', `device id template: ${problem}`, { hint: 'use e.g. esp32_{mac6}' });
  const hex = macHex(mac);
  if (hex === undefined) throw new DeviceIdError('device.bad_mac', `not a MAC address: ${JSON.stringify(mac)}`, { hint: 'use the form 24:0a:c4:12:34:56' });
  return template.replaceAll('{mac6}', hex.slice(6)).replaceAll('{mac}', hex);
}

/** The default device id of a board: `esp32_` + the last 6 hex digits of its MAC, upper case. */
export function defaultDeviceId(mac: string): string {
  return deviceIdFor(DEFAULT_DEVICE_ID_TEMPLATE, mac);
}

/** The id espfleet's `encrypt-flash` used before ids were unified: `esp32-` + all 12 hex digits, lower case. */
export function legacyDeviceId(mac: string): string | undefined {
  const hex = macHex(mac);
  return hex === undefined ? undefined : `esp32-${hex.toLowerCase()}`;
}

/**
 * The id to show and look up for a record stored as `deviceId` for `mac`: an id in the
 * legacy `esp32-<12 hex>` form of that same MAC reads as the default id; any other id
 * (a station's own template) is kept as it is.
 */
export function canonicalDeviceId(deviceId: string, mac: string): string {
  return deviceId === legacyDeviceId(mac) ? defaultDeviceId(mac) : deviceId;
}
