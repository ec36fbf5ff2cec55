// The renewal flow of the fault matrix (fault-matrix.ts): station-provisioned, encrypted
// virtual boards running the real agent, `espfleet ca renewd` as its own process, a real
// mosquitto (agent-fleet.ts, renewd-process.ts). Each board gets cmd/renew and is hit at
// its own named point of the renewal — power cut (back 300 ms later) or its broker
// connection reset at an event or console line — and three more boards meet renewd itself
// dying (down when the CSR arrives, SIGKILLed right after signing, SIGKILLed before it
// confirms). The recovery the product prescribes: the board reboots by itself, renewd is
// restarted, and the renewal is asked for again (cmd/renew, or the board's own expiry
// check). Then every board must be online on a certificate the broker accepts, renew once
// more (not locked out), and the board, the registry, the CA index and the renewal journal
// must name the same certificate.
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { openCaRecords } from '../../certs/index.ts';
import { waitUntil } from '../../certs/test/mosquitto-harness.ts';
import { RenewalJournal } from '../../provisioner/renewal/renewal-journal.ts';
import { readyRenewd, type RenewdProcess } from '../../provisioner/renewal/test/renewd-process.ts';
import { openRegistry } from '../../provisioner/station/registry-sqlite.ts';
import { startAgentFleet, type AgentFleet, type FleetBoardUnderTest } from '../../provisioner/test/agent-fleet.ts';
import { espfleet } from '../../provisioner/test/cli-harness.ts';
import { faultNetwork, type FaultNetwork } from './fault-network.ts';
import { check, verdictFor, type FaultPoint, type PointVerdict } from './fault-matrix.ts';

export interface RenewalPoint extends FaultPoint {
  /** Fires when the board's renew event with this phase reaches the broker. */
  event?: string;
  /** Fires when renewd's answer on devices/<id>/cert/issued reaches the broker. */
  issued?: true;
  /** Fires right after this console line of the board (after `after`, when given). */
  line?: RegExp;
  after?: RegExp;
  /** Default: the power goes, back 300 ms later. */
  action?: 'reset-broker';
  /** renewd's own failure, run one board at a time. */
  renewd?: 'down-when-csr-arrives' | 'killed-after-sign' | 'killed-before-confirm';
}

export const RENEWAL_POINTS: readonly RenewalPoint[] = [
  { name: 'renewal/csr-sent', kind: 'power-loss', what: 'power lost once the CSR is out (new key in the free slot, state file phase csr)', event: 'csr_sent' },
  { name: 'renewal/cert-issued-arriving', kind: 'power-loss', what: 'power lost as renewd\'s certificate arrives on cert/issued (issued, journaled, not yet on the board)', issued: true },
  { name: 'renewal/switching', kind: 'power-loss', what: 'power lost once the board announces the switch (certificate written and checked, try_once save under way)', event: 'switching' },
  { name: 'renewal/cert-install-try_once', kind: 'power-loss', what: 'power lost right after the new pair was saved try_once, before the reboot onto it', line: /espfleet: new pair saved try_once/ },
  { name: 'renewal/trial-boot', kind: 'power-loss', what: 'power lost on the trial boot (conf9.json.try consumed, no CONNACK yet)', line: /espfleet: trying the new certificate/ },
  { name: 'renewal/trial-connack', kind: 'power-loss', what: 'power lost at the CONNACK on the new certificate, before the pair is committed', after: /espfleet: trying the new certificate/, line: /MQTT CONNACK 0/ },
  { name: 'renewal/renewed-before-confirm', kind: 'power-loss', what: 'power lost once the board reports renewed (committed), before renewd confirms and revokes the old certificate', event: 'renewed' },
  { name: 'renewal/mqtt/broker-reset-after-csr', kind: 'line-fault', what: 'the broker connection reset once the CSR is out (the answer may find the board gone)', event: 'csr_sent', action: 'reset-broker' },
  { name: 'renewal/mqtt/broker-reset-at-trial', kind: 'line-fault', what: 'the broker connection reset on the trial boot, while the new certificate waits for its CONNACK', line: /espfleet: trying the new certificate/, action: 'reset-broker' },
  { name: 'renewal/mqtt/broker-reset-after-renewed', kind: 'line-fault', what: 'the broker connection reset once the board reports renewed, before renewd confirms', event: 'renewed', action: 'reset-broker' },
  { name: 'renewal/after-csr-before-issued', kind: 'process-kill', what: 'renewd is down (SIGKILLed) when the CSR arrives; it is restarted with its persistent session', renewd: 'down-when-csr-arrives' },
  { name: 'renewal/renewd-killed-after-sign', kind: 'process-kill', what: 'renewd SIGKILLs itself right after signing (journal and CA index written, nothing published); restarted', renewd: 'killed-after-sign' },
  { name: 'renewal/renewd-killed-before-confirm', kind: 'process-kill', what: 'renewd SIGKILLed once its certificate is published, before the board is online on it; restarted', renewd: 'killed-before-confirm' },
];

