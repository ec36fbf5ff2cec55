// Issue 16 acceptance: 20 station-provisioned, encrypted virtual boards running the real
// agent, whose certificates are within the renewal threshold (espfleet.renew.before_days 400
// against 365-day certificates), all renew by themselves through `espfleet ca renewd` running
// as its own process against a real mosquitto with the generated profile: each board ends on
// a new serial (in its status, the registry and the journal), each old serial is in the CRL
// the broker reloaded, and the audit log agrees (and verifies). Three boards lose their power
// the moment they announce the switch to the new pair: they end the same.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCaRecords } from '../../../certs/index.ts';
import { MOSQUITTO, mosquittoAvailable, waitUntil } from '../../../certs/test/mosquitto-harness.ts';
import { expectOk, openssl } from '../../../scripts/lib/oracles.ts';
import { openRegistry } from '../../station/registry-sqlite.ts';
import { espfleet } from '../../test/cli-harness.ts';
import { startAgentFleet, type AgentFleet } from '../../test/agent-fleet.ts';
import { RenewalJournal } from '../renewal-journal.ts';
import { readyRenewd, type RenewdProcess } from './renewd-process.ts';
import type { VirtualEsp32 } from '../../../hil-tests/index.ts';

const BOARDS = 20;
const available = mosquittoAvailable();
let f: AgentFleet;
let renewd: RenewdProcess | undefined;
const oldSerials = new Map<string, string>();
const cut = new Set<string>();
const victims = new Map<string, VirtualEsp32>();

async function registryDevices() {
  const reg = await openRegistry(join(f.dir, 'registry.sqlite'), { readOnly: true });
  try {
    const journal = new RenewalJournal(reg);
    return await Promise.all(f.boards.map(async (b) => ({ id: b.deviceId, record: await reg.get(b.deviceId), rows: await journal.forDevice(b.deviceId) })));
  } finally {
    await reg.close();
  }
}

describe.skipIf(!available)(`${BOARDS} boards near expiry renew by themselves through ca renewd (needs ${MOSQUITTO})`, () => {
  beforeAll(async () => {
    f = await startAgentFleet({
      name: 'renew-acc',
      boards: BOARDS,
      renewers: ['renewd-acc'],
      agentSettingsToml: '[agent.espfleet.renew]\nbefore_days = 400',
      // renewd is up before the boards boot: their first CONNACK already finds the threshold passed.
      beforeBoot: async ({ dir, broker, boards, watcher }) => {
        // Power cut on three boards the moment they announce the switch (the certificate written
        // and checked, the try_once save and reboot under way), back 300 ms later.
        for (const b of boards.slice(0, 3)) victims.set(b.deviceId, b.chip);
        watcher.on('message', (topic, payload) => {
          const id = topic.split('/')[1]!;
          const chip = victims.get(id);
          if (!chip || cut.has(id) || !topic.endsWith('/events') || !payload.toString().includes('"phase":"switching"')) return;
          cut.add(id);
          chip.powerOff();
          setTimeout(() => chip.powerOn(), 300);
        });
        const reg = await openRegistry(join(dir, 'registry.sqlite'), { readOnly: true });
        for (const r of await reg.list()) oldSerials.set(r.deviceId, r.certSerial!.toLowerCase());
        await reg.close();
        renewd = await readyRenewd({ dir, broker, renewer: 'renewer:renewd-acc', extraArgs: ['--days', '730', '--rate-limit', '3/1h'] });
      },
    });
  }, 600_000);
  afterAll(async () => {
    renewd?.child.kill('SIGKILL');
    await f?.stop();
  });

  it('all renew — three of them losing power while they install the new pair — new serials in use and recorded, old serials in the reloaded CRL, audit agrees', async () => {
    const renewed = () => f.seen.filter((m) => /^devices\/[^/]+\/events$/.test(m.topic) && m.payload.includes('"event":"renew"') && m.payload.includes('"phase":"renewed"')).map((m) => m.topic.split('/')[1]!);
    await waitUntil(() => new Set(renewed()).size === BOARDS, `${BOARDS} renewed events`, 240_000).catch((e: Error) => {
      throw new Error(`${e.message} (got ${new Set(renewed()).size}); renewd: ${renewd?.stderr().slice(-1000)} ${renewd?.lines.slice(-20).join('\n')}`);
    });
    // renewd confirms each once the board is online on its new certificate, then revokes the old.
    const confirmed = () => new Set((renewd?.lines ?? []).map((l) => /"line":"(esp32_[0-9A-F]{6}): online on [0-9a-f]+; revoked/.exec(l)?.[1]).filter(Boolean));
    await waitUntil(() => confirmed().size >= BOARDS, 'renewd confirming every board', 120_000).catch(async (e: Error) => {
      throw new Error(`${e.message}: ${renewd?.lines.slice(-30).join('\n')}`);
    });
    const devices = await registryDevices();
    const newSerials = new Set<string>();
    for (const d of devices) {
      const serial = d.record!.certSerial!.toLowerCase();
      expect(serial, d.id).not.toBe(oldSerials.get(d.id));
      expect(d.record!.status).toBe('provisioned');
      const confirmed = d.rows.filter((r) => r.state === 'confirmed');
      expect(confirmed.map((r) => [r.serial?.toLowerCase(), r.oldSerial?.toLowerCase()]), d.id).toEqual([[serial, oldSerials.get(d.id)]]);
      newSerials.add(serial);
      // The board says so too: its status names the new certificate's expiry, about 730 days out.
      const expiry = Number(f.lastStatus(d.id)?.cert_expiry);
      expect(expiry * 1000 - Date.now(), d.id).toBeGreaterThan(700 * 86_400_000);
    }
    expect(newSerials.size).toBe(BOARDS);
    expect([...cut].sort()).toEqual([...victims.keys()].sort());
    // The CA index and the CRL the broker was told to reload.
    const index = openCaRecords(join(f.dir, 'ca')).index.all();
    for (const [id, old] of oldSerials) expect(index.find((r) => r.serialHex === old), id).toMatchObject({ status: 'revoked', reason: 'superseded' });
    const crl = expectOk(await openssl(['crl', '-in', join(f.broker.dir, 'broker', 'crl.pem'), '-noout', '-text']), 'openssl crl').toLowerCase().replace(/[^0-9a-f\n]/g, '');
    for (const old of oldSerials.values()) expect(crl).toContain(old.replace(/^0+/, ''));
    for (const s of newSerials) expect(crl).not.toContain(s);
    expect(f.broker.broker.log()).toMatch(/Reloading config/);
    // Audit: one issue and one confirmation per board, and the chain verifies.
    const audit = readFileSync(join(f.dir, 'audit.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { action: string; subject: Record<string, string>; details?: Record<string, unknown> });
    const renewals = audit.filter((e) => e.action === 'certificate.renew');
    expect(new Set(renewals.filter((e) => e.details?.step === 'issued').map((e) => e.subject.deviceId)).size).toBe(BOARDS);
    expect(new Set(renewals.filter((e) => e.details?.step === 'confirmed').map((e) => e.subject.deviceId)).size).toBe(BOARDS);
    // A board whose power was cut mid-switch may renew twice: every certificate it left is revoked too.
    expect(audit.filter((e) => e.action === 'certificate.revoke' && e.details?.reason === 'superseded').length).toBeGreaterThanOrEqual(BOARDS);
    const v = await espfleet(['audit', 'verify', '--station', f.station.stationPath]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  }, 600_000);
});
