// Partition tables, the Mongoose OS default layout and otadata (spec
// esp32-rom-efuse-crypto.md §6.3–6.4, mongoose-os.md §7).
export * from './types.ts';
export * from './table.ts';
export * from './mgos-layout.ts';
export * from './otadata.ts';
