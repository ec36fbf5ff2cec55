// Lists serial ports from Linux sysfs when serialport's own lister cannot run
// (it shells out to `udevadm`, which minimal hosts and containers lack). A tty
// with a `device` link is real hardware; USB ones carry idVendor/idProduct a few
// directories up from their interface.
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface SysfsPort {
  path: string;
  vendorId?: string;
  productId?: string;
  manufacturer?: string;
  serialNumber?: string;
}

const SYS_TTY = '/sys/class/tty';

export function listSysfsPorts(root = SYS_TTY): SysfsPort[] {
  if (!existsSync(root)) return [];
  const ports: SysfsPort[] = [];
  for (const name of readdirSync(root).sort()) {
    const deviceLink = join(root, name, 'device');
    if (!existsSync(deviceLink)) continue;
    // Legacy 8250 UARTs that are not wired to anything would flood the list.
    if (/^ttyS\d+$/.test(name) && !existsSync(join(deviceLink, 'driver'))) continue;
    ports.push({ path: `/dev/${name}`, ...usbAttributes(realpathSync(deviceLink)) });
  }
  return ports;
}

function usbAttributes(devicePath: string): Omit<SysfsPort, 'path'> {
  let dir = devicePath;
  for (let depth = 0; depth < 4 && dir !== '/'; depth++, dir = dirname(dir)) {
    if (!existsSync(join(dir, 'idVendor'))) continue;
    const read = (file: string) => (existsSync(join(dir, file)) ? readFileSync(join(dir, file), 'utf8').trim() : undefined);
    return {
      vendorId: read('idVendor'),
      productId: read('idProduct'),
      manufacturer: read('manufacturer'),
      serialNumber: read('serial'),
    };
  }
  return {};
}
