// `efuse burn --allow-encryption-fuses` may still never turn flash encryption on, or hide
// BLK1, over a key that nobody can recover (DESIGN.md invariant 2; spec
// esp32-rom-efuse-crypto.md §3.5, §3.6, §5.5). The key must be escrowed in the keystore for
// this board's MAC (read from the chip, so it cannot name another board; the keystore holds
// one key per MAC and names its device id), and the chip must hold exactly that key:
// a readable BLK1 is compared word by word; a read-protected one cannot be read, so the
// bootloader at 0x1000 must decrypt with the escrowed key (key-evidence.ts). A blank BLK1
// is refused: encryption over an all-zero key protects nothing and BLK1 can then never be
// set. And turning encryption on over a plaintext bootloader would leave an unbootable board.
import { CertsError, type Keystore } from '../../../../certs/index.ts';
import { FLASH_KEY_KIND, keyEvidence, keyToBlockWords } from '../../../encryption/index.ts';
import { blockReadProtected, findField, fieldReadProtected, keyBlockWords, valueOf, type EfuseSnapshot, type FieldChange } from '../../../session/index.ts';
import { efuseError } from '../../../session/efuse-errors.ts';
import { enablesEncryption } from '../../../session/efuse-guard.ts';

export interface EscrowProof {
  deviceId: string;
  keystore: string;
  /** How the chip was shown to hold the escrowed key. */
  proof: 'BLK1 reads as the escrowed key' | 'the bootloader at 0x1000 decrypts with the escrowed key';
}

const USE_ENCRYPT_FLASH = 'espfleet encrypt-flash generates, escrows and burns the key in a safe order (docs/flash-encryption.md)';

export async function checkKeyEscrowed(
  board: { readFlash(address: number, length: number): Promise<Uint8Array> },
  snap: EfuseSnapshot,
  mac: string,
  changes: readonly FieldChange[],
  keystore: Keystore | undefined,
): Promise<EscrowProof> {
  const what = enablesEncryption(changes) ? 'turn flash encryption on' : 'read-protect BLK1 (the flash-encryption key)';
  if (!keystore) {
    throw efuseError('efuse.key_not_escrowed', `this burn would ${what} on ${mac}, and no keystore was given to show its key is escrowed; nothing was burned`, {
      hint: `pass --keystore (the keystore escrowing this board's key), or use ${USE_ENCRYPT_FLASH}`,
    });
  }
  let entry;
  try {
    entry = keystore.get({ mac }, FLASH_KEY_KIND);
  } catch (e) {
    if (e instanceof CertsError && e.code === 'certs.keystore.not_found') {
      throw efuseError('efuse.key_not_escrowed', `this burn would ${what} on ${mac}, but ${keystore.path} escrows no flash-encryption key for it; the key would be unrecoverable; nothing was burned`, {
        hint: USE_ENCRYPT_FLASH,
        cause: e,
      });
    }
    throw e;
  }
  const n = keyBlockWords(snap);
  if (entry.secret.length !== n * 4) {
    throw efuseError('efuse.key_not_escrowed', `the key escrowed for ${entry.deviceId} (${mac}) is ${entry.secret.length} bytes, BLK1 holds ${n * 4} under this board's coding scheme; nothing was burned`);
  }
  const base = { deviceId: entry.deviceId, keystore: keystore.path };
  const conf = confAfter(snap, changes);
  if (!blockReadProtected(snap, 1)) {
    const blk1 = (snap.blocks[1] ?? []).slice(0, n).map((w) => w >>> 0);
    const want = keyToBlockWords(entry.secret).map((w) => w >>> 0);
    if (blk1.every((w) => w === 0)) {
      throw efuseError('efuse.key_not_escrowed', `BLK1 of ${mac} is blank: this burn would ${what} with an all-zero key; nothing was burned`, { hint: USE_ENCRYPT_FLASH });
    }
    if (blk1.some((w, i) => w !== want[i])) {
      throw efuseError('efuse.key_not_escrowed', `BLK1 of ${mac} does not hold the key escrowed for ${entry.deviceId} in ${keystore.path} (${blk1.some((w, i) => (w & ~(want[i] ?? 0)) !== 0) ? 'it holds other bits' : 'only part of it is burned'}); nothing was burned`, {
        hint: 'an interrupted encrypt-flash is finished by running it again with the same keystore',
      });
    }
    if (enablesEncryption(changes) && (await keyEvidence(board, entry.secret, conf)) === 'plaintext') {
      throw efuseError('efuse.key_not_escrowed', `${mac} holds a plaintext bootloader at 0x1000: turning encryption on would leave it unbootable; nothing was burned`, {
        hint: 'espfleet encrypt-flash --bundle fw.zip writes the firmware encrypted before it burns FLASH_CRYPT_CNT',
      });
    }
    return { ...base, proof: 'BLK1 reads as the escrowed key' };
  }
  const evidence = await keyEvidence(board, entry.secret, conf);
  if (evidence !== 'match') {
    throw efuseError('efuse.key_not_escrowed', `BLK1 of ${mac} is read-protected and the flash cannot show it holds the key escrowed for ${entry.deviceId} (the bootloader at 0x1000 is ${evidence === 'mismatch' ? 'encrypted with another key' : evidence}); nothing was burned`, {
      hint: USE_ENCRYPT_FLASH,
    });
  }
  return { ...base, proof: 'the bootloader at 0x1000 decrypts with the escrowed key' };
}

/** FLASH_CRYPT_CONFIG the chip will use: the burned target if the plan sets it, 0xF when hidden (espfleet always burns 0xF). */
function confAfter(snap: EfuseSnapshot, changes: readonly FieldChange[]): number {
  const planned = changes.find((c) => c.name === 'FLASH_CRYPT_CONFIG');
  if (planned) return planned.to;
  const f = findField('FLASH_CRYPT_CONFIG');
  return f && fieldReadProtected(snap, f) ? 0xf : valueOf(snap, 'FLASH_CRYPT_CONFIG');
}
