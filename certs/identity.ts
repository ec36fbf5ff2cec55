// Names that end up as MQTT usernames (use_identity_as_username): device ids and
// the operator/renewer identities. Validating them here is what keeps `%u` in the
// broker ACL from matching another board's subtree (DESIGN.md security invariant 4).
import { CertsError } from './errors.ts';

/** Letters, digits, `_`, `-`, `.`; no `/`, `+`, `#` (topic syntax) and no `:` (reserved for roles). */
const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const CLIENT_ROLES = ['operator', 'renewer'] as const;
export type ClientRole = (typeof CLIENT_ROLES)[number];

export function assertDeviceId(cn: string): void {
  if (!DEVICE_ID.test(cn)) {
    throw new CertsError('certs.device.bad_id', `invalid device id ${JSON.stringify(cn)}`, {
      hint: 'a device id is 1-64 characters of A-Z a-z 0-9 _ - . starting with a letter or digit (no ":", "/", "+", "#")',
    });
  }
}

/** `operator:alice` / `renewer:renewd-1`: the `:` can never appear in a device id. */
export function clientCn(role: ClientRole, name: string): string {
  if (!CLIENT_ROLES.includes(role)) {
    throw new CertsError('certs.client.bad_role', `unknown client role ${JSON.stringify(role)}`, {
      hint: `use one of ${CLIENT_ROLES.join(', ')}`,
    });
  }
  if (!DEVICE_ID.test(name)) {
    throw new CertsError('certs.client.bad_name', `invalid ${role} name ${JSON.stringify(name)}`, {
      hint: 'a name is 1-64 characters of A-Z a-z 0-9 _ - . starting with a letter or digit',
    });
  }
  return `${role}:${name}`;
}

const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export function assertHostname(name: string): void {
  if (!HOSTNAME.test(name)) {
    throw new CertsError('certs.server.bad_dns', `invalid DNS name ${JSON.stringify(name)}`, {
      hint: 'give a host name such as mqtt.example.com (wildcards are not issued)',
    });
  }
}
