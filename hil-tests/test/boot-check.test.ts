// The boot check at a flash boot (spec esp32-rom-efuse-crypto.md §5–§6): which app the chip
// would run, at which version, or exactly why it cannot boot — with and without encryption.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { VirtualEsp32, type FirmwareHost } from '../index.ts';
import { encryptRegions, encryptedChipEfuses, firmwareSet, hardReset, place } from './helpers/firmware-set.ts';

describe('boot from flash', () => {
  it('boots app_0 from a plaintext Mongoose OS layout and hands the slot to the firmware runner', async () => {
    const chip = new VirtualEsp32({ name: 'boot1' });
    place(chip, firmwareSet({ version: '1.2.3' }));
    const seen: FirmwareHost[] = [];
    chip.attachFirmware({
      name: 'hello',
      start(host) {
        seen.push(host);
        host.print('mgos: hello\r\n');
      },
    });
    chip.powerOn();
    await new Promise((r) => setTimeout(r, 20));
    const log = chip.bootLog();
    expect(log).toContain('rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)');
    expect(log).toMatch(/otadata copy 0: seq 1 selects ota_0 \(app_0\)/);
    expect(log).toContain("would run app 'app_0' at 0x10000, version 1.2.3");
    expect(log).toContain('mgos: hello');
    expect(chip.state).toBe('app');
    expect(seen).toHaveLength(1);
    expect(seen[0]?.slot.partition.label).toBe('app_0');
    expect(seen[0]?.slot.app?.version).toBe('1.2.3');
    expect(seen[0]?.flash.read(0x10000, 1)[0]).toBe(0xe9);
  });

  it('follows otadata to app_1 when seq is 2', async () => {
    const chip = new VirtualEsp32({ name: 'boot2' });
    place(chip, firmwareSet({ version: '1.0.0', seq: 2, app1Version: '2.0.0' }));
    await hardReset(chip);
    expect(chip.lastBoot?.slot?.partition.label).toBe('app_1');
    expect(chip.bootLog()).toContain("would run app 'app_1' at 0x1d0000, version 2.0.0");
  });

  it('names a corrupted app and falls back like the bootloader does', async () => {
    const chip = new VirtualEsp32({ name: 'boot3' });
    const regions = firmwareSet({ version: '1.0.0' });
    const app = regions[3]?.data as Uint8Array;
    app[0x200] = (app[0x200] ?? 0) ^ 0x40; // inside the first segment's data
    place(chip, regions);
    await hardReset(chip);
    const log = chip.bootLog();
    expect(log).toMatch(/E \(\d+\) esp_image: Checksum failed\. Calculated 0x[0-9a-f]+ read 0x[0-9a-f]+ \(image at 0x10000\)/);
    expect(log).toContain('partition app_1 at 0x1d0000 is not bootable');
    expect(log).toContain('No bootable app partitions in the partition table');
    expect(chip.state).toBe('boot-failed');
    expect(chip.lastBoot?.failure).toMatchObject({ stage: 'app', code: 'bad_checksum' });
  });

  it('reports an erased flash at the bootloader', async () => {
    const chip = new VirtualEsp32({ name: 'blank' });
    await hardReset(chip);
    expect(chip.bootLog()).toContain('invalid header: bootloader at 0x1000: image at 0x1000 is empty (erased flash)');
    expect(chip.lastBoot?.failure?.stage).toBe('bootloader');
  });

  it('decrypts with the read-protected BLK1 key when FLASH_CRYPT_CNT is odd', async () => {
    const key = new Uint8Array(randomBytes(32));
    const chip = new VirtualEsp32({ name: 'enc', ...encryptedChipEfuses(key) });
    // Software sees zeros where the key is (RD_DIS), but the engine uses it.
    expect(chip.efuse.readRegister(0x038)).toBe(0);
    place(chip, encryptRegions(firmwareSet({ version: '3.1.4' }), key));
    chip.powerOn();
    await new Promise((r) => setTimeout(r, 20));
    expect(chip.bootLog()).toMatch(/flash encryption is enabled \(FLASH_CRYPT_CNT 0x1, 3 plaintext flashes left\)/);
    expect(chip.bootLog()).toContain("would run app 'app_0' at 0x10000, version 3.1.4");
    expect(chip.lastBoot?.encrypted).toBe(true);
  });

  it('refuses plaintext firmware on an encrypted chip, and ciphertext made with another key', async () => {
    const key = new Uint8Array(randomBytes(32));
    const plain = new VirtualEsp32({ name: 'enc-plain', ...encryptedChipEfuses(key) });
    place(plain, firmwareSet({ version: '1.0.0' }));
    await hardReset(plain);
    expect(plain.bootLog()).toMatch(/invalid header: bootloader at 0x1000: image at 0x1000 has invalid magic byte/);
    expect(plain.lastBoot?.failure).toMatchObject({ stage: 'bootloader', code: 'bad_magic' });

    const wrong = new VirtualEsp32({ name: 'enc-wrong', ...encryptedChipEfuses(key) });
    place(wrong, encryptRegions(firmwareSet({ version: '1.0.0' }), new Uint8Array(randomBytes(32))));
    await hardReset(wrong);
    expect(wrong.lastBoot?.ok).toBe(false);
    expect(wrong.bootLog()).toContain('invalid header: bootloader at 0x1000');
  });

  it('rejects a partition table whose MD5 row does not match', async () => {
    const chip = new VirtualEsp32({ name: 'pt' });
    const regions = firmwareSet({ version: '1.0.0' });
    const pt = regions[1]?.data as Uint8Array;
    pt[12] = (pt[12] ?? 0) ^ 1; // a label byte of the first entry
    place(chip, regions);
    await hardReset(chip);
    expect(chip.bootLog()).toContain('incorrect checksum (MD5) of the partition table');
    expect(chip.bootLog()).toContain('Failed to verify partition table');
  });
});
