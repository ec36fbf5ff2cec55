// Device ids from MACs: the station's `device.id_template` (Mongoose OS style,
// `esp32_{mac6}` → `esp32_12ABCD`, like the firmware's own `esp32_??????` default).
import { assertDeviceId } from '../../certs/index.ts';
import { EspfleetError } from '../../firmware-js/errors.ts';

export const DEFAULT_DEVICE_ID_TEMPLATE = 'esp32_{mac6}';
const PLACEHOLDERS = ['{mac6}', '{mac}'] as const;

/** `24:0a:c4:12:34:56` (any separator or none) → `240AC4123456`, or undefined if not a MAC. */
export function macHex(mac: string): string | undefined {
  const hex = mac.replace(/[:\-.]/g, '');
  return /^[0-9a-fA-F]{12}$/.test(hex) ? hex.toUpperCase() : undefined;
}

/** Why a template is unusable, or undefined when it is fine (checked when the config loads). */
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
  if (problem) throw new EspfleetError('station.bad_device_id_template', `device id template: ${problem}`, { hint: 'use e.g. esp32_{mac6}' });
  const hex = macHex(mac);
  if (hex === undefined) throw new EspfleetError('station.bad_mac', `not a MAC address: ${JSON.stringify(mac)}`);
  const id = template.replaceAll('{mac6}', hex.slice(6)).replaceAll('{mac}', hex);
  assertDeviceId(id);
  return id;
}
