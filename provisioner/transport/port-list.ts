// The serial ports on this machine with their USB identity, marking likely ESP boards
// (the bridges in usb-bridges.ts). Used by `espfleet ports` and the station's USB filters.
import { SerialPort } from 'serialport';
import { listSysfsPorts, type SysfsPort } from './sysfs-ports.ts';
import { findBridge } from './usb-bridges.ts';

export interface PortListing {
  path: string;
  vendorId: string | null;
  productId: string | null;
  manufacturer: string | null;
  serialNumber: string | null;
  bridge: string | null;
  likelyEsp: boolean;
}

export async function listPorts(): Promise<PortListing[]> {
  const ports = await systemPorts();
  return ports.map((p) => {
    const bridge = findBridge(p.vendorId, p.productId);
    return {
      path: p.path,
      vendorId: p.vendorId ?? null,
      productId: p.productId ?? null,
      manufacturer: p.manufacturer ?? null,
      serialNumber: p.serialNumber ?? null,
      bridge: bridge?.name ?? null,
      likelyEsp: bridge !== undefined,
    };
  });
}

async function systemPorts(): Promise<SysfsPort[]> {
  try {
    return await SerialPort.list();
  } catch (e) {
    // serialport's Linux lister needs udevadm; sysfs has the same facts.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && process.platform === 'linux') return listSysfsPorts();
    throw e;
  }
}
