// Flashing a board whose flash encryption is on, with the key escrowed for its MAC
// (spec esp32-rom-efuse-crypto.md §5.4, §5.5; mongoose-os.md §6.3): regions flagged
// `encrypt` are encrypted on the host at their addresses and written raw; the others
// (nvs fill, plaintext data) as they are. Refuses when the flash shows another key.
import type { Keystore } from '../../certs/index.ts';
import { checkRegionsChip } from '../../firmware-js/flash-plan.ts';
import { readEfuses, valueOf, fieldReadProtected, findField, type RegionResult, type WriteProgress } from '../session/index.ts';
import { encryptionState, FLASH_KEY_KIND, type EncryptionBoard } from './enable.ts';
import { encryptionError } from './errors.ts';
import { BOOTLOADER_ADDRESS, keyEvidence, type KeyEvidence } from './key-evidence.ts';
import { FLASH_CRYPT_CONFIG_ALL } from './modes.ts';
import { preEncryptRegions, type PlannedRegion } from './pre-encrypt.ts';

export interface EscrowedFlashResult {
  mac: string;
  deviceId: string;
  flashCryptConfig: number;
  evidenceBefore: KeyEvidence;
  regions: RegionResult[];
}

export async function flashWithEscrowedKey(
  board: EncryptionBoard,
  keystore: Keystore,
  regions: readonly PlannedRegion[],
  opts: { onProgress?: (p: WriteProgress) => void } = {},
): Promise<EscrowedFlashResult> {
  const facts = await board.chipFacts();
  checkRegionsChip(regions, facts.chip);
  const snap = await readEfuses(board);
  const state = encryptionState(snap);
  if (!state.enabled) {
    throw encryptionError('encryption.not_enabled', `flash encryption is off on ${facts.mac} (FLASH_CRYPT_CNT 0x${state.flashCryptCnt.toString(16)}); encrypted images would not boot`, {
      hint: 'turn it on first with `espfleet encrypt-flash --mode development|release --keystore …` (it can write the bundle too), or flash without --encrypt-with-escrow',
    });
  }
  let entry;
  try {
    entry = keystore.get({ mac: facts.mac }, FLASH_KEY_KIND);
  } catch (e) {
    throw encryptionError('encryption.unknown_key', `${keystore.path} has no flash-encryption key for ${facts.mac}; nothing was written`, {
      hint: 'use the keystore this board was provisioned with (`espfleet keystore list`)',
      cause: e,
    });
  }
  // A hidden FLASH_CRYPT_CONFIG (RD_DIS bit 3) reads 0; espfleet always burns 0xF.
  const confField = findField('FLASH_CRYPT_CONFIG');
  const conf = confField && fieldReadProtected(snap, confField) ? FLASH_CRYPT_CONFIG_ALL : valueOf(snap, 'FLASH_CRYPT_CONFIG');
  const evidenceBefore = await keyEvidence(board, entry.secret, conf);
  if (evidenceBefore === 'mismatch') {
    throw encryptionError('encryption.key_mismatch', `the flash of ${facts.mac} is encrypted with a key other than the one escrowed in ${keystore.path}; nothing was written`, {
      hint: 'find the keystore this board was provisioned with',
    });
  }
  const writes = preEncryptRegions(regions, entry.secret, conf);
  const results = await board.writeRegions(writes, opts.onProgress ? { onProgress: opts.onProgress } : {});
  if (writes.some((w) => w.address === BOOTLOADER_ADDRESS) && (await keyEvidence(board, entry.secret, conf)) !== 'match') {
    throw encryptionError('encryption.not_finished', `the bootloader written at 0x1000 on ${facts.mac} does not decrypt with the escrowed key`, { hint: 'flash again' });
  }
  return { mac: facts.mac, deviceId: entry.deviceId, flashCryptConfig: conf, evidenceBefore, regions: results };
}
