// The virtual ESP32: chip model, ROM loader, eFuse controller, boot check, and the two ways
// to reach it (in-process `sim://` transport, RFC 2217 server).
export { VirtualEsp32, type ChipState, type Signals } from './virtual-esp32.ts';
export type { Firmware, FirmwareHost, FirmwareFlash, Clock, Network, Disposable, StopReason } from './firmware-host.ts';
export type { FirmwareSession } from './firmware-session.ts';
export { systemClock, hostNetwork } from './host-defaults.ts';
export { ManualClock } from './manual-clock.ts';
export type { VirtualEsp32Options, PowerLossFault } from './chip-options.ts';
export type { LineFaults } from './uart-link.ts';
export { Rfc2217Server, type Rfc2217ServerOptions } from './rfc2217-server.ts';
export { SimTransport, registerSimBoard } from './sim-transport.ts';
export { saveState, loadState, encodeState, decodeState } from './state-file.ts';
export { EfuseController } from './efuse-controller.ts';
export { NorFlash } from './nor-flash.ts';
export { macCrc8, parseMac, formatMac } from './chip-identity.ts';
export { encode34, decode34 } from './coding-34.ts';
export type { BootReport, BootSlot } from './boot/boot-sequence.ts';
export type { FlashView } from './boot/flash-view.ts';
export type { AppDescription } from './boot/image-check.ts';
export { SimError } from './errors.ts';
export { ESP32_MAGIC, FLASH_SIZES, type FlashSizeName } from './targets/esp32.ts';
export { RawTcpServer } from './raw-tcp-server.ts';
export { startSimSession, parseListen, type SimSession, type SimSessionOptions } from './sim-session.ts';
