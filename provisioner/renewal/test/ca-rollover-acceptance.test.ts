// Issuing-CA rollover on a running fleet (issue 21): 4 station-provisioned virtual boards with
// the real agent, `ca renewd` as its own process, a real mosquitto with the generated profile.
// `ca rollover start` makes issuing CA 2 and the broker trusts both; boards on CA 1 keep
// connecting; `ca rollover migrate` has every board renew now, and renewd (which picks up the
// new CA without a restart) signs them with CA 2; `status` then shows no board on CA 1, but
// the broker's server certificate and the client identities still are, so `retire` is refused
// until they move too; after `retire` and the broker's reload every board comes back on its
// CA 2 certificate, and a CA 1 identity is refused.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueClientCert, openCa, revoke, rolloverStatus, writeBrokerProfile, type RolloverStatus } from '../../../certs/index.ts';
import { connectOutcome, MOSQUITTO, mosquittoAvailable, waitUntil } from '../../../certs/test/mosquitto-harness.ts';
import { hardReset } from '../../../hil-tests/test/helpers/firmware-set.ts';
import { openRegistry } from '../../station/registry-sqlite.ts';
import { startAgentFleet, type AgentFleet } from '../../test/agent-fleet.ts';
import { espfleet } from '../../test/cli-harness.ts';
import { readyRenewd, type RenewdProcess } from './renewd-process.ts';

const BOARDS = 4;
const available = mosquittoAvailable();
let f: AgentFleet;
let renewd: RenewdProcess | undefined;

