// Port listing: the sysfs fallback on a fabricated sysfs tree, and ESP bridge marking.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listSysfsPorts } from '../transport/sysfs-ports.ts';
import { findBridge } from '../transport/usb-bridges.ts';

describe('serial port listing', () => {
  it('reads USB VID/PID of a tty from sysfs, skipping ttys without a device', () => {
    const root = mkdtempSync(join(tmpdir(), 'espfleet-sysfs-'));
    const usbDevice = join(root, 'devices', 'usb1', '1-1');
    const ttyDevice = join(usbDevice, '1-1:1.0', 'ttyUSB0');
    mkdirSync(ttyDevice, { recursive: true });
    writeFileSync(join(usbDevice, 'idVendor'), '10c4\n');
    writeFileSync(join(usbDevice, 'idProduct'), 'ea60\n');
    writeFileSync(join(usbDevice, 'serial'), '0001\n');
    const classTty = join(root, 'class', 'tty');
    mkdirSync(join(classTty, 'ttyUSB0'), { recursive: true });
    symlinkSync(ttyDevice, join(classTty, 'ttyUSB0', 'device'));
    mkdirSync(join(classTty, 'tty1'), { recursive: true }); // a virtual console: no device link
    expect(listSysfsPorts(classTty)).toEqual([
      { path: '/dev/ttyUSB0', vendorId: '10c4', productId: 'ea60', manufacturer: undefined, serialNumber: '0001' },
    ]);
  });

  it('marks the USB bridges ESP32 boards use, whatever the case or padding of the ids', () => {
    expect(findBridge('10C4', 'EA60')?.name).toBe('Silicon Labs CP210x');
    expect(findBridge('1a86', '7523')?.name).toBe('WCH CH340');
    expect(findBridge('303a', '1001')?.name).toBe('Espressif USB-Serial/JTAG');
    expect(findBridge('046d', 'c52b')).toBeUndefined();
    expect(findBridge(undefined, 'ea60')).toBeUndefined();
  });
});
