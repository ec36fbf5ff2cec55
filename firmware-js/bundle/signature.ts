// Bundle signatures as mos writes and the device checks them (spec mongoose-os.md §1.5):
// ECDSA P-256 over SHA-256 of the exact manifest.json bytes, DER, standard base64, in sig0..sig7.
// The device's verifier is closed source (§1.5, unconfirmed): we assume what mos implies, the raw
// manifest bytes and the local header's 0x293A block; our writer puts the same block in the
// central directory too, so a verifier reading either copy sees the same signatures.
import { sign, verify, type KeyObject } from 'node:crypto';
import { FirmwareError } from '../errors.ts';
import { readBundle, setBundleExtra, type Bundle } from './bundle.ts';
import { loadPrivateKey, loadPublicKey, requireP256 } from './signing-keys.ts';

/** Key slots `update.key0`…`update.key7`; the device keeps the result in a uint8 mask. */
export const SIGNATURE_SLOTS = 8;

export interface SlotVerdict {
  slot: number;
  /** The bundle carries `sig<slot>`. */
  present: boolean;
  /** A key is configured for the slot and the signature verifies with it. */
  verified: boolean;
  reason?: string;
}

export interface SignatureVerdict {
  /** Bit i set when slot i verified: the device's `sig_check_result`. */
  verifiedMask: number;
  /** All eight slots, in order. */
  slots: SlotVerdict[];
  accepted: boolean;
  reason: string;
}

/** Adds or replaces `sig<slot>`, keeping other slots, extra attributes and the manifest bytes. */
export function signBundle(zip: Uint8Array, privateKey: KeyObject | string, slot = 0): Uint8Array {
  checkSlot(slot);
  const key = typeof privateKey === 'string' ? loadPrivateKey(privateKey) : requireP256(privateKey, 'private');
  const bundle = readBundle(zip); // never sign what a device would refuse to read
  const signature = sign('sha256', bundle.manifestBytes, { key, dsaEncoding: 'der' });
  return setBundleExtra(zip, { ...bundle.extra, [`sig${slot}`]: signature.toString('base64') });
}

/**
 * Verifies like a device with `update.key<i>` = publicKeys[i] and `update.sig_req_mask`:
 * negative (default -1) accepts regardless; 0 is the "tombstone" that refuses every update;
 * otherwise every bit of the mask must be a verified slot.
 */
export function verifyBundle(
  input: Uint8Array | Bundle,
  publicKeys: ReadonlyArray<KeyObject | string | undefined>,
  sigReqMask: number,
): SignatureVerdict {
  if (!Number.isInteger(sigReqMask) || sigReqMask < -0x80000000 || sigReqMask > 0x7fffffff) {
    throw new FirmwareError('firmware.signature.bad_mask', `update.sig_req_mask is an int; got ${sigReqMask}`, {
      hint: '-1 ignores signatures, 0 refuses all updates, else the bits of the key slots that must verify',
    });
  }
  if (publicKeys.length > SIGNATURE_SLOTS) {
    throw new FirmwareError('firmware.signature.too_many_keys', `the device has ${SIGNATURE_SLOTS} key slots (update.key0..7); ${publicKeys.length} keys were given`);
  }
  const keys = publicKeys.map((k) => (k === undefined || k === '' ? undefined : typeof k === 'string' ? loadPublicKey(k) : requireP256(k, 'public')));
  const bundle = input instanceof Uint8Array ? readBundle(input) : input;
  const slots: SlotVerdict[] = [];
  let verifiedMask = 0;
  for (let slot = 0; slot < SIGNATURE_SLOTS; slot++) {
    const verdict = verifySlot(bundle, slot, keys[slot]);
    if (verdict.verified) verifiedMask |= 1 << slot;
    slots.push(verdict);
  }
  return { verifiedMask, slots, ...decide(sigReqMask, verifiedMask) };
}

function verifySlot(bundle: Bundle, slot: number, key: KeyObject | undefined): SlotVerdict {
  const value = bundle.extra[`sig${slot}`];
  const present = value !== undefined;
  if (key === undefined) {
    return { slot, present, verified: false, reason: present ? `no key configured for sig${slot} (update.key${slot} is empty)` : 'no key and no signature' };
  }
  if (!present) return { slot, present, verified: false, reason: `the bundle has no sig${slot}` };
  const der = typeof value === 'string' ? decodeBase64(value) : undefined;
  if (der === undefined) return { slot, present, verified: false, reason: `sig${slot} is not standard base64` };
  let ok = false;
  try {
    ok = verify('sha256', bundle.manifestBytes, { key, dsaEncoding: 'der' }, der);
  } catch {
    ok = false; // OpenSSL may raise on DER it cannot parse; to the device that is simply "not verified"
  }
  return ok
    ? { slot, present, verified: true }
    : { slot, present, verified: false, reason: `sig${slot} does not verify with key ${slot} over manifest.json (${bundle.manifestBytes.length} bytes)` };
}

function decide(mask: number, verifiedMask: number): { accepted: boolean; reason: string } {
  if (mask < 0) return { accepted: true, reason: `sig_req_mask ${mask}: signatures are not required` };
  // The README's special case, not what a plain bit test would give (spec §1.5).
  if (mask === 0) return { accepted: false, reason: 'sig_req_mask 0 is the tombstone: the device accepts no updates' };
  const missing = mask & ~verifiedMask;
  if (missing === 0) return { accepted: true, reason: `every required slot verified (mask 0x${mask.toString(16)}, verified 0x${verifiedMask.toString(16)})` };
  const names = bits(missing).map((b) => (b < SIGNATURE_SLOTS ? `sig${b}` : `bit ${b} (no such slot)`));
  return { accepted: false, reason: `required signature${names.length > 1 ? 's' : ''} not verified: ${names.join(', ')} (mask 0x${mask.toString(16)}, verified 0x${verifiedMask.toString(16)})` };
}

function bits(mask: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < 32; b++) if ((mask >>> b) & 1) out.push(b);
  return out;
}

function checkSlot(slot: number): void {
  if (!Number.isInteger(slot) || slot < 0 || slot >= SIGNATURE_SLOTS) {
    throw new FirmwareError('firmware.signature.bad_slot', `signature slot must be 0..${SIGNATURE_SLOTS - 1}, got ${slot}`, {
      hint: 'slot N is checked with the device key update.keyN',
    });
  }
}

function decodeBase64(text: string): Uint8Array | undefined {
  if (text.length === 0 || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}
