// Which requested eFuse changes belong to flash encryption (spec esp32-rom-efuse-crypto.md
// §3.2, §5.3): the fields `espfleet encrypt-flash` owns (targets/esp32-efuses.ts) and the
// protection bits of those fields and of BLK1/BLK2. `efuse burn` refuses them unless the
// operator says otherwise, and never turns encryption on or hides BLK1 over a key that is
// not escrowed (cli/commands/efuse/escrow-guard.ts checks that part against the keystore).
import type { FieldChange } from './efuse-programmer.ts';
import { BLK1_RD_DIS_BIT } from './targets/esp32.ts';
import { ENCRYPTION_OWNED_FIELDS, ownedProtectionBits } from './targets/esp32-efuses.ts';

export interface OwnedChange {
  name: string;
  /** The new bits (in field value terms) that fall in the owned part of the field. */
  bits: number;
  why: string;
}

export function encryptionOwnedChanges(changes: readonly FieldChange[]): OwnedChange[] {
  const protection = ownedProtectionBits();
  const owned: OwnedChange[] = [];
  for (const c of changes) {
    const added = (c.to & ~c.from) >>> 0;
    const why = ENCRYPTION_OWNED_FIELDS[c.name];
    if (why !== undefined && added !== 0) owned.push({ name: c.name, bits: added, why });
    else if (c.name === 'WR_DIS' && (added & protection.WR_DIS) !== 0) {
      owned.push({ name: c.name, bits: added & protection.WR_DIS, why: 'write-protects key blocks BLK1/BLK2 or a field encrypt-flash owns' });
    } else if (c.name === 'RD_DIS' && (added & protection.RD_DIS) !== 0) {
      owned.push({ name: c.name, bits: added & protection.RD_DIS, why: 'read-protects key blocks BLK1/BLK2 or the flash-encryption configuration' });
    }
  }
  return owned;
}

function popcount(n: number): number {
  let c = 0;
  for (let v = n >>> 0; v; v &= v - 1) c++;
  return c;
}

/** True when the burn changes FLASH_CRYPT_CNT and leaves it odd (flash encryption on with BLK1's key). */
export function enablesEncryption(changes: readonly FieldChange[]): boolean {
  const c = changes.find((x) => x.name === 'FLASH_CRYPT_CNT');
  return c !== undefined && popcount(c.to) % 2 === 1;
}

/** True when the burn read-protects BLK1, after which nobody can read the key back. */
export function hidesFlashKey(changes: readonly FieldChange[]): boolean {
  const c = changes.find((x) => x.name === 'RD_DIS');
  return c !== undefined && ((c.to & ~c.from) & (1 << BLK1_RD_DIS_BIT)) !== 0;
}