describe.skipIf(!available)(`issuing-CA rollover on ${BOARDS} boards through ca renewd (needs ${MOSQUITTO})`, () => {
  beforeAll(async () => {
    f = await startAgentFleet({ name: 'ca-rollover', boards: BOARDS, operators: ['rollover'], renewers: ['renewd-roll'] });
    renewd = await readyRenewd({ dir: f.dir, broker: f.broker, renewer: 'renewer:renewd-roll', extraArgs: ['--rate-limit', '5/1h'] });
  }, 600_000);
  afterAll(async () => {
    renewd?.child.kill('SIGKILL');
    await f?.stop();
  });

  const caArgs = () => ['--ca-dir', join(f.dir, 'ca'), '--passphrase-file', join(f.dir, 'ca.pass')];
  const brokerFiles = () => ['--cafile-out', join(f.broker.dir, 'broker', 'ca-chain.pem'), '--crl-out', join(f.broker.dir, 'broker', 'crl.pem'), '--broker-pid-file', join(f.dir, 'mosquitto.pid')];
  const status = async (): Promise<RolloverStatus> => {
    const r = await espfleet(['ca', 'rollover', 'status', '--ca-dir', join(f.dir, 'ca'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as RolloverStatus;
  };
  const serials = async () => {
    const reg = await openRegistry(join(f.dir, 'registry.sqlite'), { readOnly: true });
    try {
      return new Map((await reg.list()).map((d) => [d.deviceId, d.certSerial!.toLowerCase()]));
    } finally {
      await reg.close();
    }
  };
  const onlineAgain = async (from: number, what: string) =>
    waitUntil(() => f.boards.every((b) => f.seen.slice(from).some((m) => m.topic === `devices/${b.deviceId}/status` && m.payload.includes('"online":true'))), what, 120_000);

  it('start → boards keep connecting on CA 1 → migrate: every board renews onto CA 2 → retire once nothing depends on CA 1 → boards back on CA 2, CA 1 refused', async () => {
    const before = await serials();
    const ids = f.boards.map((b) => b.deviceId).sort();
    expect((await status()).issuing.map((i) => [i.label, i.state, i.devices])).toEqual([[1, 'active', ids]]);

    // 1. start: the broker gets both CAs' chain and CRLs, and reloads.
    const start = await espfleet(['ca', 'rollover', 'start', ...caArgs(), ...brokerFiles(), '--station', f.station.stationPath, '--json']);
    expect(start.code, JSON.stringify(start)).toBe(0);
    expect(JSON.parse(start.stdout)).toMatchObject({ from: { label: 1, state: 'retiring' }, to: { label: 2, state: 'active' }, trusted: 2, reloaded: f.broker.broker.pid });
    // Boards on CA 1 still get in during the overlap: one reboots and is back.
    const n0 = f.seen.length;
    await hardReset(f.boards[0]!.chip);
    await waitUntil(() => f.seen.slice(n0).some((m) => m.topic === `devices/${f.boards[0]!.deviceId}/status` && m.payload.includes('"online":true')), 'board 0 back on its CA 1 certificate', 60_000);

    // 2. migrate: cmd/renew to every board still on CA 1, then wait until none is.
    const migrate = await espfleet(['ca', 'rollover', 'migrate', '--ca-dir', join(f.dir, 'ca'), ...f.operatorFlags('rollover'), '--wait', '5m', '--json']);
    expect(migrate.code, migrate.stderr + renewd!.lines.slice(-20).join('\n')).toBe(0);
    const m = JSON.parse(migrate.stdout) as { asked: number; answers: Record<string, string>; left: string[] };
    expect(m.asked).toBe(BOARDS);
    expect(Object.values(m.answers)).toEqual(Array(BOARDS).fill('renewing'));
    expect(m.left).toEqual([]);
    // Every board holds a new certificate, signed by CA 2 (the registry's serial is in CA 2's list).
    const after = await serials();
    const s = await status();
    const ca2 = s.issuing.find((i) => i.label === 2)!;
    expect(ca2.devices).toEqual(ids);
    for (const id of ids) expect(after.get(id), id).not.toBe(before.get(id));
    const index = openCa(join(f.dir, 'ca'), readFileSync(join(f.dir, 'ca.pass'), 'utf8').replace(/\n$/, '')).index;
    for (const id of ids) expect(index.get(after.get(id)!)?.issuerKeyIdHex, id).toBe(ca2.keyIdHex);
    for (const id of ids) expect(index.get(before.get(id)!), id).toMatchObject({ status: 'revoked', reason: 'superseded' });

    // 3. CA 1 still signs the broker's certificate and the client identities: retire is refused.
    const ca1 = s.issuing.find((i) => i.label === 1)!;
    expect(ca1).toMatchObject({ state: 'retiring', devices: [] });
    expect(ca1.live.server).toBeGreaterThanOrEqual(1); // the broker's, and the firmware server's
    expect(s.ready).toBe(false);
    const early = await espfleet(['ca', 'rollover', 'retire', ...caArgs(), ...brokerFiles()]);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('certs.rollover.still_used');
    expect((await status()).issuing.map((i) => i.state)).toEqual(['retiring', 'active']);

    // The broker moves to CA 2 (`broker config` re-issues a certificate its CA did not sign), the
    // identities CA 1 signed are re-issued from CA 2 and the old ones revoked.
    let ca = openCa(join(f.dir, 'ca'), readFileSync(join(f.dir, 'ca.pass'), 'utf8').replace(/\n$/, ''));
    await writeBrokerProfile(ca, { outDir: join(f.broker.dir, 'broker'), host: 'localhost', ip: ['127.0.0.1'], port: f.broker.port, bindAddress: '127.0.0.1', ...(process.getuid?.() === 0 ? { user: 'root' } : {}) });
    const operator2 = await issueClientCert(ca, { role: 'operator', name: 'rollover' });
    const oldOperator = f.broker.clients.get('operator:rollover')!;
    for (const rec of ca.index.all()) {
      if (rec.status === 'valid' && rec.issuerKeyIdHex !== ca2.keyIdHex) await revoke(ca, rec.serialHex, 'superseded');
    }
    expect((await status()).ready).toBe(true);

    // 4. retire: CA 1 leaves the chain and the CRLs; the broker reloads.
    const retire = await espfleet(['ca', 'rollover', 'retire', ...caArgs(), ...brokerFiles(), '--station', f.station.stationPath, '--json']);
    expect(retire.code, retire.stderr).toBe(0);
    expect(JSON.parse(retire.stdout)).toMatchObject({ retired: { label: 1, state: 'retired' }, trusted: 1 });
    ca = openCa(join(f.dir, 'ca'), readFileSync(join(f.dir, 'ca.pass'), 'utf8').replace(/\n$/, ''));
    expect(readFileSync(join(f.broker.dir, 'broker', 'ca-chain.pem'), 'utf8')).toBe(ca.intermediateCertPem + ca.rootCertPem);
    // Every board reboots and comes back on its CA 2 certificate, trusting the broker's new one through the root.
    const n1 = f.seen.length;
    for (const b of f.boards) await hardReset(b.chip);
    await onlineAgain(n1, 'every board online on its CA 2 certificate after the retire');
    // The CA 2 operator gets in; the CA 1 one is refused.
    const rootPem = ca.rootCertPem;
    expect(await connectOutcome(f.broker.port, rootPem, { cert: operator2.chainPem, key: operator2.privateKeyPem })).toBe('connected');
    expect(await connectOutcome(f.broker.port, rootPem, { cert: oldOperator.chainPem, key: oldOperator.privateKeyPem })).toMatch(/^refused/);
    // The audit log has both steps and still verifies.
    const audit = readFileSync(join(f.dir, 'audit.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { action: string; subject: Record<string, string> });
    expect(audit.filter((e) => e.action.startsWith('ca.rollover.')).map((e) => [e.action, e.subject])).toEqual([
      ['ca.rollover.start', { from: '1', to: '2' }],
      ['ca.rollover.retire', { retired: '1' }],
    ]);
    const v = await espfleet(['audit', 'verify', '--station', f.station.stationPath]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  }, 600_000);
});
