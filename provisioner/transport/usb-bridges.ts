// USB-serial bridges found on ESP32 boards, as data: which VID/PID pairs are
// likely an ESP board (DevKitC: CP2102; many clones: CH340/CH9102; FTDI on
// WROVER-KIT; Espressif's own USB-Serial/JTAG on newer chips).

export interface UsbBridge {
  vendorId: string;
  productId: string;
  name: string;
}

export const ESP_USB_BRIDGES: readonly UsbBridge[] = [
  { vendorId: '10c4', productId: 'ea60', name: 'Silicon Labs CP210x' },
  { vendorId: '1a86', productId: '7523', name: 'WCH CH340' },
  { vendorId: '1a86', productId: '55d4', name: 'WCH CH9102' },
  { vendorId: '1a86', productId: '55d3', name: 'WCH CH343' },
  { vendorId: '0403', productId: '6001', name: 'FTDI FT232R' },
  { vendorId: '0403', productId: '6010', name: 'FTDI FT2232 (ESP-WROVER-KIT)' },
  { vendorId: '0403', productId: '6014', name: 'FTDI FT232H' },
  { vendorId: '0403', productId: '6015', name: 'FTDI FT231X' },
  { vendorId: '303a', productId: '1001', name: 'Espressif USB-Serial/JTAG' },
  { vendorId: '303a', productId: '0002', name: 'Espressif USB-OTG (ROM CDC)' },
];

export function findBridge(vendorId?: string, productId?: string): UsbBridge | undefined {
  if (!vendorId || !productId) return undefined;
  const v = vendorId.toLowerCase().padStart(4, '0');
  const p = productId.toLowerCase().padStart(4, '0');
  return ESP_USB_BRIDGES.find((b) => b.vendorId === v && b.productId === p);
}
