// Certificate renewal (espfleet_renew.js) under the emulated Mongoose OS API with the crypto
// helper as the double serves it: cmd/renew table-driven, the expiry trigger on the clock, the
// refusals (wrong key, other CA, other request), the timeouts, and a power loss at each step —
// modelled as a new boot from the board's files at that moment — leaving a config that names
// one pair that exists, fits and chains to the fleet CA.
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCa, issueDeviceCert, parseCsr, signCsr, type Ca } from '../../certs/index.ts';
import { agentCryptoFfi } from '../../hil-tests/mongoose-os/agent-crypto.ts';
import { EmulatedMgos } from './emulated-mgos.ts';

const ID = 'esp32_A1B2C3';
const CONF9 = { device: { id: ID }, mqtt: { enable: true, server: 'mqtt.example.net:8883', ssl_cert: 'device.crt', ssl_key: 'device.key', ssl_ca_cert: 'ca.pem' } };
const CMD = `devices/${ID}/cmd/renew`;
const EVENTS = `devices/${ID}/events`;
const CSR = `devices/${ID}/cert/csr`;
const ISSUED = `devices/${ID}/cert/issued`;
const DAY = 86_400;

const dir = mkdtempSync(join(tmpdir(), 'espfleet-agent-renew-'));
let ca: Ca;
let otherCa: Ca;
let base: Record<string, string>;
let deviceNotAfter = 0;

