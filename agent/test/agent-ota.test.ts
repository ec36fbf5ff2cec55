// OTA (espfleet_ota.js, docs/ota-protocol.md) under the emulated Mongoose OS API and an
// emulated updater (OTA.Update held until the test replies): every refusal of cmd/ota changes
// nothing, a started update follows OTA.Status and the reply, and each boot decides from the
// state file and OTA.GetBootState — verify + commit, health timeout + revert, and what a
// committed boot reports — with a reboot modelled as a new boot from the board's files.
import { describe, expect, it } from 'vitest';
import { EmulatedMgos, type EmulatedOptions } from './emulated-mgos.ts';

const ID = 'esp32_A1B2C3';
const HOSTS = 'fw.example.net, OTA.Example.com:8443';
const CONF9 = { device: { id: ID }, mqtt: { enable: true, server: 'mqtt.example.net:8883', ssl_cert: 'device.crt', ssl_key: 'device.key', ssl_ca_cert: 'ca.pem' } };
const CMD = `devices/${ID}/cmd/ota`;
const EVENTS = `devices/${ID}/events`;
const STATUS = `devices/${ID}/status`;
const OTA_STATUS = `devices/${ID}/ota/status`;
const FILE = 'espfleet_ota.json';
const URL = 'https://fw.example.net/fw-1.3.0.zip';
const SHA = 'ab'.repeat(32);

interface BoardOpts {
  espfleet?: Record<string, unknown>;
  files?: Record<string, string>;
  fw?: string;
  ota?: EmulatedOptions['ota'];
  connect?: boolean;
}

function board(o: BoardOpts = {}): EmulatedMgos {
  const espfleet = { renew: { check_interval: 0 }, ...o.espfleet, ota: { allowed_hosts: HOSTS, ...(o.espfleet?.ota as object) } };
  const b = new EmulatedMgos({ conf9: { ...CONF9, espfleet }, files: o.files, fwVersion: o.fw ?? '1.2.3', ota: o.ota }).boot();
  expect(b.errors).toEqual([]);
  if (o.connect !== false) b.connack();
  return b;
}

/** A reboot into `fw`: a new boot from the board's files (the first-boot merge carries them). */
function reboot(b: EmulatedMgos, fw: string, ota: EmulatedOptions['ota'], files = b.fileTexts(), connect = true): EmulatedMgos {
  const again = new EmulatedMgos({ files, fwVersion: fw, ota }).boot();
  expect(again.errors).toEqual([]);
  if (connect) again.connack();
  return again;
}

const cmd = (o: Record<string, unknown>) => JSON.stringify({ id: 'ota-r1', rollout: 'r1', url: URL, version: '1.3.0', ...o });
const record = (b: EmulatedMgos) => (b.files.has(FILE) ? (JSON.parse(new TextDecoder().decode(b.files.get(FILE))) as Record<string, unknown>) : undefined);
const otaStatus = (b: EmulatedMgos) => b.published(OTA_STATUS) as Array<Record<string, unknown>>;
const results = (b: EmulatedMgos) => (b.published(EVENTS) as Array<Record<string, unknown>>).filter((e) => e.event === 'cmd_result');
const status = (b: EmulatedMgos) => b.published(STATUS).at(-1) as Record<string, unknown>;
const pollTimer = (b: EmulatedMgos) => b.timers.find((t) => t.flags === 1 && t.ms === 2000);

/** Everything a refused command must leave alone: config, files but the replay guard, timers, updater calls. */
function snapshot(b: EmulatedMgos): unknown {
  const files = [...b.files.entries()].filter(([k]) => k !== 'espfleet_ids.json').map(([k, v]) => [k, Buffer.from(v).toString('hex')]);
  return { config: b.config.get(), files, timers: b.timers.length, updates: b.ota.updates.length, calls: [...b.ota.calls], reboots: [...b.reboots] };
}

