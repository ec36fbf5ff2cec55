// The cmd/keys message (docs/ota-protocol.md "Signing keys", agent/fs/espfleet_keys.js): the
// change of a board's update.key0..7 / update.sig_req_mask, signed over a canonical text by
// the keys the board trusts before the change. This is the one host-side writer of that
// text; the board builds the same bytes and verifies them with its current keys.
import { createHash, sign, type KeyObject } from 'node:crypto';
import { SIGNATURE_SLOTS } from '../../firmware-js/bundle/index.ts';
import { FleetError } from './errors.ts';

export interface KeysChange {
  /** Slots to change: slot → Base64 DER SPKI (update.key<slot>), or "" to clear it. */
  set: Record<number, string>;
  /** The new update.sig_req_mask: 1..255 (every bit a slot set after the change); 0 only with tombstone. */
  mask: number;
  tombstone?: true;
}

export interface KeysCommand {
  id: string;
  device_id: string;
  seq: number;
  set: Record<string, string>;
  mask: number;
  tombstone?: true;
  sigs: Record<string, string>;
}

/** The signed bytes: the same lines the board joins (espfleet_keys.js fleetKeysText). */
export function keysText(c: Omit<KeysCommand, 'sigs'>): string {
  const lines = ['espfleet-keys-v1', `device_id=${c.device_id}`, `id=${c.id}`, `seq=${c.seq}`];
  for (let i = 0; i < SIGNATURE_SLOTS; i++) {
    const v = c.set[String(i)];
    if (v !== undefined) lines.push(`set${i}=${v}`);
  }
  lines.push(`mask=${c.mask}`);
  if (c.tombstone) lines.push('tombstone=1');
  return lines.join('\n');
}

export interface KeysSigner {
  slot: number;
  key: KeyObject;
}

/** The command for one board, signed by every signer in its slot (the board checks the ones its mask needs). */
export function signKeysCommand(c: { id: string; deviceId: string; seq: number; change: KeysChange }, signers: readonly KeysSigner[]): KeysCommand {
  if (!Number.isInteger(c.seq) || c.seq < 1) throw new FleetError('fleet.keys.bad_seq', `seq must be a positive integer; got ${c.seq}`);
  const set = Object.fromEntries(Object.entries(c.change.set).map(([slot, v]) => [String(slot), v]));
  const body = { id: c.id, device_id: c.deviceId, seq: c.seq, set, mask: c.change.mask, ...(c.change.tombstone ? { tombstone: true as const } : {}) };
  const text = Buffer.from(keysText(body));
  const sigs: Record<string, string> = {};
  for (const s of signers) sigs[`sig${s.slot}`] = sign('sha256', text, { key: s.key, dsaEncoding: 'der' }).toString('base64');
  return { ...body, sigs };
}

/** A key's fingerprint as boards report it (espfleet_key_fp): SHA-256 hex of the SPKI DER. */
export function keyFingerprint(spkiB64: string): string {
  return createHash('sha256').update(Buffer.from(spkiB64, 'base64')).digest('hex');
}
