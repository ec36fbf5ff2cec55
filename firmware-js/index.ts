// espfleet's pure firmware formats: everything here works on bytes, with no I/O.
export * from './errors.ts';
export * from './image/index.ts';
export * from './partition/index.ts';
export * from './bundle/index.ts';
export * from './flash-encryption/index.ts';
export * from './littlefs/index.ts';
export { planFlash, type FlashRegion, type FlashPlanOptions } from './flash-plan.ts';
export { inspectFirmware, detectKind, allChecksPass, type InspectReport, type FirmwareKind } from './inspect.ts';
export { makeDemoFirmware, type DemoFirmware, type DemoFirmwareOptions } from './testgen/demo-firmware.ts';
export {
  DeviceIdError, DEFAULT_DEVICE_ID_TEMPLATE, macHex, normalizeMac, templateProblem, deviceIdFor, defaultDeviceId, legacyDeviceId, canonicalDeviceId,
} from './device-id.ts';