describe('agent OTA: cmd/ota refusals change nothing (table-driven)', () => {
  interface Case {
    name: string;
    payload: string;
    reason: string | RegExp;
    setup?: BoardOpts;
    before?: (b: EmulatedMgos) => void;
    /** false: refused before the OTA handler (no ota/status message). */
    otaStatus?: boolean;
  }
  const CASES: Case[] = [
    { name: 'http://', payload: cmd({ url: 'http://fw.example.net/fw.zip' }), reason: 'url must be https://' },
    { name: 'a host not allow-listed', payload: cmd({ url: 'https://evil.example.net/fw.zip' }), reason: 'host evil.example.net is not in espfleet.ota.allowed_hosts' },
    { name: 'an allow-listed name as a prefix of another host', payload: cmd({ url: 'https://fw.example.net.evil.io/fw.zip' }), reason: 'host fw.example.net.evil.io is not in espfleet.ota.allowed_hosts' },
    { name: 'an allow-listed name as a suffix', payload: cmd({ url: 'https://xfw.example.net/fw.zip' }), reason: 'host xfw.example.net is not in espfleet.ota.allowed_hosts' },
    { name: 'user@ before the host', payload: cmd({ url: 'https://fw.example.net@evil.io/fw.zip' }), reason: 'url has no usable host' },
    { name: 'an IPv6 literal', payload: cmd({ url: 'https://[::1]:8443/fw.zip' }), reason: 'url has no usable host' },
    { name: 'no host', payload: cmd({ url: 'https:///fw.zip' }), reason: 'url has no usable host' },
    { name: 'a bad port', payload: cmd({ url: 'https://fw.example.net:99999/fw.zip' }), reason: 'url has no usable host' },
    { name: 'a space in the url', payload: cmd({ url: 'https://fw.example.net/a b.zip' }), reason: 'url must be printable ASCII without spaces' },
    { name: 'not a url', payload: cmd({ url: 'fw-1.3.0.zip' }), reason: 'url must be https://' },
    { name: 'a url over 256 bytes', payload: cmd({ url: `https://fw.example.net/${'a'.repeat(240)}` }), reason: 'url must be at most 256 bytes' },
    { name: 'a numeric url', payload: cmd({ url: 7 }), reason: 'url must be a string' },
    { name: 'no allowed hosts configured', payload: cmd({}), setup: { espfleet: { ota: { allowed_hosts: '' } } }, reason: 'OTA disabled: espfleet.ota.allowed_hosts is empty' },
    { name: 'an older version', payload: cmd({ version: '1.2.2' }), reason: 'version 1.2.2 is older than running 1.2.3 (allow_downgrade not set)' },
    { name: 'an older version by number, not text (1.10 > 1.9)', payload: cmd({ version: '1.9.0' }), setup: { fw: '1.10.0' }, reason: 'version 1.9.0 is older than running 1.10.0 (allow_downgrade not set)' },
    { name: 'the running version', payload: cmd({ version: '1.2.3' }), reason: 'version 1.2.3 is already running' },
    { name: 'the running version with allow_downgrade', payload: cmd({ version: '1.2.3', allow_downgrade: true }), reason: 'version 1.2.3 is already running' },
    { name: 'an equal dotted number (1.2.3.0)', payload: cmd({ version: '1.2.3.0' }), reason: 'version 1.2.3.0 is not newer than running 1.2.3 (allow_downgrade not set)' },
    { name: 'a version that is not a dotted number', payload: cmd({ version: 'beta' }), reason: 'version beta or running 1.2.3 is not a dotted number; only with allow_downgrade' },
    { name: 'a version with other characters', payload: cmd({ version: '1.3.0/x' }), reason: 'version must be a string of 1..32 letters, digits, . - +' },
    { name: 'a numeric version', payload: cmd({ version: 1.3 }), reason: 'version must be a string of 1..32 letters, digits, . - +' },
    { name: 'a version over 32 bytes', payload: cmd({ version: `1.${'0'.repeat(31)}` }), reason: 'version must be a string of 1..32 letters, digits, . - +' },
    { name: 'allow_downgrade as a string', payload: cmd({ version: '1.0.0', allow_downgrade: 'true' }), reason: 'allow_downgrade must be true or false' },
    { name: 'sha256 in upper case', payload: cmd({ sha256: SHA.toUpperCase() }), reason: 'sha256 must be 64 lowercase hex digits' },
    { name: 'a short sha256', payload: cmd({ sha256: 'abc' }), reason: 'sha256 must be 64 lowercase hex digits' },
    { name: 'commit_timeout below 30', payload: cmd({ commit_timeout: 29 }), reason: 'commit_timeout must be an integer 30..3600' },
    { name: 'commit_timeout above 3600', payload: cmd({ commit_timeout: 3601 }), reason: 'commit_timeout must be an integer 30..3600' },
    { name: 'a fractional commit_timeout', payload: cmd({ commit_timeout: 300.5 }), reason: 'commit_timeout must be an integer 30..3600' },
    { name: 'commit_timeout as a string', payload: cmd({ commit_timeout: '300' }), reason: 'commit_timeout must be an integer 30..3600' },
    { name: 'commit_timeout not above health_timeout', payload: cmd({ commit_timeout: 120 }), reason: 'commit_timeout 120 must exceed espfleet.ota.health_timeout 120' },
    { name: 'the default commit_timeout not above a longer health_timeout', payload: cmd({}), setup: { espfleet: { ota: { health_timeout: 300 } } }, reason: 'commit_timeout 300 must exceed espfleet.ota.health_timeout 300' },
    { name: 'missing rollout', payload: JSON.stringify({ id: 'o1', url: URL, version: '1.3.0' }), reason: 'missing field: rollout' },
    { name: 'missing url', payload: JSON.stringify({ id: 'o1', rollout: 'r1', version: '1.3.0' }), reason: 'missing field: url' },
    { name: 'missing version', payload: JSON.stringify({ id: 'o1', rollout: 'r1', url: URL }), reason: 'missing field: version' },
    { name: 'a rollout id with a space', payload: cmd({ rollout: 'r 1' }), reason: 'rollout must be a string of 1..64 letters, digits, - _ . :' },
    { name: 'a numeric rollout id', payload: cmd({ rollout: 42 }), reason: 'rollout must be a string of 1..64 letters, digits, - _ . :' },
    { name: 'an unknown field', payload: cmd({ force: true }), reason: 'unknown field: force' },
    { name: 'an oversized command', payload: cmd({ pad: 'x'.repeat(1100) }), reason: /^oversized: \d+ bytes, limit 1024$/, otaStatus: false },
    { name: 'invalid JSON', payload: '{"id":"ota-r1","rollout":', reason: 'invalid JSON', otaStatus: false },
    { name: 'a second update while one downloads', payload: cmd({ id: 'ota-r2', rollout: 'r2', version: '1.4.0' }), before: (b) => b.deliver(CMD, cmd({})), reason: 'update in progress (ota-r1, downloading)' },
    {
      name: 'a second update once one is applied (rebooting)', payload: cmd({ id: 'ota-r2', rollout: 'r2', version: '1.4.0' }),
      before: (b) => { b.deliver(CMD, cmd({})); b.ota.updates[0]!.reply(0, 'Update applied, finalizing'); }, reason: 'update in progress (ota-r1, applied)',
    },
    { name: 'an update while the running firmware is uncommitted', payload: cmd({}), setup: { ota: { committed: false } }, reason: 'the running firmware is not committed yet' },
    { name: 'an update when the boot state is unknown (no OTA handlers)', payload: cmd({}), setup: { ota: { handlers: false } }, reason: 'the boot state is not known yet' },
  ];
  for (const c of CASES) {
    it(`${c.name} → refused: ${String(c.reason)}`, () => {
      const b = board(c.setup);
      c.before?.(b);
      const before = snapshot(b);
      const n = b.pubs.length;
      b.deliver(CMD, c.payload);
      expect(b.errors).toEqual([]);
      const out = b.pubs.slice(n);
      const res = out.filter((p) => p.topic === EVENTS).map((p) => JSON.parse(p.msg) as Record<string, unknown>);
      expect(res).toHaveLength(1);
      expect(res[0]).toMatchObject({ event: 'cmd_result', cmd: 'ota', ok: false, reason: c.reason });
      const st = out.filter((p) => p.topic === OTA_STATUS);
      if (c.otaStatus === false) {
        expect(st).toEqual([]);
      } else {
        expect(st).toHaveLength(1);
        expect(st[0]).toMatchObject({ qos: 1, retain: true });
        expect(JSON.parse(st[0]!.msg)).toMatchObject({ state: 'refused', cmd: res[0]!.id, reason: c.reason, running: c.setup?.fw ?? '1.2.3' });
      }
      expect(out.length).toBe(res.length + st.length);
      expect(snapshot(b)).toEqual(before);
    });
  }

  it('the state file cannot be written → refused before anything else happens', () => {
    const b = board();
    b.failWrites.add(FILE);
    const before = snapshot(b);
    b.deliver(CMD, cmd({}));
    expect(b.errors).toEqual([]);
    expect(results(b).at(-1)).toMatchObject({ id: 'ota-r1', ok: false, reason: `could not write ${FILE}` });
    expect(otaStatus(b)).toEqual([expect.objectContaining({ state: 'refused', reason: `could not write ${FILE}` })]);
    expect(snapshot(b)).toEqual(before);
    expect(status(b)).toMatchObject({ ota: 'idle' });
  });

  it('a replayed command id is ignored: no second result, no second update — across a reboot too', () => {
    const b = board();
    b.deliver(CMD, cmd({}));
    expect(b.ota.updates).toHaveLength(1);
    const n = b.pubs.length;
    b.deliver(CMD, cmd({}));
    expect(b.pubs.length).toBe(n);
    b.ota.updates[0]!.reply(-1, 'Connection refused');
    const again = reboot(b, '1.2.3', { committed: true });
    const m = again.pubs.length;
    again.deliver(CMD, cmd({}));
    expect(again.pubs.length).toBe(m);
    expect(again.ota.updates).toEqual([]);
  });
});

