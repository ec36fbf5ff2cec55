// SPI1 "user command" registers the hosts use to talk to the flash chip directly
// (spec esp32-rom-efuse-crypto.md §1.12): RDID for the JEDEC id, status-register reads.
import { SPI1 } from './targets/esp32.ts';

export class Spi1Controller {
  private regs = new Map<number, number>();

  constructor(private readonly jedecId: () => number) {}

  read(offset: number): number {
    return this.regs.get(offset) ?? 0;
  }

  write(offset: number, value: number): void {
    const v = value >>> 0;
    if (offset === SPI1.cmd && v & SPI1.cmdUsr) {
      this.execute();
      // The transfer finishes at once, so the USR bit already reads back clear.
      this.regs.set(SPI1.cmd, v & ~SPI1.cmdUsr);
      return;
    }
    this.regs.set(offset, v);
  }

  private execute(): void {
    const opcode = this.read(SPI1.user2) & 0xffff & 0xff;
    const readsMiso = (this.read(SPI1.user) & (1 << 28)) !== 0;
    if (!readsMiso) return; // write enable, WRSR etc.: accepted, nothing to return
    switch (opcode) {
      case 0x9f: // RDID
        this.regs.set(SPI1.w0, this.jedecId() & 0xffffff);
        break;
      case 0x05: // RDSR: idle, not write-enabled, no protection bits
      case 0x35: // RDSR2
      case 0x15: // RDSR3
        this.regs.set(SPI1.w0, 0);
        break;
      case 0x5a: // RDSFDP: a 'SFDP' signature at address 0, nothing else modelled
        this.regs.set(SPI1.w0, this.read(SPI1.addr) === 0 ? 0x50444653 : 0xffffffff);
        break;
      default:
        this.regs.set(SPI1.w0, 0xffffffff);
    }
  }
}
