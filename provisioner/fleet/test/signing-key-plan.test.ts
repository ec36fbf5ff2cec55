// The signing-key rotation's pieces without a broker: a board's step from the key state it
// reports, the change and the signers of each step, the refusals of `start`; the store
// (migration 6: one rotation at a time, commands on record, board key state upserted); and
// how `ota rollout` judges a bundle for a board whose key state the registry holds.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateSigningKey, mgosPublicKeyConfig, readBundle, signBundle } from '../../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../../firmware-js/testgen/demo-firmware.ts';
import { openRegistry } from '../../station/registry-sqlite.ts';
import { keyFingerprint, keysText } from '../signing-key-command.ts';
import { changeFor, parseBoardKeys, rotationKeys, signersFor, startRefusal, stepOf, type BoardKeys } from '../signing-key-plan.ts';
import { createRotation, loadBoardKeys, loadRotation, recordBoardKeys, recordCommands, saveRotationStep } from '../signing-key-store.ts';
import { boardTrust } from '../station-trust.ts';

const OLD = generateSigningKey();
const NEW = generateSigningKey();
const oldB64 = mgosPublicKeyConfig(OLD.publicKeyPem);
const newB64 = mgosPublicKeyConfig(NEW.publicKeyPem);
const K = rotationKeys(0, oldB64, 1, newB64);
const fp = (...s: string[]): string[] => [...s, ...Array(8 - s.length).fill('')];
const at = (mask: number, ...slots: string[]): BoardKeys => ({ seq: 0, mask, fp: fp(...slots) });