describe('agent OTA: a started update', () => {
  const STARTS: Array<{ name: string; payload: string; setup?: BoardOpts; update: Record<string, unknown> }> = [
    { name: 'a newer version, default commit_timeout', payload: cmd({}), update: { url: URL, commit_timeout: 300 } },
    { name: 'host case-insensitive, port ignored, second host in the list', payload: cmd({ url: 'HTTPS://ota.EXAMPLE.com:9443/a/fw.zip?x=1' }), update: { url: 'HTTPS://ota.EXAMPLE.com:9443/a/fw.zip?x=1', commit_timeout: 300 } },
    { name: 'a downgrade with allow_downgrade', payload: cmd({ version: '1.1.0', allow_downgrade: true }), update: { url: URL, commit_timeout: 300 } },
    { name: 'a newer minor by number (1.10.0 over 1.9.4)', payload: cmd({ version: '1.10.0' }), setup: { fw: '1.9.4' }, update: { url: URL, commit_timeout: 300 } },
    { name: 'its own commit_timeout and a sha256', payload: cmd({ commit_timeout: 600, sha256: SHA }), update: { url: URL, commit_timeout: 600 } },
    { name: 'commit_timeout from espfleet.ota.commit_timeout', payload: cmd({}), setup: { espfleet: { ota: { commit_timeout: 900 } } }, update: { url: URL, commit_timeout: 900 } },
  ];
  for (const c of STARTS) {
    it(`${c.name} → started: record, downloading, OTA.Update ${JSON.stringify(c.update)}`, () => {
      const b = board(c.setup);
      b.deliver(CMD, c.payload);
      expect(b.errors).toEqual([]);
      const p = JSON.parse(c.payload) as Record<string, unknown>;
      const fw = c.setup?.fw ?? '1.2.3';
      expect(results(b).at(-1)).toMatchObject({ id: 'ota-r1', ok: true, result: { rollout: 'r1', version: p.version, running: fw, commit_timeout: c.update.commit_timeout } });
      expect(record(b)).toEqual({ cmd: 'ota-r1', rollout: 'r1', version: p.version, from: fw, stage: 'downloading', reported: false, ...(p.sha256 ? { sha256: p.sha256 } : {}) });
      expect(otaStatus(b)).toEqual([{ rollout: 'r1', cmd: 'ota-r1', version: p.version, running: fw, state: 'downloading', progress: 0, uptime: 12, ...(p.sha256 ? { sha256: p.sha256 } : {}) }]);
      expect(b.pubs.find((x) => x.topic === OTA_STATUS)).toMatchObject({ qos: 1, retain: true });
      expect(b.ota.updates.map((u) => u.args)).toEqual([c.update]);
    });
  }

  it('progress from OTA.Status every 10 points, then the reply with error code 0 → applied', () => {
    const b = board();
    b.deliver(CMD, cmd({}));
    const t = pollTimer(b);
    expect(t).toBeDefined();
    for (const pct of [5, 10, 14, 25, 25, 99]) {
      b.ota.status.progress_percent = pct;
      b.fire(t);
    }
    expect(otaStatus(b).map((s) => s.progress)).toEqual([0, 10, 25, 99]);
    expect(otaStatus(b).every((s) => s.state === 'downloading')).toBe(true);
    b.ota.updates[0]!.reply(0, 'Update applied, finalizing');
    expect(b.errors).toEqual([]);
    expect(otaStatus(b).at(-1)).toMatchObject({ state: 'applied', progress: 100, version: '1.3.0', running: '1.2.3' });
    expect(record(b)).toMatchObject({ stage: 'applied', from: '1.2.3', version: '1.3.0' });
    expect(t!.cleared).toBe(true);
    const n = b.ota.calls.length;
    b.fire(t);
    expect(b.ota.calls.length).toBe(n); // no poll after the reply
  });

  it('a plain result with code 0 (a later build) is success too', () => {
    const b = board();
    b.deliver(CMD, cmd({}));
    b.ota.updates[0]!.reply(0, '', { status: 'ok' });
    expect(otaStatus(b).at(-1)).toMatchObject({ state: 'applied' });
  });

  it('a non-zero reply → failed with the firmware\'s message, record terminal, the next update may start', () => {
    const b = board();
    b.deliver(CMD, cmd({ sha256: SHA }));
    b.ota.updates[0]!.reply(-1, 'Invalid signature');
    expect(otaStatus(b).at(-1)).toEqual({ rollout: 'r1', cmd: 'ota-r1', version: '1.3.0', running: '1.2.3', state: 'failed', reason: 'OTA.Update error -1: Invalid signature', sha256: SHA, uptime: 12 });
    expect(record(b)).toMatchObject({ stage: 'failed', reported: true, reason: 'OTA.Update error -1: Invalid signature' });
    expect(pollTimer(b)!.cleared).toBe(true);
    b.fire(b.timers.find((x) => x.ms === 300_000)); // the status timer
    expect(status(b)).toMatchObject({ ota: 'failed', rollout: 'r1' });
    b.deliver(CMD, cmd({ id: 'ota-r2', rollout: 'r2' }));
    expect(results(b).at(-1)).toMatchObject({ id: 'ota-r2', ok: true });
    expect(b.ota.updates).toHaveLength(2);
  });

  it('a failure while disconnected is reported once, at the next CONNACK', () => {
    const b = board();
    b.deliver(CMD, cmd({}));
    b.connected = false;
    b.ota.updates[0]!.reply(-1, 'Update timed out');
    expect(record(b)).toMatchObject({ stage: 'failed', reported: false });
    const n = otaStatus(b).length;
    b.connack();
    expect(otaStatus(b).slice(n)).toEqual([expect.objectContaining({ state: 'failed', reason: 'OTA.Update error -1: Update timed out' })]);
    expect(record(b)).toMatchObject({ reported: true });
    b.connack();
    expect(otaStatus(b).length).toBe(n + 1);
  });
});

