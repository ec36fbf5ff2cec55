// cmd/keys (espfleet_keys.js, docs/ota-protocol.md "Signing keys") under the emulated Mongoose
// OS API with the double's crypto helper: commands signed by the host's writer
// (provisioner/fleet/signing-key-command.ts) with keys made here. Every refusal changes
// nothing; an applied change is one conf9.json save of keys, mask and seq, and survives a
// reboot; the rotation add → require → retire goes through, and after it the old key alone
// can sign nothing.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mgosPublicKeyConfig } from '../../firmware-js/bundle/index.ts';
import { keyFingerprint, signKeysCommand, type KeysChange, type KeysCommand, type KeysSigner } from '../../provisioner/fleet/signing-key-command.ts';
import { EmulatedMgos } from './emulated-mgos.ts';

const ID = 'esp32_A1B2C3';
const CMD = `devices/${ID}/cmd/keys`;
const EVENTS = `devices/${ID}/events`;
const STATUS = `devices/${ID}/status`;

function p256(): { priv: KeyObject; b64: string } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { priv: privateKey, b64: mgosPublicKeyConfig(privateKey) };
}
const OLD = p256();
const NEW = p256();
const EVIL = p256();

function conf9(update: Record<string, unknown>, seq?: number): Record<string, unknown> {
  return {
    device: { id: ID },
    mqtt: { enable: true, server: 'mqtt.example.net:8883', ssl_cert: 'device.crt', ssl_key: 'device.key', ssl_ca_cert: 'ca.pem' },
    update,
    espfleet: { renew: { check_interval: 0 }, ...(seq !== undefined ? { keys_seq: seq } : {}) },
  };
}

/** A board as the station leaves it: update.key0 = the station's key, sig_req_mask = 1. */
function board(update: Record<string, unknown> = { key0: OLD.b64, sig_req_mask: 1 }, seq?: number): EmulatedMgos {
  const b = new EmulatedMgos({ conf9: conf9(update, seq) }).boot();
  expect(b.errors).toEqual([]);
  b.connack();
  return b;
}

let n = 0;
function command(seq: number, change: KeysChange, signers: readonly KeysSigner[], o: { id?: string; deviceId?: string } = {}): KeysCommand {
  return signKeysCommand({ id: o.id ?? `keys-${++n}`, deviceId: o.deviceId ?? ID, seq, change }, signers);
}
const byOld: KeysSigner[] = [{ slot: 0, key: OLD.priv }];
const byNew: KeysSigner[] = [{ slot: 1, key: NEW.priv }];
const byBoth: KeysSigner[] = [...byOld, ...byNew];
const ADD: KeysChange = { set: { 1: NEW.b64 }, mask: 1 };
const REQUIRE: KeysChange = { set: {}, mask: 3 };
const RETIRE: KeysChange = { set: { 0: '' }, mask: 2 };

function send(b: EmulatedMgos, c: KeysCommand | Record<string, unknown>): Record<string, unknown> {
  const before = b.published(EVENTS).length;
  b.deliver(CMD, JSON.stringify(c));
  const r = b.published(EVENTS).slice(before) as Array<Record<string, unknown>>;
  expect(r).toHaveLength(1);
  expect(r[0]).toMatchObject({ event: 'cmd_result', cmd: 'keys', id: c.id });
  return r[0]!;
}

const keysOf = (b: EmulatedMgos) => (b.published(STATUS).at(-1) as { keys: { seq: number; mask: number; fp: string[] } }).keys;
const fps = (...slots: string[]) => [...slots, ...Array(8 - slots.length).fill('')] as string[];

/** What a refused command must leave alone: the config and every file but the replay guard. */
function snapshot(b: EmulatedMgos): unknown {
  return { config: b.config.get(), files: [...b.files.entries()].filter(([k]) => k !== 'espfleet_ids.json').map(([k, v]) => [k, Buffer.from(v).toString('hex')]) };
}