export interface RenewalFaultOptions {
  only?: (p: FaultPoint) => boolean;
  log?: (line: string) => void;
}

const RENEWER = 'renewer:faults';
type Seen = { topic: string; payload: string };
const renewEvents = (f: AgentFleet, id: string, from = 0) =>
  f.seen
    .slice(from)
    .filter((m) => m.topic === `devices/${id}/events`)
    .map((m) => JSON.parse(m.payload) as Record<string, unknown>)
    .filter((e) => e.event === 'renew');

export async function runRenewalFaults(opts: RenewalFaultOptions = {}): Promise<PointVerdict[]> {
  const points = RENEWAL_POINTS.filter(opts.only ?? (() => true));
  if (points.length === 0) return [];
  const log = opts.log ?? (() => {});
  const nets: FaultNetwork[] = [];
  // A board that missed its answer gives up after 20 s instead of 10 minutes, so it can be asked again.
  const f = await startAgentFleet({
    name: 'faults-renew',
    boards: points.length,
    operators: ['faults'],
    renewers: ['faults'],
    agentSettingsToml: '[agent.espfleet.renew]\nanswer_timeout = 20',
    network: (i) => (nets[i] = faultNetwork()),
  });
  let renewd: RenewdProcess | undefined;
  const startRenewd = async (env?: Record<string, string>) => {
    renewd = await readyRenewd({ dir: f.dir, broker: f.broker, renewer: RENEWER, extraArgs: ['--days', '730', '--rate-limit', '20/1h'], ...(env ? { env } : {}) });
    return renewd;
  };
  try {
    const verdicts = points.map((p) => verdictFor('renewal', p));
    const oldSerial = new Map<string, string>();
    for (const b of f.boards) oldSerial.set(b.deviceId, (await boardSerial(b)) ?? '?');
    await startRenewd();
    const cmdRenew = (b: FleetBoardUnderTest, id: string) => f.watcher.publishAsync(`devices/${b.deviceId}/cmd/renew`, JSON.stringify({ id }), { qos: 1 });

    // Board-side points, all at once.
    const offs: Array<() => void> = [];
    const start = f.seen.length;
    points.forEach((p, i) => {
      if (p.renewd) return;
      const b = f.boards[i]!;
      const v = verdicts[i]!;
      const fire = () => {
        if (v.fired) return;
        v.fired = true;
        if (p.action === 'reset-broker') v.ending = `broker connection reset (${nets[i]!.reset(f.broker.port)} open)`;
        else {
          v.ending = 'power cut, back 300 ms later';
          b.chip.powerOff();
          setTimeout(() => b.chip.powerOn(), 300);
        }
      };
      if (p.event || p.issued) {
        const onMessage = (topic: string, payload: Buffer) => {
          if (p.issued ? topic === `devices/${b.deviceId}/cert/issued` : topic === `devices/${b.deviceId}/events` && payload.toString().includes(`"phase":"${p.event}"`)) fire();
        };
        f.watcher.on('message', onMessage);
        offs.push(() => f.watcher.off('message', onMessage));
      }
      if (p.line) {
        let tail = '';
        let armed = !p.after;
        offs.push(
          b.chip.onTransmit((bytes) => {
            tail = (tail + Buffer.from(bytes).toString('latin1')).slice(-400);
            if (!armed && p.after!.test(tail)) ((armed = true), (tail = ''));
            if (armed && p.line!.test(tail)) setImmediate(fire);
          }),
        );
      }
    });
    await Promise.all(points.map((p, i) => (p.renewd ? undefined : cmdRenew(f.boards[i]!, `fault-${i}`))));
    await Promise.all(points.map((p, i) => (p.renewd ? undefined : settle(f, f.boards[i]!, start, verdicts[i]!))));
    offs.forEach((off) => off());
    log(`renewal: ${verdicts.filter((v, i) => !points[i]!.renewd && v.fired).length} board-side faults fired and settled`);

    // renewd's own failures, one board at a time.
    for (const [i, p] of points.entries()) {
      if (!p.renewd) continue;
      const b = f.boards[i]!;
      const v = verdicts[i]!;
      const from = f.seen.length;
      if (p.renewd === 'down-when-csr-arrives') {
        renewd!.child.kill('SIGKILL');
        await renewd!.exited;
        await cmdRenew(b, `fault-${i}`);
        await waitUntil(() => renewEvents(f, b.deviceId, from).some((e) => e.phase === 'csr_sent'), `${b.deviceId} csr_sent`, 60_000);
        v.fired = true;
        v.ending = 'renewd down when the CSR arrived, restarted';
        await startRenewd();
      } else if (p.renewd === 'killed-after-sign') {
        await renewd!.stop();
        const dying = await startRenewd({ ESPFLEET_RENEWD_FAULT: 'kill-after-sign' });
        await cmdRenew(b, `fault-${i}`);
        const end = await Promise.race([dying.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 60_000))]);
        v.fired = end?.signal === 'SIGKILL';
        v.ending = v.fired ? 'renewd SIGKILLed itself after signing, restarted' : 'renewd did not die after signing';
        if (dying.running()) await dying.stop();
        await startRenewd();
      } else {
        const onMessage = (topic: string) => {
          if (topic !== `devices/${b.deviceId}/cert/issued` || v.fired) return;
          v.fired = true;
          renewd!.child.kill('SIGKILL');
        };
        f.watcher.on('message', onMessage);
        await cmdRenew(b, `fault-${i}`);
        await waitUntil(() => v.fired, `${b.deviceId} cert/issued`, 60_000).catch(() => undefined);
        f.watcher.off('message', onMessage);
        await renewd!.exited;
        v.ending = 'renewd SIGKILLed after publishing, restarted';
        await startRenewd();
      }
      await settle(f, b, from, v);
    }

    // The recovery: every board asked to renew again, all at once; each must end renewed.
    const again = f.seen.length;
    await Promise.all(f.boards.map((b, i) => cmdRenew(b, `again-${i}`)));
    await Promise.all(
      f.boards.map(async (b, i) => {
        const v = verdicts[i]!;
        await check(v.bricked, 'renewing again', async () => {
          await waitUntil(() => renewEvents(f, b.deviceId, again).some((e) => e.cmd_id === `again-${i}` && (e.phase === 'renewed' || e.phase === 'failed')), `${b.deviceId} renewing again`, 120_000);
          const end = renewEvents(f, b.deviceId, again).find((e) => e.cmd_id === `again-${i}` && (e.phase === 'renewed' || e.phase === 'failed'));
          return end?.phase === 'renewed' ? undefined : `locked out: ${String(end?.reason)}`;
        });
      }),
    );
    log('renewal: renewed again');
    // Judge: online on the certificate the registry, the CA index and the journal name.
    for (const [i, b] of f.boards.entries()) await judge(f, b, verdicts[i]!, oldSerial.get(b.deviceId) ?? '?');
    const audit = await espfleet(['audit', 'verify', '--station', f.station.stationPath]);
    for (const v of verdicts) await check(v.lost, 'audit chain', () => (audit.code === 0 ? undefined : `${audit.stdout.trim()} ${audit.stderr.trim()}`));
    return verdicts;
  } finally {
    if (renewd?.running()) renewd.child.kill('SIGKILL');
    await f.stop();
  }
}