describe('agent OTA: boot-time decisions (table-driven)', () => {
  const rec = (stage: string, extra: Record<string, unknown> = {}) => JSON.stringify({ cmd: 'ota-r1', rollout: 'r1', version: '1.3.0', from: '1.2.3', stage, reported: false, ...extra });
  interface Case {
    name: string;
    file?: string;
    committed: boolean;
    fw: string;
    /** The ota/status states published after the CONNACK, in order. */
    states: string[];
    reason?: RegExp;
    stage: string | undefined;
    calls: string[];
    rollout?: string;
  }
  const CASES: Case[] = [
    { name: 'uncommitted boot of the target, record applied', file: rec('applied'), committed: false, fw: '1.3.0', states: ['verifying', 'committed'], stage: 'committed', calls: ['OTA.Commit'], rollout: 'r1' },
    { name: 'uncommitted boot of the target, record downloading (power lost before "applied" was written)', file: rec('downloading'), committed: false, fw: '1.3.0', states: ['verifying', 'committed'], stage: 'committed', calls: ['OTA.Commit'], rollout: 'r1' },
    { name: 'uncommitted boot of another version than the target', file: rec('applied'), committed: false, fw: '1.3.1', states: ['reverted'], reason: /^the new firmware runs 1\.3\.1, not the target 1\.3\.0$/, stage: 'reverted', calls: ['OTA.Revert'] },
    { name: 'uncommitted boot with no record (not the agent\'s update)', committed: false, fw: '1.3.0', states: [], stage: undefined, calls: [] },
    { name: 'committed boot of the old version, record applied (reverted)', file: rec('applied'), committed: true, fw: '1.2.3', states: ['reverted'], reason: /^the new firmware did not commit \(health check failed, crash or power loss before the commit\); back on 1\.2\.3$/, stage: 'reverted', calls: [] },
    { name: 'committed boot of the old version, record downloading (interrupted)', file: rec('downloading'), committed: true, fw: '1.2.3', states: ['failed'], reason: /^a reboot interrupted the download; the running firmware is untouched$/, stage: 'failed', calls: [] },
    { name: 'committed boot of the target, record verifying (committed, power lost before the report)', file: rec('verifying'), committed: true, fw: '1.3.0', states: ['committed'], stage: 'committed', calls: [], rollout: 'r1' },
    { name: 'committed boot of the target, record applied (the firmware committed by itself)', file: rec('applied'), committed: true, fw: '1.3.0', states: ['committed'], stage: 'committed', calls: [], rollout: 'r1' },
    { name: 'committed boot of a third version', file: rec('applied'), committed: true, fw: '1.2.9', states: ['failed'], reason: /^running 1\.2\.9 is neither the target 1\.3\.0 nor the old 1\.2\.3$/, stage: 'failed', calls: [] },
    { name: 'a terminal record not yet reported', file: rec('reverted', { reason: 'health check failed' }), committed: true, fw: '1.2.3', states: ['reverted'], reason: /^health check failed$/, stage: 'reverted', calls: [] },
    { name: 'a terminal record already reported', file: rec('committed', { reported: true }), committed: true, fw: '1.3.0', states: [], stage: 'committed', calls: [] },
    { name: 'an unreadable record (dropped)', file: '{"cmd":"ota-r1","stage":"applied"', committed: true, fw: '1.2.3', states: [], stage: undefined, calls: [] },
    { name: 'a record with an unknown stage (dropped)', file: rec('flashing'), committed: true, fw: '1.2.3', states: [], stage: undefined, calls: [] },
  ];
  for (const c of CASES) {
    it(`${c.name} → ${c.states.length ? c.states.join(', ') : 'nothing reported'}`, () => {
      const b = board({ files: c.file === undefined ? {} : { [FILE]: c.file }, fw: c.fw, ota: { committed: c.committed } });
      expect(b.ota.calls.filter((m) => m !== 'OTA.GetBootState' && m !== 'OTA.Status')).toEqual(c.calls);
      const st = otaStatus(b);
      expect(st.map((s) => s.state)).toEqual(c.states);
      for (const s of st) expect(s).toMatchObject({ rollout: 'r1', cmd: 'ota-r1', version: '1.3.0', running: c.fw });
      if (c.reason) expect(String(st.at(-1)?.reason)).toMatch(c.reason);
      expect(record(b)?.stage).toBe(c.stage);
      if (c.stage !== undefined && c.states.length) expect(record(b)?.reported).toBe(true);
      expect(status(b)).toMatchObject({ ota: c.stage ?? 'idle', rollout: c.stage ? 'r1' : '' });
      expect(b.cfg('espfleet.rollout')).toBe(c.rollout ?? '');
      if (c.states.includes('committed')) expect(b.ota.committed).toBe(true);
      // Once reported, a later CONNACK repeats nothing.
      const n = st.length;
      b.connack();
      expect(otaStatus(b).length).toBe(n);
    });
  }
});

