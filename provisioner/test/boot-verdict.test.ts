// The station's console boot check reads only lines a real board prints (issue 11): the
// ESP-IDF bootloader's hand-over and the app's own start, or a failure — never text that
// only the virtual board prints.
import { describe, expect, it } from 'vitest';
import { consoleTap } from '../station/steps/boot-check.ts';
import type { Transport } from '../transport/transport.ts';

function consoleOf(lines: string[]): Transport {
  return {
    onData(listener: (chunk: Uint8Array) => void) {
      setTimeout(() => listener(new TextEncoder().encode(lines.join('\r\n') + '\r\n')), 5);
      return () => {};
    },
  } as unknown as Transport;
}

// The shape of a real ESP32 boot (ESP-IDF 2nd-stage bootloader, then the app).
const REAL_BOOT = [
  'rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)',
  'I (29) boot: ESP-IDF v4.4.4 2nd stage bootloader',
  'I (101) esp_image: segment 0: paddr=00010020 vaddr=3f400020 size=0a3b4h ( 41908) map',
  'I (156) boot: Loaded app from partition at offset 0x10000',
  'I (156) boot: Disabling RNG early entropy source...',
];

describe('console boot verdict', () => {
  it("passes on the bootloader's hand-over once the grace period passes without a panic", async () => {
    const v = await consoleTap(consoleOf(REAL_BOOT), 100).verdict(2000);
    expect(v).toEqual({ ok: true, line: 'I (156) boot: Loaded app from partition at offset 0x10000' });
  });

  it('passes at once on an app-up line', async () => {
    const v = await consoleTap(consoleOf([...REAL_BOOT, 'mgos_init            Init done, RAM: 52184 total'])).verdict(2000);
    expect(v.ok).toBe(true);
    expect(v.line).toContain('Init done');
  });

  it('fails on a panic right after the hand-over', async () => {
    const v = await consoleTap(consoleOf([...REAL_BOOT, "Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled."]), 500).verdict(2000);
    expect(v.ok).toBe(false);
    expect(v.line).toContain('Guru Meditation');
  });

  it('does not take text only the virtual board prints as a boot', async () => {
    const v = await consoleTap(consoleOf(["I (0) espfleet-sim: would run app 'app_0' at 0x10000, version 1.0.0"]), 100).verdict(300);
    expect(v).toEqual({ ok: false, line: 'no boot verdict on the console within 300 ms' });
  });

  it('fails on a bootloader that finds no app', async () => {
    const v = await consoleTap(consoleOf(['E (90) boot: No bootable app partitions in the partition table'])).verdict(2000);
    expect(v.ok).toBe(false);
  });
});