/** After a fault: the attempt ends (renewed or failed) and the board is back online. */
async function settle(f: AgentFleet, b: FleetBoardUnderTest, from: number, v: PointVerdict): Promise<void> {
  let end: Record<string, unknown> | undefined;
  await check(v.bricked, 'the renewal settling', async () => {
    await waitUntil(() => (end = renewEvents(f, b.deviceId, from).find((e) => e.phase === 'renewed' || e.phase === 'failed')) !== undefined, `${b.deviceId}: a renewed or failed event`, 240_000); // 13 boards renew at once, some after a reboot: a loaded CI machine needs the room
    await waitUntil(() => b.chip.state === 'app' && lastOnline(f.seen, b.deviceId), `${b.deviceId} online`, 60_000);
  });
  v.ending = `${v.ending || 'did not fire'} → ${end ? `${String(end.phase)}${end.reason ? ` (${String(end.reason)})` : ''}` : 'no end'}`;
}

const lastOnline = (seen: readonly Seen[], id: string) => {
  const m = seen.filter((x) => x.topic === `devices/${id}/status`).at(-1);
  return m ? (JSON.parse(m.payload) as { online?: boolean }).online === true : false;
};

/** The serial of the certificate the board connects with, read off it over its serial port (as a technician would). */
async function boardSerial(b: FleetBoardUnderTest): Promise<string | undefined> {
  const name = await espfleet(['device', 'config', 'get', 'mqtt.ssl_cert', '--port', b.url]);
  if (name.code !== 0) throw new Error(`device config get: ${name.stderr.trim()}`);
  const pem = await espfleet(['device', 'fs', 'get', name.stdout.trim(), '--port', b.url]);
  if (pem.code !== 0) throw new Error(`device fs get: ${pem.stderr.trim()}`);
  return new X509Certificate(pem.stdout).serialNumber.toLowerCase().replace(/^0+/, '');
}

