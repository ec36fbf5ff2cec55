// LittleFS v2 images for the Mongoose OS root filesystem (spec mongoose-os.md §7):
// build, read and change in place, compatible with littlefs 2.x.
export { buildLittlefs, composeDeviceFs, formatLittlefs, openLittlefs, type BuildOptions, type FormatOptions } from './build.ts';
export { LittlefsImage, type LittlefsStat, type OpenOptions, type WriteOptions } from './littlefs-image.ts';
export type { LittlefsErrorKind } from './errors.ts';
