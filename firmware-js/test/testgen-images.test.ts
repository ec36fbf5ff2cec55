// The test-image generators: valid, deterministic, sized as asked and shaped like
// real ESP32 builds (esptool's acceptance is checked in image-esptool.test.ts).
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { equalBytes } from '../bytes.ts';
import { FirmwareError } from '../errors.ts';
import { verifyImage } from '../image/index.ts';
import { MGOS_ESP32_PARTITIONS, findPartition, parseOtadata, parsePartitionTable } from '../partition/index.ts';
import { APP_SEGMENTS, BOOTLOADER_SEGMENTS, makeAppImage, makeBootloaderImage, makeOtadataImage, makePartitionTableImage } from '../testgen/images.ts';

describe('makeBootloaderImage', () => {
  it('is a valid image with bootloader segments, IRAM entry and a description', () => {
    const boot = makeBootloaderImage();
    const img = verifyImage(boot);
    expect(img.segments.map((s) => s.loadAddr)).toEqual([BOOTLOADER_SEGMENTS.dram, BOOTLOADER_SEGMENTS.iramLoader, BOOTLOADER_SEGMENTS.iram]);
    expect(img.entry).toBeGreaterThanOrEqual(0x40080000);
    expect(img.entry).toBeLessThan(0x400a0000);
    expect(img.hashAppended).toBe(true);
    expect(img.bootloaderDesc).toMatchObject({ version: 1, dateTime: 'Jan  1 2026 00:00:00' });
    expect(img).toMatchObject({ flashMode: { name: 'dio' }, flashSize: { name: '4MB' }, flashFreq: { name: '80m' }, maxChipRevFull: 399 });
    // It must fit between 0x1000 and the partition table at 0x8000.
    expect(boot.length).toBeGreaterThan(4096);
    expect(boot.length).toBeLessThanOrEqual(0x7000);
  });

  it('is deterministic per seed and honours flash options', () => {
    expect(equalBytes(makeBootloaderImage({ seed: 1 }), makeBootloaderImage({ seed: 1 }))).toBe(true);
    expect(equalBytes(makeBootloaderImage({ seed: 1 }), makeBootloaderImage({ seed: 2 }))).toBe(false);
    expect(verifyImage(makeBootloaderImage({ flashMode: 'qio', flashSize: '16MB', flashFreq: '40m' }))).toMatchObject({
      flashMode: { name: 'qio' },
      flashSize: { name: '16MB' },
      flashFreq: { name: '40m' },
    });
  });
});

describe('makeAppImage', () => {
  it('starts with esp_app_desc_t at file offset 0x20 in a DROM segment at 0x3F400020', () => {
    const app = makeAppImage({ version: '3.1.4', projectName: 'pi-meter', seed: 7 });
    const img = verifyImage(app);
    expect(img.segments[0]).toMatchObject({ loadAddr: APP_SEGMENTS.drom, dataOffset: 0x20 });
    expect(img.appDesc).toMatchObject({ version: '3.1.4', projectName: 'pi-meter', date: 'Jan  1 2026', time: '00:00:00' });
    const kinds = new Set(img.segments.flatMap((s) => s.memory));
    expect([...kinds]).toEqual(expect.arrayContaining(['DROM', 'DRAM', 'IRAM', 'IROM']));
    const irom = img.segments.find((s) => s.loadAddr === APP_SEGMENTS.irom);
    expect(irom && irom.dataOffset % 0x10000).toBe(0x20);
    expect(img.entry).toBeGreaterThanOrEqual(0x40080000);
  });

  it('is deterministic from the seed and version', () => {
    const a = makeAppImage({ version: '1', seed: 5 });
    expect(equalBytes(a, makeAppImage({ version: '1', seed: 5 }))).toBe(true);
    expect(equalBytes(a, makeAppImage({ version: '1', seed: 6 }))).toBe(false);
    expect(equalBytes(a, makeAppImage({ version: '2', seed: 5 }))).toBe(false);
  });

  it('builds a ~1.5 MB app that fits the Mongoose OS app slot, compressing like real firmware', () => {
    const slot = findPartition(MGOS_ESP32_PARTITIONS, 'app_0')?.size ?? 0;
    const app = makeAppImage({ version: '1.0.0', appSize: 0x170000 });
    expect(app.length).toBeGreaterThan(0x160000);
    expect(app.length).toBeLessThan(slot);
    verifyImage(app);
    // Real ESP32 apps deflate to roughly 60% (esptool "Wrote … (… compressed)"); random data would not compress.
    const ratio = deflateSync(app).length / app.length;
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(0.7);
  });

  it.each([0x2000, 0x10000, 0x40000, 0x100000])('appSize %i gives an image within ~one MMU page of it', (size) => {
    const len = makeAppImage({ version: 'x', appSize: size }).length;
    expect(Math.abs(len - size)).toBeLessThan(0x10000 + 0x100);
  });

  it('rejects absurd sizes and over-long versions', () => {
    expect(() => makeAppImage({ version: '1', appSize: 10 })).toThrow(FirmwareError);
    expect(() => makeAppImage({ version: '1', appSize: 0x1000000 })).toThrow(/appSize/);
    expect(() => makeAppImage({ version: 'v'.repeat(40) })).toThrow(FirmwareError);
  });
});

describe('makePartitionTableImage / makeOtadataImage', () => {
  it('gives the 4 KiB partition-table sector of the Mongoose OS layout', () => {
    const sector = makePartitionTableImage();
    expect(sector.length).toBe(0x1000);
    expect(sector.subarray(0xc00).every((b) => b === 0xff)).toBe(true);
    const t = parsePartitionTable(sector);
    expect(t.entries).toEqual(MGOS_ESP32_PARTITIONS);
    expect(t.md5.ok).toBe(true);
  });

  it('gives otadata selecting ota_0 by default and ota_1 for seq 2', () => {
    expect(parseOtadata(makeOtadataImage()).bootSlot(2)).toMatchObject({ kind: 'ota', index: 0 });
    expect(parseOtadata(makeOtadataImage(2)).bootSlot(2)).toMatchObject({ kind: 'ota', index: 1 });
  });
});
