// Issue 21 acceptance: `espfleet ota rotate-signing-key` moves 20 station-provisioned virtual
// boards (the Mongoose OS double with the real agent, real mosquitto, real HTTPS firmware
// server) from the station's signing key in slot 0 to a new key in slot 1 — added, required,
// retired — with 2 boards powered off during one step: they are listed with the step they
// are at, the rotation waits, and they catch up when back. Then every board accepts only the
// new key: a bundle signed by the old key alone is refused by `ota rollout plan` and, sent
// anyway, by every board's updater (ota/status failed, otadata unchanged); a bundle signed by
// the new key alone commits on every board.
import { createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOSQUITTO, mosquittoAvailable, waitUntil } from '../../certs/test/mosquitto-harness.ts';
import { generateSigningKey, loadPrivateKey, mgosPublicKeyConfig, signBundle } from '../../firmware-js/bundle/index.ts';
import { hardReset } from '../../hil-tests/test/helpers/firmware-set.ts';
import { keyFingerprint } from '../fleet/signing-key-command.ts';
import { espfleet } from './cli-harness.ts';
import { startAgentFleet, type AgentFleet } from './agent-fleet.ts';

const available = mosquittoAvailable();
const BOARDS = 20;
const PASSPHRASE = `rotation-${process.pid}-${Date.now()}`;
const ENV = { ESPFLEET_SIGNING_PASSPHRASE: PASSPHRASE };
let f: AgentFleet;
let brokerArgs: string[] = [];
let keyArgs: string[] = [];
let oldFp = '';
let newFp = '';
let newPrivatePem = '';

const keysOf = (id: string) => f.lastStatus(id)?.keys as { seq: number; mask: number; fp: string[] } | undefined;
const slots = (a: string, b: string) => [a, b, '', '', '', '', '', ''];

