// Who a backup or restore is recorded as: the OS user and host, as `ca revoke` records them.
import { hostname, userInfo } from 'node:os';

export function whoAmI(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `unknown@${hostname()}`;
  }
}
