// Firmware signing-key rotation as steps (issue 21, docs/fleet.md "Rotating the firmware
// signing key"): every targeted board goes old → added → required → retired, one cmd/keys
// each, and the rotation takes a step only once every targeted board is at the previous one.
// Pure functions: a board's step is read from the key state its retained status reports
// (agent/fs/espfleet_keys.js); the driver (signing-key-driver.ts) sends and waits.
import { SIGNATURE_SLOTS } from '../../firmware-js/bundle/index.ts';
import { FleetError } from './errors.ts';
import type { KeysChange } from './signing-key-command.ts';
import { keyFingerprint } from './signing-key-command.ts';

/**
 * 0 old: the old key in its slot, the new slot empty, mask = the old slot.
 * 1 added: both keys, mask still the old slot (bundles signed by the old key alone still go in).
 * 2 required: mask = both slots (bundles must carry both signatures).
 * 3 retired: the old slot empty, mask = the new slot (only the new key signs).
 */
export const ROTATION_STEPS = ['old', 'added', 'required', 'retired'] as const;
export type RotationStep = 0 | 1 | 2 | 3;
export const LAST_STEP: RotationStep = 3;

export interface RotationKeys {
  oldSlot: number;
  newSlot: number;
  /** Base64 DER SPKI, as update.key<i> holds them. */
  oldKey: string;
  newKey: string;
  oldFp: string;
  newFp: string;
}

/** What a board's status says about its keys ("keys" of devices/<id>/status). */
export interface BoardKeys {
  seq: number;
  mask: number;
  /** One per slot: SHA-256 hex of the key, "" for an empty slot, "?" for one the board cannot read. */
  fp: string[];
}

export function rotationKeys(oldSlot: number, oldKey: string, newSlot: number, newKey: string): RotationKeys {
  for (const [what, slot] of [['old', oldSlot], ['new', newSlot]] as const) {
    if (!Number.isInteger(slot) || slot < 0 || slot >= SIGNATURE_SLOTS) throw new FleetError('fleet.keys.bad_slot', `the ${what} key's slot must be 0..${SIGNATURE_SLOTS - 1}; got ${slot}`);
  }
  if (oldSlot === newSlot) throw new FleetError('fleet.keys.same_slot', `the new key must go into a slot other than the old key's (${oldSlot})`, { hint: 'pick a free slot with --slot' });
  const oldFp = keyFingerprint(oldKey);
  const newFp = keyFingerprint(newKey);
  if (oldFp === newFp) throw new FleetError('fleet.keys.same_key', 'the new public key is the old one', { hint: 'make a new key with `espfleet fw keygen`' });
  return { oldSlot, newSlot, oldKey, newKey, oldFp, newFp };
}

/** The step a board is at, or undefined when its keys are none of the four (listed, never commanded). */
export function stepOf(k: RotationKeys, b: BoardKeys): RotationStep | undefined {
  const o = b.fp[k.oldSlot] ?? '';
  const n = b.fp[k.newSlot] ?? '';
  const oBit = 1 << k.oldSlot;
  const nBit = 1 << k.newSlot;
  if (o === k.oldFp && n === '' && b.mask === oBit) return 0;
  if (o === k.oldFp && n === k.newFp && b.mask === oBit) return 1;
  if (o === k.oldFp && n === k.newFp && b.mask === (oBit | nBit)) return 2;
  if (o === '' && n === k.newFp && b.mask === nBit) return 3;
  return undefined;
}

/** The cmd/keys change that takes a board from step `to - 1` to `to`. */
export function changeFor(k: RotationKeys, to: RotationStep): KeysChange {
  const oBit = 1 << k.oldSlot;
  const nBit = 1 << k.newSlot;
  if (to === 1) return { set: { [k.newSlot]: k.newKey }, mask: oBit };
  if (to === 2) return { set: {}, mask: oBit | nBit };
  if (to === 3) return { set: { [k.oldSlot]: '' }, mask: nBit };
  throw new FleetError('fleet.keys.bad_step', `no command leads to step ${to}`);
}

/** Which private keys sign the command to step `to`: what the board's mask at `to - 1` requires. */
export function signersFor(to: RotationStep): Array<'old' | 'new'> {
  return to === 3 ? ['old', 'new'] : ['old'];
}

/** Why a board cannot start the rotation, or undefined (step 0 with the new slot free, or further on). */
export function startRefusal(k: RotationKeys, b: BoardKeys): string | undefined {
  if (stepOf(k, b) !== undefined) return undefined;
  const o = b.fp[k.oldSlot] ?? '';
  const n = b.fp[k.newSlot] ?? '';
  if (o !== k.oldFp) return o === '' ? `slot ${k.oldSlot} is empty, not the old key` : `slot ${k.oldSlot} holds another key (${o.slice(0, 12)}…), not the old one`;
  if (n !== '' && n !== k.newFp) return `slot ${k.newSlot} is not free (${n.slice(0, 12)}…)`;
  return `update.sig_req_mask is ${b.mask}, not ${1 << k.oldSlot} (the old slot only)`;
}

/** The "keys" of a status payload, or undefined when it has none (an older agent, the will). */
export function parseBoardKeys(v: unknown): BoardKeys | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (!Number.isInteger(o.seq) || !Number.isInteger(o.mask) || !Array.isArray(o.fp) || o.fp.length !== SIGNATURE_SLOTS) return undefined;
  if (!o.fp.every((f) => typeof f === 'string' && /^(|\?|[0-9a-f]{64})$/.test(f))) return undefined;
  return { seq: o.seq as number, mask: o.mask as number, fp: o.fp as string[] };
}