describe('agent cmd/keys: the retained status reports the key state', () => {
  it('fingerprints of the set slots, the mask and the seq, from boot', () => {
    const b = board({ key0: OLD.b64, sig_req_mask: 1 }, 4);
    expect(keysOf(b)).toEqual({ seq: 4, mask: 1, fp: fps(keyFingerprint(OLD.b64)) });
  });

  it('"?" for a set slot that is no P-256 key (it verifies nothing)', () => {
    const b = board({ key0: OLD.b64, key3: 'bm90IGEga2V5', sig_req_mask: 1 });
    expect(keysOf(b).fp).toEqual(fps(keyFingerprint(OLD.b64), '', '', '?'));
  });
});

describe('agent cmd/keys: refusals change nothing (table-driven)', () => {
  interface Case {
    name: string;
    cmd: () => KeysCommand | Record<string, unknown>;
    reason: string | RegExp;
    update?: Record<string, unknown>;
    seq?: number;
  }
  const CASES: Case[] = [
    { name: 'a bad signature (another key in slot 0)', cmd: () => command(1, ADD, [{ slot: 0, key: EVIL.priv }]), reason: 'sig0 does not verify with update.key0 (the signature does not verify)' },
    { name: 'signed by the new key only, before it is required', cmd: () => command(1, ADD, byNew), reason: 'sig0 is required by update.sig_req_mask 1' },
    { name: 'signed by the new key only once it is in a slot but not required', cmd: () => command(2, REQUIRE, byNew), update: { key0: OLD.b64, key1: NEW.b64, sig_req_mask: 1 }, seq: 1, reason: 'sig0 is required by update.sig_req_mask 1' },
    { name: 'retiring the old key with the new key only', cmd: () => command(3, RETIRE, byNew), update: { key0: OLD.b64, key1: NEW.b64, sig_req_mask: 3 }, seq: 2, reason: 'sig0 is required by update.sig_req_mask 3' },
    { name: 'retiring with the old key only (the mask needs both)', cmd: () => command(3, RETIRE, byOld), update: { key0: OLD.b64, key1: NEW.b64, sig_req_mask: 3 }, seq: 2, reason: 'sig1 is required by update.sig_req_mask 3' },
    { name: 'the old key alone after the rotation', cmd: () => command(4, { set: { 0: OLD.b64 }, mask: 1 }, byOld), update: { key1: NEW.b64, sig_req_mask: 2 }, seq: 3, reason: 'sig1 is required by update.sig_req_mask 2' },
    { name: 'the old key signing in the new key\'s slot', cmd: () => command(4, { set: { 0: OLD.b64 }, mask: 1 }, [{ slot: 1, key: OLD.priv }]), update: { key1: NEW.b64, sig_req_mask: 2 }, seq: 3, reason: 'sig1 does not verify with update.key1 (the signature does not verify)' },
    { name: 'another board\'s command', cmd: () => command(1, ADD, byOld, { deviceId: 'esp32_000000' }), reason: "device_id must be this board's id" },
    { name: 'no device_id', cmd: () => { const { device_id: _, ...c } = command(1, ADD, byOld); return c; }, reason: "device_id must be this board's id" },
    { name: 'a replayed seq', cmd: () => command(3, ADD, byOld), seq: 3, reason: "seq 3 is not above the board's 3 (replayed or stale)" },
    { name: 'a stale seq', cmd: () => command(2, ADD, byOld), seq: 3, reason: "seq 2 is not above the board's 3 (replayed or stale)" },
    { name: 'seq 0', cmd: () => ({ ...command(1, ADD, byOld), seq: 0 }), reason: 'seq must be a positive integer' },
    { name: 'a seq that is a string', cmd: () => ({ ...command(1, ADD, byOld), seq: '2' }), reason: 'seq must be a positive integer' },
    { name: 'the seq changed after signing', cmd: () => ({ ...command(1, ADD, byOld), seq: 2 }), reason: 'sig0 does not verify with update.key0 (the signature does not verify)' },
    { name: 'the key changed after signing', cmd: () => ({ ...command(1, ADD, byOld), set: { 1: EVIL.b64 } }), reason: 'sig0 does not verify with update.key0 (the signature does not verify)' },
    { name: 'a slot added after signing', cmd: () => ({ ...command(1, ADD, byOld), set: { 1: NEW.b64, 2: EVIL.b64 } }), reason: 'sig0 does not verify with update.key0 (the signature does not verify)' },
    { name: 'a mask that needs an empty slot', cmd: () => command(1, { set: {}, mask: 3 }, byOld), reason: 'mask 3 needs key slot 1, which would be empty' },
    { name: 'clearing the only required key', cmd: () => command(1, { set: { 0: '' }, mask: 1 }, byOld), reason: 'mask 1 needs key slot 0, which would be empty' },
    { name: 'mask 0 without tombstone', cmd: () => command(1, { set: {}, mask: 0 }, byOld), reason: 'mask 0 refuses every update and key change for good; send tombstone: true to mean it' },
    { name: 'mask -1 (signatures off)', cmd: () => command(1, { set: {}, mask: -1 }, byOld), reason: 'mask -1 (signatures ignored) cannot be set by a command' },
    { name: 'mask 256', cmd: () => command(1, { set: {}, mask: 256 }, byOld), reason: 'mask must be 1..255 (or 0 with tombstone)' },
    { name: 'tombstone with a mask', cmd: () => ({ ...command(1, ADD, byOld), tombstone: true }), reason: 'tombstone must be true, and only with mask 0' },
    { name: 'slot 8', cmd: () => ({ ...command(1, ADD, byOld), set: { 8: NEW.b64 } }), reason: 'set: slot 8 is not 0..7' },
    { name: 'a key that is no P-256 SPKI', cmd: () => command(1, { set: { 1: 'bm90IGEga2V5' }, mask: 1 }, byOld), reason: 'set.1 is not a P-256 public key (Base64 DER SPKI)' },
    { name: 'a numeric key', cmd: () => ({ ...command(1, ADD, byOld), set: { 1: 7 } }), reason: 'set.1 must be a string' },
    { name: 'no set', cmd: () => { const { set: _, ...c } = command(1, ADD, byOld); return c; }, reason: 'set must be an object of slot: key' },
    { name: 'no sigs', cmd: () => { const { sigs: _, ...c } = command(1, ADD, byOld); return c; }, reason: 'sigs must be an object of sig<i>: Base64 DER signature' },
    { name: 'a sig name that is no slot', cmd: () => ({ ...command(1, ADD, byOld), sigs: { sig9: 'AAAA' } }), reason: 'sigs: sig9 is not sig0..sig7' },
    { name: 'an unknown field', cmd: () => ({ ...command(1, ADD, byOld), force: true }), reason: 'unknown field: force' },
    { name: 'a tombstoned board', cmd: () => command(1, ADD, byOld), update: { key0: OLD.b64, sig_req_mask: 0 }, reason: 'the board is tombstoned (update.sig_req_mask 0): it takes no key change' },
    { name: 'mask -1 and no key at all', cmd: () => command(1, { set: { 0: NEW.b64 }, mask: 1 }, byNew), update: { sig_req_mask: -1 }, reason: 'no update.key0..7 is set: nothing can sign a key change' },
    { name: 'mask -1 and no signature by a set key', cmd: () => command(1, ADD, [{ slot: 0, key: EVIL.priv }]), update: { key0: OLD.b64, sig_req_mask: -1 }, reason: 'no signature verifies with a key in update.key0..7' },
  ];
  for (const c of CASES) {
    it(c.name, () => {
      const b = board(c.update, c.seq);
      const before = snapshot(b);
      const statusCount = b.published(STATUS).length;
      const r = send(b, c.cmd());
      expect(r.ok).toBe(false);
      if (typeof c.reason === 'string') expect(r.reason).toBe(c.reason);
      else expect(r.reason).toMatch(c.reason);
      expect(snapshot(b)).toEqual(before);
      expect(b.published(STATUS).length).toBe(statusCount);
      expect(b.errors).toEqual([]);
    });
  }
});