describe.skipIf(!available)(`ota rotate-signing-key on ${BOARDS} virtual boards through mosquitto (needs ${MOSQUITTO})`, () => {
  beforeAll(async () => {
    f = await startAgentFleet({ name: 'keyrot', boards: BOARDS, operators: ['keys'] });
    brokerArgs = f.operatorFlags('keys');
    // The station's key (slot 0 on every board) and a new one, both on disk only encrypted.
    const oldPath = join(f.dir, 'old-key.pem');
    writeFileSync(oldPath, createPrivateKey(f.station.signer.privateKeyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: PASSPHRASE }) as string, { mode: 0o600 });
    const fresh = generateSigningKey({ passphrase: PASSPHRASE });
    newPrivatePem = fresh.privateKeyPem;
    writeFileSync(join(f.dir, 'new-key.pem'), fresh.privateKeyPem, { mode: 0o600 });
    writeFileSync(join(f.dir, 'new.pub.pem'), fresh.publicKeyPem);
    oldFp = keyFingerprint(mgosPublicKeyConfig(f.station.signer.publicKeyPem));
    newFp = keyFingerprint(mgosPublicKeyConfig(fresh.publicKeyPem));
    keyArgs = ['--old-key', oldPath, '--new-key', join(f.dir, 'new-key.pem'), '--device-timeout', '2m'];
  }, 300_000);
  afterAll(async () => {
    await f?.stop();
  });

  const rotate = (sub: string, extra: string[]) => espfleet(['ota', 'rotate-signing-key', sub, '--station', f.station.stationPath, ...brokerArgs, ...extra], { env: ENV });

  it('bad input is refused before anything is written or sent: the new key as --old-key, the old slot as --slot', async () => {
    const wrongKey = await rotate('start', ['--new-pub', join(f.dir, 'new.pub.pem'), '--slot', '1', '--id', 'k-bad', '--old-key', join(f.dir, 'new-key.pem')]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/new-key\.pem is not the private key of the rotation's old public key \[fleet\.keys\.wrong_private_key\]/);
    const sameSlot = await rotate('start', ['--new-pub', join(f.dir, 'new.pub.pem'), '--slot', '0', '--id', 'k-bad', ...keyArgs]);
    expect(sameSlot.code).toBe(1);
    expect(sameSlot.stderr).toContain('[fleet.keys.same_slot]');
    const st = await espfleet(['ota', 'rotate-signing-key', 'status', '--station', f.station.stationPath]);
    expect(st.stdout.trim()).toBe('no signing-key rotation recorded');
    expect(f.seen.filter((m) => m.topic.endsWith('/cmd/keys'))).toEqual([]);
  }, 120_000);

  it('plan: every board is at "old" (the station key in slot 0, mask 1, slot 1 free); nothing is sent', async () => {
    const r = await rotate('plan', ['--new-pub', join(f.dir, 'new.pub.pem'), '--slot', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout) as { keys: { oldFp: string; newFp: string }; boards: Array<{ id: string; online: boolean; step?: number }> };
    expect(plan.keys).toMatchObject({ oldFp, newFp });
    expect(plan.boards.map((b) => b.id).sort()).toEqual(f.boards.map((b) => b.deviceId).sort());
    expect(plan.boards.every((b) => b.online && b.step === 0)).toBe(true);
    expect(f.seen.filter((m) => m.topic.endsWith('/cmd/keys'))).toEqual([]);
  }, 120_000);

  it('start --until added: the new key lands in slot 1 of all 20 boards, the mask still requires only the old key', async () => {
    const r = await rotate('start', ['--new-pub', join(f.dir, 'new.pub.pem'), '--slot', '1', '--id', 'k-acc', '--until', 'added', ...keyArgs, '--json']);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: 'k-acc', step: 1, ended: 'reached' });
    for (const b of f.boards) {
      await waitUntil(() => keysOf(b.deviceId)?.seq === 1, `${b.deviceId} reports seq 1`, 30_000);
      expect(keysOf(b.deviceId)).toEqual({ seq: 1, mask: 1, fp: slots(oldFp, newFp) });
    }
  }, 300_000);

  it('2 boards offline during "required": the other 18 get it, the 2 are listed at "added" and the rotation waits (exit 1)', async () => {
    const away = f.boards.slice(3, 5);
    for (const b of away) b.chip.powerOff();
    for (const b of away) await waitUntil(() => f.lastStatus(b.deviceId)?.online === false, `${b.deviceId}'s will`, 60_000);
    const r = await rotate('resume', ['--id', 'k-acc', ...keyArgs, '--json']);
    expect(r.code, r.stderr.slice(-3000)).toBe(1);
    const out = JSON.parse(r.stdout) as { step: number; status: string; ended: string; behind: Array<{ id: string; why: string; step?: number }> };
    expect(out).toMatchObject({ step: 1, status: 'waiting', ended: 'waiting' });
    expect(out.behind.map((b) => ({ id: b.id, why: b.why, step: b.step })).sort((a, b) => (a.id < b.id ? -1 : 1))).toEqual(away.map((b) => ({ id: b.deviceId, why: 'offline', step: 1 })).sort((a, b) => (a.id < b.id ? -1 : 1)));
    expect(r.stderr).toMatch(/rotation k-acc waits at added: 2 board\(s\) not at the next step/);
    for (const b of f.boards.filter((x) => !away.includes(x))) {
      await waitUntil(() => keysOf(b.deviceId)?.mask === 3, `${b.deviceId} at required`, 30_000);
    }
    const st = await espfleet(['ota', 'rotate-signing-key', 'status', '--station', f.station.stationPath, '--id', 'k-acc', '--json']);
    expect(st.code, st.stderr).toBe(0);
    const steps = (JSON.parse(st.stdout) as { boardSteps: Record<string, string> }).boardSteps;
    for (const b of f.boards) expect(steps[b.deviceId], b.deviceId).toBe(away.includes(b) ? 'added' : 'required');
    // A board still at "added" takes what every other board takes now: bundles with both signatures.
    const dual = f.publish('1.0.5');
    writeFileSync(dual.path, signBundle(readFileSync(dual.path), loadPrivateKey(newPrivatePem, PASSPHRASE), 1));
    const plan = await espfleet(['ota', 'rollout', 'plan', '--station', f.station.stationPath, '--bundle', dual.path, '--select', 'all', '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    expect((JSON.parse(plan.stdout) as { targeted: number }).targeted).toBe(BOARDS);
  }, 300_000);

  it('back online, resume: the 2 catch up to "required", then all 20 retire the old key', async () => {
    const away = f.boards.slice(3, 5);
    for (const b of away) await hardReset(b.chip);
    for (const b of away) await waitUntil(() => f.lastStatus(b.deviceId)?.online === true && keysOf(b.deviceId) !== undefined, `${b.deviceId} back`, 60_000);
    const r = await rotate('resume', ['--id', 'k-acc', ...keyArgs, '--json']);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ step: 3, status: 'done', ended: 'done', behind: [] });
    for (const b of f.boards) {
      await waitUntil(() => keysOf(b.deviceId)?.mask === 2, `${b.deviceId} retired`, 30_000);
      expect(keysOf(b.deviceId)).toEqual({ seq: 3, mask: 2, fp: slots('', newFp) });
    }
    // Each board got exactly one command per step.
    const perBoard = new Map<string, number>();
    for (const m of f.seen.filter((x) => x.topic.endsWith('/cmd/keys'))) perBoard.set(m.topic, (perBoard.get(m.topic) ?? 0) + 1);
    expect([...perBoard.values()]).toEqual(Array(BOARDS).fill(3));
  }, 300_000);

  it('a bundle signed by the old key alone: `ota rollout plan` refuses it, and every board refuses it when sent anyway (otadata unchanged)', async () => {
    const old = f.publish('1.1.0'); // the fleet helper signs with the station's (old) key in slot 0
    const plan = await espfleet(['ota', 'rollout', 'plan', '--station', f.station.stationPath, '--bundle', old.path, '--select', 'all']);
    expect(plan.code).toBe(1);
    expect(plan.stderr).toMatch(/20 targeted board\(s\) would not accept the bundle's signature/);
    const otadata = new Map(f.boards.map((b) => [b.deviceId, Buffer.from(b.chip.flash.bytes.slice(0xd000, 0xf000)).toString('hex')]));
    for (const b of f.boards) {
      await f.watcher.publishAsync(`devices/${b.deviceId}/cmd/ota`, JSON.stringify({ id: `forced-${b.deviceId}`, rollout: 'forced-old', url: old.url, version: '1.1.0' }), { qos: 1 });
    }
    for (const b of f.boards) {
      await waitUntil(() => f.otaStatuses(b.deviceId).some((s) => s.cmd === `forced-${b.deviceId}` && s.state === 'failed'), `${b.deviceId} refuses the old-key bundle`, 120_000);
      const failed = f.otaStatuses(b.deviceId).find((s) => s.cmd === `forced-${b.deviceId}` && s.state === 'failed')!;
      expect(failed.reason, b.deviceId).toMatch(/Signature check failed: verified 0x0, required 0x2/);
      expect(Buffer.from(b.chip.flash.bytes.slice(0xd000, 0xf000)).toString('hex'), `${b.deviceId} otadata`).toBe(otadata.get(b.deviceId));
      expect(f.lastStatus(b.deviceId)?.fw_version).toBe('1.0.0');
    }
  }, 600_000);

  it('a bundle signed by the new key alone (slot 1) commits on every board', async () => {
    const plain = f.publish('1.2.0', { unsigned: true });
    const path = join(dirname(plain.path), 'fw-1.2.0-new-key.zip');
    writeFileSync(path, signBundle(readFileSync(plain.path), loadPrivateKey(newPrivatePem, PASSPHRASE), 1));
    const url = plain.url.replace('fw-1.2.0-unsigned.zip', 'fw-1.2.0-new-key.zip');
    const r = await espfleet([
      'ota', 'rollout', 'start', '--station', f.station.stationPath, '--bundle', path, '--url', url, '--select', 'status=provisioned', '--id', 'r-new-key',
      '--waves', '100%', '--rate', '600/min', '--max-failures', '1', '--min-sample', '1', '--device-timeout', '3m', '--commit-timeout', '300', ...brokerArgs, '--json',
    ]);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const rec = JSON.parse(r.stdout) as { state: { status: string; boards: Record<string, { status: string }> } };
    expect(rec.state.status).toBe('done');
    for (const b of f.boards) {
      expect(rec.state.boards[b.deviceId]?.status, b.deviceId).toBe('committed');
      await waitUntil(() => f.lastStatus(b.deviceId)?.fw_version === '1.2.0', `${b.deviceId} on 1.2.0`, 60_000);
      // The keys are in conf9.json, which the update carries: the new firmware trusts only the new key.
      expect(keysOf(b.deviceId)).toEqual({ seq: 3, mask: 2, fp: slots('', newFp) });
    }
  }, 600_000);
});