describe('agent OTA: the health check', () => {
  const applied = JSON.stringify({ cmd: 'ota-r1', rollout: 'r1', version: '1.3.0', from: '1.2.3', stage: 'applied', reported: false });

  it('CONNACK with the device certificate and the retained status within health_timeout → OTA.Commit → committed', () => {
    const b = board({ files: { [FILE]: applied }, fw: '1.3.0', ota: { committed: false }, connect: false });
    expect(record(b)).toMatchObject({ stage: 'verifying' });
    expect(b.ota.commits).toBe(0); // nothing before the broker took the certificate
    const health = b.timers.find((t) => t.flags === 0 && t.ms === (120 - 12) * 1000);
    expect(health).toBeDefined();
    b.connack();
    expect(b.ota.commits).toBe(1);
    expect(health!.cleared).toBe(true);
    expect(b.published(STATUS).map((s) => (s as { ota: string }).ota)).toEqual(['verifying', 'committed']);
    expect(otaStatus(b).map((s) => s.state)).toEqual(['verifying', 'committed']);
    expect(JSON.parse(new TextDecoder().decode(b.files.get('conf9.json')))).toMatchObject({ espfleet: { rollout: 'r1' } });
  });

  it('a CONNACK before the boot state and the version are known: the check runs once they are', () => {
    const b = new EmulatedMgos({ conf9: { ...CONF9, espfleet: { renew: { check_interval: 0 }, ota: { allowed_hosts: HOSTS } } }, files: { [FILE]: applied }, fwVersion: '1.3.0', ota: { committed: false } }).boot(true);
    expect(b.ota.calls).toEqual(['OTA.GetBootState']); // asked, not answered yet
    expect(record(b)).toMatchObject({ stage: 'applied' });
    b.connack(); // handlers first, then the held replies
    expect(b.errors).toEqual([]);
    expect(b.ota.commits).toBe(1);
    expect(otaStatus(b).map((s) => s.state)).toEqual(['verifying', 'committed']);
  });

  it('no CONNACK within health_timeout → not committed, reason on record, OTA.Revert; the old firmware then reports reverted', () => {
    const b = board({ files: { [FILE]: applied }, fw: '1.3.0', ota: { committed: false }, connect: false, espfleet: { ota: { health_timeout: 60 } } });
    b.fire(b.timers.find((t) => t.flags === 0 && t.ms === (60 - 12) * 1000));
    expect(b.ota.commits).toBe(0);
    expect(b.ota.reverts).toBe(1);
    expect(record(b)).toMatchObject({ stage: 'reverted', reason: 'health check failed: no CONNACK with the device certificate and retained status within 60 s' });
    b.connack(); // too late: nothing is committed
    expect(b.ota.commits).toBe(0);
    // The old slot boots with its own copy of the record (stage applied).
    const old = reboot(b, '1.2.3', { committed: true }, { ...b.fileTexts(), [FILE]: applied });
    expect(otaStatus(old).map((s) => [s.state, s.running])).toEqual([['reverted', '1.2.3']]);
    expect(old.cfg('espfleet.rollout')).toBe('');
  });

  it('OTA.Commit failing leaves the update verifying; the health timer then reverts', () => {
    const b = board({ files: { [FILE]: applied }, fw: '1.3.0', ota: { committed: false }, connect: false });
    b.ota.commitError = 'flash write failed';
    b.connack();
    expect(b.ota.committed).toBe(false);
    expect(record(b)).toMatchObject({ stage: 'verifying' });
    b.fire(b.timers.find((t) => t.flags === 0 && t.ms === (120 - 12) * 1000));
    expect(b.ota.reverts).toBe(1);
    expect(record(b)).toMatchObject({ stage: 'reverted' });
  });
  it('committed by someone else meanwhile (mos call OTA.Commit): a failed OTA.Commit or OTA.Revert asks the boot state again → committed', () => {
    for (const late of [false, true]) {
      const b = board({ files: { [FILE]: applied }, fw: '1.3.0', ota: { committed: false }, connect: false });
      b.ota.committed = true; // the technician's commit
      if (late) b.fire(b.timers.find((t) => t.flags === 0 && t.ms === (120 - 12) * 1000));
      else b.connack();
      expect(b.errors).toEqual([]);
      expect(b.ota.calls.filter((m) => m !== 'OTA.Status')).toEqual(['OTA.GetBootState', late ? 'OTA.Revert' : 'OTA.Commit', 'OTA.GetBootState']);
      expect(b.ota.reverts).toBe(0);
      expect(record(b)).toMatchObject({ stage: 'committed' });
      if (late) {
        b.connack();
        expect(otaStatus(b).map((s) => s.state)).toEqual(['committed']);
      } else {
        expect(otaStatus(b).map((s) => s.state)).toEqual(['verifying', 'committed']);
      }
    }
  });
});

