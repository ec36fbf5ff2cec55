// Public entry of the hardware-in-the-loop rig: the virtual ESP32 and its transports.
export * from './virtual-esp32/index.ts';
