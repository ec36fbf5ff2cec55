// READ_REG / WRITE_REG address decoding (spec esp32-rom-efuse-crypto.md §1.7, §1.12, §2):
// chip magic, eFuse controller, SPI1, APB_CTL_DATE, UART_CLKDIV and the RTC calibration.
// Addresses nothing models behave like plain memory so hosts' read-modify-writes still work.
import { EFUSE, REG, rtcCaliCfg1For } from './targets/esp32.ts';
import type { EfuseController } from './efuse-controller.ts';
import type { Spi1Controller } from './spi1-controller.ts';

export interface BusContext {
  magic: number;
  apbCtlDate: number;
  xtalMhz: 40 | 26;
  /** Current UART baud, for UART_CLKDIV. */
  baud(): number;
  /** APB clock in MHz: the crystal in the ROM, 80 MHz (PLL) once a stub runs. */
  apbMhz(): number;
  strapping(): number;
}

export class RegisterBus {
  private memory = new Map<number, number>();

  constructor(
    private readonly ctx: BusContext,
    private readonly efuse: EfuseController,
    private readonly spi1: Spi1Controller,
  ) {}

  read(addr: number): number {
    const a = addr >>> 0;
    if (a === REG.chipDetectMagic) return this.ctx.magic;
    if (a === REG.apbCtlDate) return this.ctx.apbCtlDate;
    if (a === REG.uartClkdiv) {
      // UART_CLKDIV = APB / baud; esptool estimates the crystal as baud × divider.
      const div = Math.round((this.ctx.apbMhz() * 1e6) / this.ctx.baud());
      return ((this.memory.get(a) ?? 0) & ~0xfffff) | (div & 0xfffff);
    }
    if (a === REG.rtcCaliCfg1) return rtcCaliCfg1For(this.ctx.xtalMhz);
    if (a === REG.gpioStrap) return this.ctx.strapping();
    if (a >= REG.efuseBase && a < REG.efuseBase + EFUSE.regionSize) return this.efuse.readRegister(a - REG.efuseBase);
    if (a >= REG.spi1Base && a < REG.spi1Base + 0x100) return this.spi1.read(a - REG.spi1Base);
    return this.memory.get(a) ?? 0;
  }

  write(addr: number, value: number): void {
    const a = addr >>> 0;
    const v = value >>> 0;
    if (a >= REG.efuseBase && a < REG.efuseBase + EFUSE.regionSize) return this.efuse.writeRegister(a - REG.efuseBase, v);
    if (a >= REG.spi1Base && a < REG.spi1Base + 0x100) return this.spi1.write(a - REG.spi1Base, v);
    if (a === REG.chipDetectMagic || a === REG.apbCtlDate) return; // ROM / read-only
    this.memory.set(a, v);
  }

  /** Masked write as WRITE_REG defines it: new = (value & mask) | (old & ~mask). */
  writeMasked(addr: number, value: number, mask: number): void {
    const m = mask >>> 0;
    const v = m === 0xffffffff ? value : (value & m) | (this.read(addr) & ~m);
    this.write(addr, v >>> 0);
  }

  powerOn(): void {
    this.memory = new Map();
  }
}
