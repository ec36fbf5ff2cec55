// Turning on ESP32 flash encryption with a host-generated, escrowed key (spec
// esp32-rom-efuse-crypto.md §3.3, §3.6, §5.3, §5.4; mongoose-os.md §6.2, §6.3;
// DESIGN.md invariant 2). Order, and why every interruption is finished by a re-run:
//
//   1. read the chip; decide the key: the escrowed one for this MAC, else a new one
//   2. escrow a new key and wait for the durable write      ← crash: nothing burned;
//      the next run escrows another new key (the lost one never reached the chip)
//   3. burn BLK1 (verified by reading it back), then FLASH_CRYPT_CONFIG (+ release
//      disables), then RD_DIS bit0 + WR_DIS bit7 in a last BLK0 pass
//                                                          ← crash: BLK1 readable and equal
//      to (or a subset of) the escrowed key → the re-run burns the rest; BLK1 hidden →
//      the re-run trusts the escrow record for this MAC (see below)
//   4. write the bundle's regions pre-encrypted with the key (sectors that already
//      match are skipped)                                   ← crash: re-run rewrites the rest
//   5. burn FLASH_CRYPT_CNT to odd (development) or 0x7F (release) — last, like a commit
//   6. re-read and check the final state
//
// Which key is in a read-protected BLK1? It cannot be read (§3.5). espfleet burns a key
// only after escrowing it under the board's MAC, and the keystore refuses a second key for
// a MAC, so a hidden BLK1 on a MAC with an escrow record is that key. That is checked
// against the flash whenever the flash can tell: the raw bootloader sector at 0x1000 must
// decrypt with the escrowed key to an image header (key-evidence.ts); if it decrypts to
// garbage, the board holds another key and nothing is changed. Blank or plaintext flash
// cannot tell; then the escrow record is trusted (documented residual risk: a board whose
// BLK1 was burned by another tool after our escrow but before our burn).
import { CertsError, type KeyEscrow } from '../../certs/index.ts';
import { checkRegionsChip } from '../../firmware-js/flash-plan.ts';
import { defaultDeviceId } from '../../firmware-js/device-id.ts';
import { readEfuses, burnEfuses, checkBurn, describeBurn, valueOf, codingScheme, keyBlockWords, blockReadProtected, blockWriteProtected, type EfuseBurnPlan, type EfuseRegisters, type EfuseSnapshot } from '../session/index.ts';
import type { ChipFacts, RegionResult, WriteProgress, WriteRegion } from '../session/index.ts';
import { encryptionError } from './errors.ts';
import { keyEvidence, type KeyEvidence } from './key-evidence.ts';
import { keyToBlockWords } from './key-words.ts';
import { configTargets, counterTarget, FLASH_CRYPT_CONFIG_ALL, popcount, protectionTargets, type EncryptionMode } from './modes.ts';
import { preEncryptRegions, type PlannedRegion } from './pre-encrypt.ts';

export const FLASH_KEY_KIND = 'flash-encryption-key' as const;

/** What the workflow needs from a board; BoardSession provides it. */
export interface EncryptionBoard extends EfuseRegisters {
  readonly stubRunning: boolean;
  chipFacts(): Promise<ChipFacts>;
  readFlash(address: number, length: number): Promise<Uint8Array>;
  writeRegions(regions: readonly WriteRegion[], opts?: { onProgress?: (p: WriteProgress) => void }): Promise<RegionResult[]>;
}

export interface EnableOptions {
  mode: EncryptionMode;
  keystore: KeyEscrow;
  /** Device id for the escrow record; defaults to the station's `esp32_<last 6 hex of the MAC>`. */
  deviceId?: string;
  /** A flash plan to write pre-encrypted before the counter is burned. */
  regions?: readonly PlannedRegion[];
  /** Irreversible: without it nothing is escrowed, burned or written (dry run). */
  confirm: boolean;
  /** Key generator (node:crypto randomBytes in the CLI); tests pass their own. */
  randomKey: (length: number) => Uint8Array;
  onStep?: (line: string) => void;
  onWriteProgress?: (p: WriteProgress) => void;
}