describe('agent OTA: end to end across reboots (emulated updater)', () => {
  it('cmd/ota → downloading → applied → reboot into 1.3.0 uncommitted → health check → committed; the next update is accepted', () => {
    const b = board();
    b.deliver(CMD, cmd({}));
    b.ota.updates[0]!.reply(0, 'Update applied, finalizing');
    const neu = reboot(b, '1.3.0', { committed: false });
    expect(otaStatus(neu).map((s) => s.state)).toEqual(['verifying', 'committed']);
    expect(otaStatus(neu).at(-1)).toMatchObject({ running: '1.3.0', version: '1.3.0', rollout: 'r1' });
    expect(status(neu)).toMatchObject({ fw_version: '1.3.0', ota: 'committed', rollout: 'r1' });
    // A later boot of the committed firmware repeats nothing.
    const later = reboot(neu, '1.3.0', { committed: true });
    expect(otaStatus(later)).toEqual([]);
    later.deliver(CMD, cmd({ id: 'ota-r2', rollout: 'r2', version: '1.4.0' }));
    expect(results(later).at(-1)).toMatchObject({ id: 'ota-r2', ok: true });
  });

  it('power lost during the download → the same firmware boots and reports failed (interrupted)', () => {
    const b = board();
    b.deliver(CMD, cmd({}));
    const again = reboot(b, '1.2.3', { committed: true });
    expect(otaStatus(again)).toEqual([expect.objectContaining({ state: 'failed', reason: 'a reboot interrupted the download; the running firmware is untouched' })]);
    again.deliver(CMD, cmd({ id: 'ota-r1b' }));
    expect(results(again).at(-1)).toMatchObject({ id: 'ota-r1b', ok: true });
  });
});