const norm = (s: string | null | undefined) => (s ?? '').toLowerCase().replace(/^0+/, '');

async function judge(f: AgentFleet, b: FleetBoardUnderTest, v: PointVerdict, oldSerial: string): Promise<void> {
  if (v.bricked.length > 0) return;
  await check(v.bricked, 'online', () => waitUntil(() => b.chip.state === 'app' && lastOnline(f.seen, b.deviceId), `${b.deviceId} online`, 60_000).then(() => undefined));
  let onBoard: string | undefined;
  await check(v.bricked, 'reading the board', async () => {
    onBoard = await boardSerial(b);
    return onBoard === oldSerial ? 'still on the certificate it was provisioned with after two renewals' : undefined;
  });
  if (!onBoard) return;
  const reg = await openRegistry(join(f.dir, 'registry.sqlite'), { readOnly: true });
  try {
    // renewd confirms once the board's status shows it online on the new certificate (registry,
    // revocations, then the journal row, last): give it a minute.
    const journal = new RenewalJournal(reg);
    for (let t = 0; t < 120 && !(await journal.forDevice(b.deviceId)).some((r) => r.state === 'confirmed' && norm(r.serial) === onBoard); t++) await new Promise((r) => setTimeout(r, 500));
    await check(v.lost, 'registry vs the board', async () => {
      const rec = await reg.get(b.deviceId);
      return norm(rec?.certSerial) === onBoard ? undefined : `the registry names ${rec?.certSerial}, the board uses ${onBoard}`;
    });
    await check(v.lost, 'renewal journal', async () => {
      const rows = await journal.forDevice(b.deviceId);
      return rows.some((r) => r.state === 'confirmed' && norm(r.serial) === onBoard) ? undefined : `no confirmed row for ${onBoard}: ${rows.map((r) => `${r.req} ${r.state} ${r.serial}`).join('; ')}`;
    });
  } finally {
    await reg.close();
  }
  await check(v.lost, 'CA index', () => {
    const valid = openCaRecords(join(f.dir, 'ca')).index.all().filter((c) => c.cn === b.deviceId && c.status === 'valid');
    if (valid.length !== 1) return `${valid.length} valid certificates for ${b.deviceId}: ${valid.map((c) => c.serialHex).join(', ')}`;
    return norm(valid[0]!.serialHex) === onBoard ? undefined : `the one valid certificate ${valid[0]!.serialHex} is not the board's ${onBoard}`;
  });
}