export interface EnableResult {
  mac: string;
  deviceId: string;
  mode: EncryptionMode;
  dryRun: boolean;
  /** new: generated (and, unless dry run, escrowed) now · escrowed: taken from the keystore. */
  key: 'new' | 'escrowed';
  /** What the flash said about the key before anything was done. */
  evidenceBefore: KeyEvidence | 'not-checked';
  /** What the dry run would do, or what was done: one line each. */
  actions: string[];
  /** PGM commands issued (0 on a board that was already finished). */
  programs: number;
  regions: RegionResult[];
  /** True when the board was already encrypted with the escrowed key as asked: nothing burned. */
  alreadyDone: boolean;
  final: EncryptionState;
}

export interface EncryptionState {
  flashCryptCnt: number;
  enabled: boolean;
  flashCryptConfig: number;
  keyReadProtected: boolean;
  keyWriteProtected: boolean;
  releaseMode: boolean;
}

export function encryptionState(snap: EfuseSnapshot): EncryptionState {
  const cnt = valueOf(snap, 'FLASH_CRYPT_CNT');
  const counterFrozen = cnt === 0x7f || (valueOf(snap, 'WR_DIS') & (1 << 2)) !== 0;
  const dl = ['DISABLE_DL_ENCRYPT', 'DISABLE_DL_DECRYPT', 'DISABLE_DL_CACHE'].every((f) => valueOf(snap, f) === 1);
  const enabled = popcount(cnt) % 2 === 1;
  return {
    flashCryptCnt: cnt,
    enabled,
    flashCryptConfig: valueOf(snap, 'FLASH_CRYPT_CONFIG'),
    keyReadProtected: blockReadProtected(snap, 1),
    keyWriteProtected: blockWriteProtected(snap, 1),
    // IDF's definition (§5.3).
    releaseMode: enabled && counterFrozen && dl,
  };
}

export { defaultDeviceId };

