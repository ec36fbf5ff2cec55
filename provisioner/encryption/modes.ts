// What each flash-encryption mode burns (spec esp32-rom-efuse-crypto.md §5.3, §5.4;
// mongoose-os.md §6.2). Both: the key in BLK1 with RD_DIS bit0 + WR_DIS bit7, and
// FLASH_CRYPT_CONFIG = 0xF. The counter is burned last (see enable.ts).
//
// development: FLASH_CRYPT_CNT gets one more bit (odd = on); UART download keeps its
//   encrypt/decrypt/cache paths and JTAG stays on, so the board can still be debugged and
//   (up to 3 times) turned back to plaintext.
// release (IDF's release definition, §5.3, plus what `esp_flash_encryption_cfg_verify_
//   release_mode` checks): DISABLE_DL_ENCRYPT, DISABLE_DL_DECRYPT, DISABLE_DL_CACHE,
//   JTAG_DISABLE, CONSOLE_DEBUG_DISABLE, WR_DIS bit 3 (locks DIS_CACHE, as newer IDF does),
//   and FLASH_CRYPT_CNT = 0x7F (all 7 bits, newer IDF) rather than WR_DIS bit 2 (mos):
//   both freeze the counter, but WR_DIS bit 2 would also forbid UART_DOWNLOAD_DIS later
//   (§3.2 trap). UART_DOWNLOAD_DIS itself is NOT burned: espfleet needs the ROM loader to
//   reflash and repair encrypted boards with the escrowed key; burn it with
//   `espfleet efuse burn UART_DOWNLOAD_DIS 1` when a product wants that last step (§5.4).
import { BLK1_RD_DIS_BIT, BLK1_WR_DIS_BIT } from '../session/targets/esp32.ts';

export const ENCRYPTION_MODES = ['development', 'release'] as const;
export type EncryptionMode = (typeof ENCRYPTION_MODES)[number];

export const FLASH_CRYPT_CONFIG_ALL = 0xf;
/** WR_DIS bit 3: DIS_CACHE (and MAC, APP_CPU, BT, VOL_LEVEL_HP_INV) — release only. */
const WR_DIS_DIS_CACHE = 3;

/** BLK0 fields that must hold at least these bits, burned with (after) the key. */
export function configTargets(mode: EncryptionMode): Record<string, number> {
  const common = { FLASH_CRYPT_CONFIG: FLASH_CRYPT_CONFIG_ALL };
  if (mode === 'development') return common;
  return { ...common, DISABLE_DL_ENCRYPT: 1, DISABLE_DL_DECRYPT: 1, DISABLE_DL_CACHE: 1, JTAG_DISABLE: 1, CONSOLE_DEBUG_DISABLE: 1 };
}

/** Protection bits burned in espefuse's last BLK0 pass, after the key reads back right. */
export function protectionTargets(mode: EncryptionMode): { RD_DIS: number; WR_DIS: number } {
  const wr = (1 << BLK1_WR_DIS_BIT) | (mode === 'release' ? 1 << WR_DIS_DIS_CACHE : 0);
  return { RD_DIS: 1 << BLK1_RD_DIS_BIT, WR_DIS: wr };
}

/** The counter value to reach: one more bit when even (development), all bits (release). */
export function counterTarget(mode: EncryptionMode, current: number): number {
  if (mode === 'release') return 0x7f;
  if (popcount(current) % 2 === 1) return current;
  for (let bit = 0; bit < 7; bit++) if (!(current & (1 << bit))) return current | (1 << bit);
  return current; // 7 bits set is odd; unreachable
}

export function popcount(n: number): number {
  let c = 0;
  for (let v = n >>> 0; v; v &= v - 1) c++;
  return c;
}