describe('agent cmd/keys: applied changes', () => {
  it('add → require → retire, each signed by what the board trusts before it; then the old key alone changes nothing', () => {
    const b = board();
    const add = send(b, command(1, ADD, byOld));
    expect(add).toMatchObject({ ok: true, result: { seq: 1, mask: 1, fp: fps(keyFingerprint(OLD.b64), keyFingerprint(NEW.b64)) } });
    expect(keysOf(b)).toEqual({ seq: 1, mask: 1, fp: fps(keyFingerprint(OLD.b64), keyFingerprint(NEW.b64)) });
    expect(send(b, command(2, REQUIRE, byBoth))).toMatchObject({ ok: true, result: { seq: 2, mask: 3 } });
    expect(send(b, command(3, RETIRE, byBoth))).toMatchObject({ ok: true, result: { seq: 3, mask: 2, fp: fps('', keyFingerprint(NEW.b64)) } });
    expect([b.cfg('update.key0'), b.cfg('update.key1'), b.cfg('update.sig_req_mask'), b.cfg('espfleet.keys_seq')]).toEqual(['', NEW.b64, 2, 3]);
    const back = send(b, command(4, { set: { 0: OLD.b64, 1: '' }, mask: 1 }, byOld));
    expect(back).toMatchObject({ ok: false, reason: 'sig1 is required by update.sig_req_mask 2' });
    expect(keysOf(b)).toEqual({ seq: 3, mask: 2, fp: fps('', keyFingerprint(NEW.b64)) });
    expect(b.errors).toEqual([]);
  });

  it('keys, mask and seq are in conf9.json after one save, and a reboot reports them', () => {
    const b = board();
    send(b, command(1, { set: { 1: NEW.b64 }, mask: 3 }, byOld));
    const conf = JSON.parse(new TextDecoder().decode(b.files.get('conf9.json'))) as { update: Record<string, unknown>; espfleet: Record<string, unknown> };
    expect(conf.update).toMatchObject({ key0: OLD.b64, key1: NEW.b64, sig_req_mask: 3 });
    expect(conf.espfleet.keys_seq).toBe(1);
    const again = new EmulatedMgos({ files: b.fileTexts() }).boot();
    again.connack();
    expect(keysOf(again)).toEqual({ seq: 1, mask: 3, fp: fps(keyFingerprint(OLD.b64), keyFingerprint(NEW.b64)) });
    // The same command again (another id, the same seq) is stale after the reboot too.
    const r = send(again, { ...command(1, { set: { 1: NEW.b64 }, mask: 3 }, byOld) });
    expect(r).toMatchObject({ ok: false, reason: "seq 1 is not above the board's 1 (replayed or stale)" });
  });

  it('the same command id delivered twice runs once (the agent-wide replay guard)', () => {
    const b = board();
    const c = command(1, ADD, byOld);
    send(b, c);
    const events = b.published(EVENTS).length;
    b.deliver(CMD, JSON.stringify(c));
    expect(b.published(EVENTS).length).toBe(events);
  });

  it('mask -1: one signature by any set key is enough, and the command sets a real mask', () => {
    const b = board({ key0: OLD.b64, sig_req_mask: -1 });
    expect(send(b, command(1, ADD, byOld))).toMatchObject({ ok: true, result: { mask: 1 } });
  });

  it('a tombstone with tombstone: true, signed by the current keys; nothing after it', () => {
    const b = board();
    expect(send(b, command(1, { set: {}, mask: 0, tombstone: true }, byOld))).toMatchObject({ ok: true, result: { mask: 0 } });
    expect(send(b, command(2, ADD, byOld))).toMatchObject({ ok: false, reason: 'the board is tombstoned (update.sig_req_mask 0): it takes no key change' });
  });
});
