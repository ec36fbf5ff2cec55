// ESP32 app/bootloader images: parse, verify, build, esp_app_desc_t and flash-parameter
// patching (spec esp32-rom-efuse-crypto.md §6.1–6.2).
export * from './header.ts';
export * from './app-desc.ts';
export * from './parse-image.ts';
export * from './build-image.ts';
export * from './flash-params.ts';
