// Device ids from MACs: the station's `device.id_template` (Mongoose OS style,
// `esp32_{mac6}` → `esp32_12ABCD`), made by the one device-id function in firmware-js and
// checked as a certificate CN.
import { assertDeviceId } from '../../certs/index.ts';
import { deviceIdFor as fromTemplate } from '../../firmware-js/device-id.ts';

export { DEFAULT_DEVICE_ID_TEMPLATE, macHex, normalizeMac, templateProblem } from '../../firmware-js/device-id.ts';

/** `{mac6}` = the MAC's last 6 hex digits, `{mac}` = all 12, upper case; the result must be a valid CN. */
export function deviceIdFor(template: string, mac: string): string {
  const id = fromTemplate(template, mac);
  assertDeviceId(id);
  return id;
}
