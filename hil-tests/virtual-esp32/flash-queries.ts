// Flash commands outside the write sessions (spec esp32-rom-efuse-crypto.md §1.6–§1.11):
// SPI_FLASH_MD5 (32 ASCII hex from the ROM, 16 raw bytes from a stub), the ROM's 64-byte
// READ_FLASH_SLOW, and the stubs' ERASE_REGION.
import { createHash } from 'node:crypto';
import { ROM_ERR, STUB_ERR } from './targets/esp32.ts';
import { u32s } from './protocol.ts';
import type { NorFlash } from './nor-flash.ts';
import type { Reply } from './reply.ts';

export function flashMd5(flash: NorFlash, d: Uint8Array, rom: boolean): Reply {
  if (d.length !== 16) return { error: rom ? ROM_ERR.invalidMessage : STUB_ERR.badDataLen };
  const [addr = 0, size = 0] = u32s(d, 2);
  if (!flash.contains(addr, size)) return { error: rom ? ROM_ERR.flashRead : STUB_ERR.failedSpiOp };
  const digest = createHash('md5').update(flash.bytes.subarray(addr, addr + size)).digest();
  // ROM: 32 lowercase ASCII hex characters; stubs: the 16 raw bytes (trap 6).
  return { payload: rom ? new TextEncoder().encode(digest.toString('hex')) : new Uint8Array(digest) };
}

export function readFlashSlow(flash: NorFlash, d: Uint8Array, spiParamsSize: number | undefined): Reply {
  if (d.length !== 8) return { error: ROM_ERR.invalidMessage };
  const [offset = 0, length = 0] = u32s(d, 2);
  if (length > 64) return { error: ROM_ERR.readLength };
  // Beyond the size given with SPI_SET_PARAMS the ROM's read fails; which code it uses is [U].
  const limit = Math.min(flash.size, spiParamsSize ?? flash.size);
  if (offset + length > limit) return { error: ROM_ERR.flashRead };
  const payload = new Uint8Array(64).fill(0xff);
  payload.set(flash.bytes.subarray(offset, offset + length));
  return { payload };
}

export function eraseRegion(flash: NorFlash, d: Uint8Array, dialect: string): Reply {
  if (d.length !== 8) return { error: STUB_ERR.badDataLen };
  const [offset = 0, size = 0] = u32s(d, 2);
  // The legacy stub answers raw 0x32 / 0x33 for misalignment; esp-flasher-stub BAD_DATA_LEN.
  if (offset % 0x1000) return { error: dialect === 'legacy' ? 0x32 : STUB_ERR.badDataLen };
  if (size % 0x1000) return { error: dialect === 'legacy' ? 0x33 : STUB_ERR.badDataLen };
  if (!flash.contains(offset, size)) return { error: STUB_ERR.failedSpiOp };
  flash.eraseCovering(offset, size);
  return {};
}