beforeAll(async () => {
  [ca, otherCa] = await Promise.all([
    initCa({ dir: join(dir, 'ca'), passphrase: 'renew-test-passphrase-1' }),
    initCa({ dir: join(dir, 'other'), passphrase: 'renew-test-passphrase-2' }),
  ]);
  const dev = await issueDeviceCert(ca, { cn: ID });
  deviceNotAfter = dev.notAfter.getTime() / 1000;
  base = { 'device.crt': dev.chainPem, 'device.key': dev.privateKeyPem, 'ca.pem': ca.chainPem };
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface BoardOpts {
  conf?: Record<string, unknown>;
  files?: Record<string, string>;
  now?: number;
  connect?: boolean;
}

function board(o: BoardOpts = {}): EmulatedMgos {
  const conf = { ...CONF9, ...o.conf, espfleet: { renew: { check_interval: 0 }, ...(o.conf?.espfleet as object) } };
  const b = new EmulatedMgos({ conf9: conf, files: { ...base, ...o.files }, now: o.now ?? deviceNotAfter - 200 * DAY }).boot();
  expect(b.errors).toEqual([]);
  if (o.connect !== false) b.connack();
  return b;
}

/** Power lost now and back: a new boot from exactly the files the board has. */
function powerCycle(b: EmulatedMgos, connect = true): EmulatedMgos {
  const again = new EmulatedMgos({ files: b.fileTexts(), now: b.now }).boot();
  expect(again.errors).toEqual([]);
  if (connect) again.connack();
  return again;
}

const text = (b: EmulatedMgos, f: string) => (b.files.has(f) ? new TextDecoder().decode(b.files.get(f)) : undefined);
const conf9 = (b: EmulatedMgos) => JSON.parse(text(b, 'conf9.json') ?? '{}') as { mqtt?: { ssl_cert?: string; ssl_key?: string } };
const renewEvents = (b: EmulatedMgos) => (b.published(EVENTS) as Array<Record<string, unknown>>).filter((e) => e.event === 'renew');

/** The running config's pair exists, fits, and chains to the fleet CA (what the broker needs). */
function pairOk(b: EmulatedMgos): string {
  const crt = String(b.cfg('mqtt.ssl_cert'));
  const key = String(b.cfg('mqtt.ssl_key'));
  const ffi = agentCryptoFfi({ exists: (p) => b.files.has(p), read: (p) => b.files.get(p)!, write: () => undefined });
  expect(ffi.espfleet_cert_matches!(crt, key, 'ca.pem'), `${crt} + ${key}`).toBe(0);
  return crt;
}

/** The test's renewal service: signs the last CSR (with `signer`), answers on cert/issued. */
async function answer(b: EmulatedMgos, opts: { signer?: Ca; csrPem?: string; id?: string; flush?: boolean } = {}): Promise<void> {
  const req = b.published(CSR).at(-1) as { id: string; cn: string; csr: string };
  const issued = await signCsr(opts.signer ?? ca, opts.csrPem ?? req.csr, { expectCn: ID });
  b.deliver(ISSUED, JSON.stringify({ id: opts.id ?? req.id, cert: issued.chainPem }), opts.flush ?? true);
}

function secretsOf(pem: string): string[] {
  const jwk = createPrivateKey(pem).export({ format: 'jwk' }) as { d: string };
  const d = Buffer.from(jwk.d, 'base64url');
  const body = pem.split('\n').filter((l) => l && !l.startsWith('-----'));
  return [d.toString('hex'), d.toString('hex').toUpperCase(), d.toString('base64'), jwk.d, ...body];
}

describe('agent renewal: cmd/renew (table-driven)', () => {
  interface Case {
    name: string;
    payload: string;
    setup?: BoardOpts;
    before?: (b: EmulatedMgos) => void;
    want: Record<string, unknown>;
    starts: boolean;
  }
  const CASES: Case[] = [
    { name: 'renew', payload: '{"id":"n1"}', want: { id: 'n1', cmd: 'renew', ok: true, result: { key: 'espfleet_a.key' } }, starts: true },
    { name: 'renew with an unknown field', payload: '{"id":"n2","days":30}', want: { id: 'n2', ok: false, reason: 'unknown field: days' }, starts: false },
    { name: 'renew while one is in progress', payload: '{"id":"n3"}', before: (b) => b.deliver(CMD, '{"id":"n0"}'), want: { id: 'n3', ok: false, reason: expect.stringMatching(/^renewal in progress \(n0-/) }, starts: false },
    { name: 'renew with no certificate in the config', payload: '{"id":"n4"}', setup: { conf: { mqtt: { ...CONF9.mqtt, ssl_cert: '' } } }, want: { id: 'n4', ok: false, reason: 'no device certificate or CA in the config' }, starts: false },
    { name: 'renew when disabled', payload: '{"id":"n5"}', setup: { conf: { espfleet: { renew: { enable: false } } } }, want: { id: 'n5', ok: false, reason: 'renewal disabled by espfleet.renew.enable' }, starts: false },
    { name: 'renew when the device certificate is in slot a', payload: '{"id":"n6"}', setup: { conf: { mqtt: { ...CONF9.mqtt, ssl_cert: 'espfleet_a.crt', ssl_key: 'espfleet_a.key' } }, files: {} }, before: (b) => { b.files.set('espfleet_a.crt', b.files.get('device.crt')!); b.files.set('espfleet_a.key', b.files.get('device.key')!); }, want: { id: 'n6', ok: true, result: { key: 'espfleet_b.key' } }, starts: true },
  ];
  for (const c of CASES) {
    it(`${c.name} → ${c.want.ok ? 'CSR out' : `refused: ${typeof c.want.reason === 'string' ? c.want.reason : 'in progress'}`}`, () => {
      const b = board(c.setup);
      c.before?.(b);
      const csrs = b.published(CSR).length;
      const n = b.pubs.length;
      const confBefore = text(b, 'conf9.json');
      b.deliver(CMD, c.payload);
      expect(b.errors).toEqual([]);
      const results = (b.pubs.slice(n).filter((p) => p.topic === EVENTS).map((p) => JSON.parse(p.msg)) as Array<Record<string, unknown>>).filter((e) => e.event === 'cmd_result');
      expect(results).toHaveLength(1);
      expect(results[0]).toMatchObject(c.want);
      expect(text(b, 'conf9.json')).toBe(confBefore); // nothing switches before a certificate is accepted
      expect(b.published(CSR).length).toBe(csrs + (c.starts ? 1 : 0));
      if (c.starts) {
        const key = (c.want.result as { key: string }).key;
        expect(b.files.has(key)).toBe(true);
        const req = b.published(CSR).at(-1) as { id: string; cn: string; csr: string };
        expect(req.cn).toBe(ID);
        expect(parseCsr(req.csr).commonNames).toEqual([ID]);
        expect(renewEvents(b).at(-1)).toMatchObject({ phase: 'csr_sent', req: req.id, cmd_id: results[0]!.id });
        expect(b.files.has(key.replace('.key', '.csr'))).toBe(false); // the CSR file is not kept
      }
    });
  }
});

describe('agent renewal: end to end under the emulated API', () => {
  it('key on the board, CSR, certificate, try_once switch, commit on CONNACK; the key is in no payload', async () => {
    const b = board();
    b.deliver(CMD, '{"id":"r1"}');
    const newKey = text(b, 'espfleet_a.key')!;
    expect(newKey).toContain('BEGIN EC PRIVATE KEY');
    await answer(b);
    expect(b.errors).toEqual([]);
    expect(renewEvents(b).map((e) => e.phase)).toEqual(['csr_sent', 'switching']);
    // try_once: the new pair is in conf9.json.try only; conf9.json still names the old one.
    expect(JSON.parse(text(b, 'conf9.json.try')!)).toMatchObject({ mqtt: { ssl_cert: 'espfleet_a.crt', ssl_key: 'espfleet_a.key' } });
    expect(conf9(b).mqtt).toMatchObject({ ssl_cert: 'device.crt', ssl_key: 'device.key' });
    expect(b.rpcReboots).toEqual([500]);
    // The reboot: the .try boot runs on the new pair and saves nothing before the CONNACK.
    const t = powerCycle(b, false);
    expect(t.files.has('conf9.json.try')).toBe(false);
    expect(t.cfg('mqtt.ssl_cert')).toBe('espfleet_a.crt');
    expect(conf9(t).mqtt?.ssl_cert).toBe('device.crt');
    t.connack();
    expect(conf9(t).mqtt).toMatchObject({ ssl_cert: 'espfleet_a.crt', ssl_key: 'espfleet_a.key' });
    expect(pairOk(t)).toBe('espfleet_a.crt');
    expect(t.files.has('device.key')).toBe(false);
    expect(t.files.has('espfleet_renew.json')).toBe(false);
    expect(renewEvents(t).at(-1)).toMatchObject({ phase: 'renewed', cmd_id: 'r1', crt: 'espfleet_a.crt' });
    expect(t.cfg('espfleet.cert_expiry')).toBeGreaterThan(deviceNotAfter - 200 * DAY);
    for (const s of secretsOf(newKey)) for (const p of [...b.pubs, ...t.pubs]) expect(p.msg.includes(s), `${p.topic}`).toBe(false);
    // A second renewal goes to slot b and back to conf9.json naming it.
    t.deliver(CMD, '{"id":"r2"}');
    await answer(t);
    const u = powerCycle(t);
    expect(pairOk(u)).toBe('espfleet_b.crt');
    expect(u.files.has('espfleet_a.key')).toBe(false);
  });

  it('starts by itself within before_days of expiry, only once the clock is set, on the check timer', () => {
    const conf = { espfleet: { renew: { check_interval: 3600, before_days: 30 } } };
    const tick = (b: EmulatedMgos) => {
      const t = b.timers.find((x) => x.ms === 3_600_000 && x.flags === 1)!;
      b.call(t.fn, [t.ud]);
    };
    const far = board({ conf, now: deviceNotAfter - 31 * DAY });
    tick(far);
    expect(far.published(CSR)).toEqual([]);
    far.now = deviceNotAfter - 29 * DAY;
    tick(far);
    expect(far.published(CSR)).toHaveLength(1);
    expect(renewEvents(far).at(-1)).toMatchObject({ phase: 'csr_sent' });
    tick(far);
    expect(far.published(CSR)).toHaveLength(1); // one at a time
    // Before SNTP the clock counts from 0: no renewal, however close "expiry" looks.
    const noClock = board({ conf, now: 1_000 });
    tick(noClock);
    expect(noClock.published(CSR)).toEqual([]);
    // A CONNACK checks too.
    const late = board({ conf, now: deviceNotAfter - 1 * DAY });
    expect(late.published(CSR)).toHaveLength(1);
  });
});

describe('agent renewal: refusals keep the old pair', () => {
  const cases: Array<{ name: string; run: (b: EmulatedMgos) => Promise<void>; reason: RegExp | null }> = [
    { name: 'a certificate for another key', run: async (b) => {
      const other = new EmulatedMgos({ conf9: CONF9, files: base });
      other.boot().connack();
      other.deliver(CMD, '{"id":"o1"}');
      await answer(b, { csrPem: (other.published(CSR).at(-1) as { csr: string }).csr });
    }, reason: /certificate refused: the certificate is not for the new key/ },
    { name: 'a certificate from another CA', run: (b) => answer(b, { signer: otherCa }), reason: /certificate refused: the certificate does not chain to the fleet CA/ },
    { name: 'no PEM in cert/issued', run: async (b) => b.deliver(ISSUED, JSON.stringify({ id: (b.published(CSR).at(-1) as { id: string }).id, cert: 'hello' })), reason: /without a PEM certificate/ },
    { name: 'an answer to another request (ignored, then the answer timeout)', run: async (b) => {
      await answer(b, { id: 'someone-else' });
      expect(renewEvents(b).at(-1)).toMatchObject({ phase: 'csr_sent' });
      b.deliver(ISSUED, '{"id":');
      const t = b.timers.find((x) => x.ms === 600_000)!;
      b.call(t.fn, [t.ud]);
    }, reason: /no certificate on cert\/issued in time/ },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const b = board();
      b.deliver(CMD, '{"id":"x1"}');
      await c.run(b);
      expect(b.errors).toEqual([]);
      expect(renewEvents(b).at(-1)).toMatchObject({ phase: expect.stringMatching(/^(refused|failed)$/), reason: expect.stringMatching(c.reason!) });
      expect(b.files.has('conf9.json.try')).toBe(false);
      expect(b.rpcReboots).toEqual([]);
      expect(pairOk(b)).toBe('device.crt');
      expect(b.files.has('espfleet_a.key')).toBe(false);
      expect(b.files.has('espfleet_a.crt')).toBe(false);
      expect(b.files.has('espfleet_renew.json')).toBe(false);
      expect(pairOk(powerCycle(b))).toBe('device.crt');
      // and a new renewal can start
      b.deliver(CMD, '{"id":"x2"}');
      expect(renewEvents(b).at(-1)).toMatchObject({ phase: 'csr_sent', cmd_id: 'x2' });
    });
  }

  it('the new pair that gets no CONNACK in confirm_timeout: reboot, back on the old pair, reported', async () => {
    const b = board();
    b.deliver(CMD, '{"id":"t1"}');
    await answer(b);
    const t = powerCycle(b, false);
    expect(t.cfg('mqtt.ssl_cert')).toBe('espfleet_a.crt');
    const timer = t.timers.find((x) => x.ms === 60_000)!;
    t.call(timer.fn, [timer.ud]);
    expect(t.reboots).toEqual([100]);
    const back = powerCycle(t);
    expect(pairOk(back)).toBe('device.crt');
    expect(renewEvents(back).at(-1)).toMatchObject({ phase: 'failed', cmd_id: 't1', reason: 'the broker did not accept the new certificate; back on the old pair' });
    expect(back.files.has('espfleet_a.key')).toBe(false);
    expect(back.files.has('espfleet_renew.json')).toBe(false);
  });
});

describe('agent renewal: a power loss at each step leaves one valid pair', () => {
  const steps: Array<{ name: string; upTo: (b: EmulatedMgos) => Promise<EmulatedMgos>; pair: string; report?: string }> = [
    { name: 'after keygen and the CSR', upTo: async (b) => b, pair: 'device.crt', report: 'rebooted before a certificate arrived; keeping the old pair' },
    { name: 'after the certificate is written, before the switch', upTo: async (b) => { await answer(b, { flush: false }); return b; }, pair: 'device.crt', report: 'rebooted before the switch; keeping the old pair' },
    { name: 'after the switch (conf9.json.try), before the reboot onto it', upTo: async (b) => { await answer(b); return b; }, pair: 'espfleet_a.crt' },
    { name: 'during the trial boot, before the CONNACK', upTo: async (b) => { await answer(b); return powerCycle(b, false); }, pair: 'device.crt', report: 'the broker did not accept the new certificate; back on the old pair' },
    { name: 'after the commit', upTo: async (b) => { await answer(b); return powerCycle(b); }, pair: 'espfleet_a.crt' },
  ];
  for (const s of steps) {
    it(`${s.name} → boots on ${s.pair}`, async () => {
      const b = board();
      b.deliver(CMD, '{"id":"p1"}');
      const at = await s.upTo(b);
      const after = powerCycle(at);
      expect(pairOk(after)).toBe(s.pair);
      // Whatever came before, the board settles: a further boot is on the same pair, nothing pending.
      const settled = powerCycle(after);
      expect(pairOk(settled)).toBe(s.pair);
      expect(settled.files.has('espfleet_renew.json')).toBe(false);
      expect(settled.files.has('conf9.json.try')).toBe(false);
      if (s.report) expect(renewEvents(after).at(-1)).toMatchObject({ phase: 'failed', reason: s.report });
      const other = s.pair === 'device.crt' ? ['espfleet_a.key', 'espfleet_a.crt'] : ['device.key'];
      for (const f of other) expect(settled.files.has(f), f).toBe(false);
    });
  }
});