export async function enableFlashEncryption(board: EncryptionBoard, opts: EnableOptions): Promise<EnableResult> {
  const step = opts.onStep ?? (() => {});
  const facts = await board.chipFacts();
  const mac = facts.mac;
  // A bundle for another chip is refused before any key is escrowed or eFuse burned.
  if (opts.regions) checkRegionsChip(opts.regions, facts.chip);
  const snap = await readEfuses(board);
  const scheme = codingScheme(snap);
  if (scheme === 2) {
    throw encryptionError('encryption.unsupported_coding', `the board ${mac} uses the "repeat" eFuse coding scheme (CODING_SCHEME 2), which flash encryption does not support`);
  }
  const escrow = lookupEscrow(opts.keystore, mac);
  const deviceId = escrow?.deviceId ?? opts.deviceId ?? defaultDeviceId(mac);
  const decided = await decideKey(board, snap, mac, escrow?.secret, opts);
  const { key } = decided;

  // Plans for steps 3 and 5, each with the prior values it expects; checking them now
  // means a write-protected field or a locked counter is refused before anything happens.
  const n = keyBlockWords(snap);
  const blk1Now = (snap.blocks[1] ?? []).slice(0, n);
  const keyBlockNeeded = !blockReadProtected(snap, 1);
  const fieldTargets = { ...configTargets(opts.mode), ...protectionTargets(opts.mode) };
  const fields: Record<string, number> = {};
  const expectFields: Record<string, number> = {};
  for (const [name, bits] of Object.entries(fieldTargets)) {
    const now = valueOf(snap, name);
    fields[name] = now | bits;
    expectFields[name] = now;
  }
  const keyPlan: EfuseBurnPlan = {
    fields,
    ...(keyBlockNeeded ? { keyBlocks: { 1: keyToBlockWords(key) } } : {}),
    expect: { fields: expectFields, ...(keyBlockNeeded ? { keyBlocks: { 1: blk1Now } } : {}) },
  };
  const cntNow = valueOf(snap, 'FLASH_CRYPT_CNT');
  const cntTarget = counterTarget(opts.mode, cntNow);
  const counterPlan: EfuseBurnPlan = { fields: { FLASH_CRYPT_CNT: cntTarget }, expect: { fields: { FLASH_CRYPT_CNT: cntNow } } };
  const keyChecked = checkBurn(snap, keyPlan);
  let counterChecked;
  try {
    counterChecked = checkBurn(snap, counterPlan);
  } catch (e) {
    if (e instanceof Error && 'code' in e && e.code === 'efuse.write_protected') {
      throw encryptionError('encryption.counter_locked', `FLASH_CRYPT_CNT on ${mac} reads 0x${cntNow.toString(16)} and is write-protected (WR_DIS bit 2); it cannot reach 0x${cntTarget.toString(16)}`, {
        hint: 'this board can no longer change its flash-encryption state; nothing was changed',
        cause: e,
      });
    }
    throw e;
  }
  const conf = FLASH_CRYPT_CONFIG_ALL;
  const writes = opts.regions ? preEncryptRegions(opts.regions, key, conf) : [];
  // Burning the counter over plaintext firmware would leave a board that cannot boot, and
  // encrypting what is on flash in place is not offered (a re-run could not tell which
  // sectors were already encrypted): ask for the bundle instead.
  if (!opts.regions && counterChecked.steps.length > 0) {
    const evidence = decided.evidence === 'not-checked' ? await keyEvidence(board, key, conf) : decided.evidence;
    if (evidence === 'plaintext') {
      throw encryptionError('encryption.needs_bundle', `${mac} holds plaintext firmware (an unencrypted bootloader at 0x1000); turning encryption on without rewriting it would leave the board unbootable; nothing was changed`, {
        hint: 'pass --bundle fw.zip: it is written encrypted before FLASH_CRYPT_CNT is burned',
      });
    }
  }

  const actions: string[] = [];
  if (decided.isNew) actions.push(`generate a new ${key.length * 8}-bit key and escrow it for ${deviceId} (${mac}) in ${opts.keystore.path} before any burn`);
  else actions.push(`use the key escrowed for ${deviceId} (${mac})`);
  actions.push(...describeBurn(keyChecked).map((l) => (l.startsWith('nothing') ? 'key and configuration: already burned' : l)));
  if (writes.length > 0) actions.push(`write ${writes.length} region(s) pre-encrypted at their addresses: ${writes.map((w) => `${w.name ?? ''}@0x${w.address.toString(16)}`).join(', ')}`);
  actions.push(...describeBurn(counterChecked).map((l) => (l.startsWith('nothing') ? 'FLASH_CRYPT_CNT: already as asked' : l)));
  const alreadyDone = keyChecked.steps.length === 0 && counterChecked.steps.length === 0 && !decided.isNew;

  const base = { mac, deviceId, mode: opts.mode, key: decided.isNew ? ('new' as const) : ('escrowed' as const), evidenceBefore: decided.evidence, actions };
  if (!opts.confirm) return { ...base, dryRun: true, programs: 0, regions: [], alreadyDone, final: encryptionState(snap) };

  // 2. Escrow first, durably (invariant 2); read it back so a key that cannot be recovered is never burned.
  if (decided.isNew) {
    step(`escrowing a new flash-encryption key for ${deviceId} (${mac})`);
    await opts.keystore.put({ deviceId, mac, kind: FLASH_KEY_KIND, secret: key, meta: { mode: opts.mode, codingScheme: scheme === 1 ? '3/4' : 'none' } });
    const back = opts.keystore.get({ mac }, FLASH_KEY_KIND).secret;
    if (!Buffer.from(back).equals(Buffer.from(key))) {
      throw encryptionError('encryption.escrow_failed', `the keystore ${opts.keystore.path} does not return the key just escrowed for ${mac}; nothing was burned`);
    }
  }
  const apbMhz = board.stubRunning ? 80 : facts.crystalMHz;
  let programs = 0;
  if (keyChecked.steps.length > 0) step(`burning ${keyChecked.steps.map((s) => s.what.join('+')).join(', then ')}`);
  programs += (await burnEfuses(board, keyPlan, { apbMhz, confirm: true })).programs;

  let regions: RegionResult[] = [];
  if (writes.length > 0) {
    step(`writing ${writes.length} pre-encrypted region(s)`);
    regions = await board.writeRegions(writes, opts.onWriteProgress ? { onProgress: opts.onWriteProgress } : {});
    if (writes.some((w) => w.address === 0x1000)) {
      const after = await keyEvidence(board, key, conf);
      if (after !== 'match') {
        throw encryptionError('encryption.not_finished', `the bootloader written at 0x1000 does not decrypt with the escrowed key (${after}); FLASH_CRYPT_CNT was not burned`, {
          hint: 'run the command again; if it repeats, the flash or the bundle is damaged',
        });
      }
    }
  }
  if (counterChecked.steps.length > 0) step(`burning FLASH_CRYPT_CNT 0x${cntNow.toString(16)} → 0x${cntTarget.toString(16)}`);
  programs += (await burnEfuses(board, counterPlan, { apbMhz, confirm: true })).programs;

  const final = encryptionState(await readEfuses(board));
  if (!final.enabled || !final.keyReadProtected || !final.keyWriteProtected || (opts.mode === 'release' && !final.releaseMode)) {
    throw encryptionError('encryption.not_finished', `after the burns the board reads ${JSON.stringify(final)}`, { hint: 'run the command again to finish; nothing is burned twice' });
  }
  return { ...base, dryRun: false, programs, regions, alreadyDone, final };
}