describe('signing-key rotation steps', () => {
  it('reads each step from the reported keys and mask, and nothing else as a step', () => {
    expect(stepOf(K, at(1, K.oldFp))).toBe(0);
    expect(stepOf(K, at(1, K.oldFp, K.newFp))).toBe(1);
    expect(stepOf(K, at(3, K.oldFp, K.newFp))).toBe(2);
    expect(stepOf(K, at(2, '', K.newFp))).toBe(3);
    expect(stepOf(K, at(-1, K.oldFp))).toBeUndefined();
    expect(stepOf(K, at(2, K.oldFp, K.newFp))).toBeUndefined();
    expect(stepOf(K, at(1, K.oldFp, 'ab'.repeat(32)))).toBeUndefined();
  });

  it('each step is one change, signed by what the mask before it requires', () => {
    expect(changeFor(K, 1)).toEqual({ set: { 1: newB64 }, mask: 1 });
    expect(changeFor(K, 2)).toEqual({ set: {}, mask: 3 });
    expect(changeFor(K, 3)).toEqual({ set: { 0: '' }, mask: 2 });
    expect([1, 2, 3].map((s) => signersFor(s as 1 | 2 | 3))).toEqual([['old'], ['old'], ['old', 'new']]);
  });

  it('start refuses boards it could not take, with a reason', () => {
    expect(startRefusal(K, at(1, K.oldFp))).toBeUndefined();
    expect(startRefusal(K, at(3, K.oldFp, K.newFp))).toBeUndefined(); // mid-rotation: taken as is
    expect(startRefusal(K, at(1, K.oldFp, 'cd'.repeat(32)))).toBe(`slot 1 is not free (${'cd'.repeat(6)}…)`);
    expect(startRefusal(K, at(1, 'ef'.repeat(32)))).toBe(`slot 0 holds another key (${'ef'.repeat(6)}…), not the old one`);
    expect(startRefusal(K, at(-1, K.oldFp))).toBe('update.sig_req_mask is -1, not 1 (the old slot only)');
  });

  it('refuses a rotation into the old slot or to the same key', () => {
    expect(() => rotationKeys(0, oldB64, 0, newB64)).toThrow(/\[?fleet\.keys\.same_slot|other than the old key's/);
    expect(() => rotationKeys(0, oldB64, 1, oldB64)).toThrow(/the new public key is the old one/);
    expect(() => rotationKeys(0, oldB64, 8, newB64)).toThrow(/slot must be 0\.\.7/);
  });

  it('parses only a well-formed "keys" of a status', () => {
    expect(parseBoardKeys({ seq: 2, mask: 3, fp: fp(K.oldFp, '?') })).toEqual({ seq: 2, mask: 3, fp: fp(K.oldFp, '?') });
    for (const bad of [undefined, null, {}, { seq: 1, mask: 1, fp: ['x'] }, { seq: '1', mask: 1, fp: fp() }, { seq: 1, mask: 1, fp: fp('XYZ') }]) expect(parseBoardKeys(bad)).toBeUndefined();
  });

  it('the signed text: fixed lines, changed slots in slot order, no trailing newline', () => {
    expect(keysText({ id: 'k.1', device_id: 'esp32_01', seq: 7, set: { '3': '', '1': 'QUJD' }, mask: 2 })).toBe('espfleet-keys-v1\ndevice_id=esp32_01\nid=k.1\nseq=7\nset1=QUJD\nset3=\nmask=2');
    expect(keysText({ id: 'k.2', device_id: 'esp32_01', seq: 8, set: {}, mask: 0, tombstone: true })).toBe('espfleet-keys-v1\ndevice_id=esp32_01\nid=k.2\nseq=8\nmask=0\ntombstone=1');
  });
});

describe('signing-key store (migration 6)', () => {
  it('keeps one rotation at a time, its commands and step, and each board\'s reported keys', async () => {
    const reg = await openRegistry(join(mkdtempSync(join(tmpdir(), 'espfleet-keys-store-')), 'registry.sqlite'));
    try {
      const rec = { id: 'k1', status: 'running' as const, step: 0 as const, spec: { keys: K, select: 'all' }, actor: 'operator:alice', createdAt: '2026-12-02T08:00:00.000Z', boards: { a: { id: 'a' }, b: { id: 'b' } } };
      await createRotation(reg, rec);
      await expect(createRotation(reg, { ...rec, id: 'k2' })).rejects.toThrow(/signing-key rotation k1 is not done yet/);
      await expect(createRotation(reg, rec)).rejects.toThrow(/already recorded/);
      await recordCommands(reg, 'k1', [{ deviceId: 'a', step: 1, cmdId: 'k1.1.aaaaaa', seq: 1 }], new Date('2026-12-02T08:01:00Z'));
      await saveRotationStep(reg, 'k1', 1, 'waiting', new Date('2026-12-02T08:02:00Z'));
      expect(await loadRotation(reg, 'k1')).toMatchObject({ status: 'waiting', step: 1, boards: { a: { step: 1, cmdId: 'k1.1.aaaaaa', seq: 1, commandedAt: '2026-12-02T08:01:00.000Z' }, b: { id: 'b' } } });
      await recordBoardKeys(reg, [{ deviceId: 'a', keys: at(1, K.oldFp) }], new Date('2026-12-02T08:03:00Z'));
      await recordBoardKeys(reg, [{ deviceId: 'a', keys: { seq: 1, mask: 1, fp: fp(K.oldFp, K.newFp) } }], new Date('2026-12-02T08:04:00Z'));
      expect([...(await loadBoardKeys(reg))]).toEqual([['a', { seq: 1, mask: 1, fp: fp(K.oldFp, K.newFp), reportedAt: '2026-12-02T08:04:00.000Z' }]]);
      await saveRotationStep(reg, 'k1', 3, 'done', new Date());
      await createRotation(reg, { ...rec, id: 'k2' }); // the first is done: a new one may start
    } finally {
      await reg.close();
    }
  });
});

describe('rollout trust by a board\'s recorded keys', () => {
  const fw = makeDemoFirmware({ name: 'espfleet-agent', version: '1.1.0', appSize: 0x2000 }).bundle;
  const byOld = signBundle(fw, OLD.privateKeyPem, 0);
  const byNew = signBundle(fw, NEW.privateKeyPem, 1);
  const byBoth = signBundle(byOld, NEW.privateKeyPem, 1);
  const states = new Map<string, BoardKeys>([
    ['at-old', at(1, K.oldFp)],
    ['required', at(3, K.oldFp, K.newFp)],
    ['retired', at(2, '', K.newFp)],
    ['stranger', at(4, '', '', '12'.repeat(32))],
  ]);
  const verdicts = (zip: Uint8Array) => Object.fromEntries([...boardTrust(zip, states, [oldB64, newB64])].map(([id, v]) => [id, v.accepted]));

  it('judges each board by its keys and mask, as its updater will', () => {
    expect(readBundle(byBoth).extra.sig1).toBeDefined();
    expect(verdicts(byOld)).toEqual({ 'at-old': true, required: false, retired: false, stranger: false });
    expect(verdicts(byNew)).toEqual({ 'at-old': false, required: false, retired: true, stranger: false });
    expect(verdicts(byBoth)).toEqual({ 'at-old': true, required: true, retired: true, stranger: false });
  });

  it('names a slot holding a key espfleet does not know; boards with the same state share a token', () => {
    const t = boardTrust(byBoth, new Map([...states, ['retired-2', at(2, '', K.newFp)]]), [oldB64, newB64]);
    expect(t.get('stranger')?.reason).toMatch(/slot 2 holds a key espfleet does not know/);
    expect(t.get('retired')?.token).toBe(t.get('retired-2')?.token);
    expect(t.get('retired')?.token).not.toBe(t.get('required')?.token);
    expect(keyFingerprint(newB64)).toBe(K.newFp);
  });
});