interface DecidedKey {
  key: Uint8Array;
  isNew: boolean;
  evidence: KeyEvidence | 'not-checked';
}

async function decideKey(board: EncryptionBoard, snap: EfuseSnapshot, mac: string, escrowed: Uint8Array | undefined, opts: EnableOptions): Promise<DecidedKey> {
  const n = keyBlockWords(snap);
  const keyLength = n * 4;
  const blk1 = (snap.blocks[1] ?? []).slice(0, n);
  const cnt = valueOf(snap, 'FLASH_CRYPT_CNT');
  if (escrowed && escrowed.length !== keyLength) {
    throw encryptionError('encryption.key_mismatch', `the key escrowed for ${mac} is ${escrowed.length} bytes, but BLK1 holds ${keyLength} under this board's coding scheme`);
  }
  if (blockReadProtected(snap, 1)) {
    if (!escrowed) {
      throw encryptionError('encryption.unknown_key', `BLK1 of ${mac} is read-protected (a key is burned) and ${opts.keystore.path} has no key for this MAC; nothing was changed`, {
        hint: 'this board was set up with another key or keystore; use that keystore, or treat the board as not reflashable',
      });
    }
    const evidence = await keyEvidence(board, escrowed, valueOf(snap, 'FLASH_CRYPT_CONFIG') || FLASH_CRYPT_CONFIG_ALL);
    if (evidence === 'mismatch') {
      throw encryptionError('encryption.key_mismatch', `the flash of ${mac} is encrypted with a key other than the one escrowed in ${opts.keystore.path} (the bootloader at 0x1000 does not decrypt with it); nothing was changed`, {
        hint: 'find the keystore this board was provisioned with',
      });
    }
    return { key: escrowed, isNew: false, evidence };
  }
  if (blk1.every((w) => w === 0)) {
    if (blockWriteProtected(snap, 1)) {
      throw encryptionError('encryption.key_block_locked', `BLK1 of ${mac} is empty but write-protected (WR_DIS bit 7); no key can be burned`);
    }
    if (popcount(cnt) % 2 === 1) {
      throw encryptionError('encryption.unexpected_state', `FLASH_CRYPT_CNT of ${mac} is odd (0x${cnt.toString(16)}) but BLK1 holds no key; refusing to burn a key into a board that already encrypts`);
    }
    if (escrowed) return { key: escrowed, isNew: false, evidence: 'not-checked' };
    const key = opts.randomKey(keyLength);
    if (key.length !== keyLength || key.every((b) => b === 0)) throw new Error(`key generator returned ${key.length} bytes (or all zero), expected ${keyLength} random bytes`);
    return { key, isNew: true, evidence: 'not-checked' };
  }
  // BLK1 is readable and holds bits: an interrupted burn of ours leaves a subset of the escrowed key.
  if (!escrowed) {
    throw encryptionError('encryption.unknown_key', `BLK1 of ${mac} already holds key bits and ${opts.keystore.path} has no key for this MAC; nothing was changed`, {
      hint: 'the key was burned by another tool; escrow it there or treat the board as set up elsewhere',
    });
  }
  const want = keyToBlockWords(escrowed);
  if (blk1.some((w, i) => ((w >>> 0) & ~(want[i] ?? 0)) !== 0)) {
    throw encryptionError('encryption.key_mismatch', `BLK1 of ${mac} holds bits that are not in the key escrowed in ${opts.keystore.path}; nothing was changed`);
  }
  return { key: escrowed, isNew: false, evidence: 'not-checked' };
}

function lookupEscrow(keystore: KeyEscrow, mac: string): { deviceId: string; secret: Uint8Array } | undefined {
  try {
    const e = keystore.get({ mac }, FLASH_KEY_KIND);
    return { deviceId: e.deviceId, secret: e.secret };
  } catch (e) {
    if (e instanceof CertsError && e.code === 'certs.keystore.not_found') return undefined;
    throw e;
  }
}
