// The agent's status and command handlers under the emulated Mongoose OS API, table-driven:
// a good command gets one result event tied to its id; a missing, wrong-typed or oversized
// field, invalid JSON and a replayed id change nothing and never end in an mJS error.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../hil-tests/mjs/index.ts';
import { AGENT_FS_DIR, agentFsFiles } from '../agent-files.ts';
import { EmulatedMgos } from './emulated-mgos.ts';

const ID = 'esp32_A1B2C3';
const CONF9 = { device: { id: ID }, mqtt: { enable: true, server: 'mqtt.example.net:8883', ssl_cert: 'device.crt', ssl_key: 'device.key', ssl_ca_cert: 'ca.pem' } };
const CMD = (name: string) => `devices/${ID}/cmd/${name}`;
const EVENTS = `devices/${ID}/events`;
const STATUS = `devices/${ID}/status`;

function board(extra: Record<string, unknown> = {}, files: Record<string, string> = {}): EmulatedMgos {
  const b = new EmulatedMgos({ conf9: { ...CONF9, ...extra }, files }).boot();
  expect(b.errors).toEqual([]);
  b.connack();
  return b;
}

/** Everything a command could change: config, files other than the replay guard, reboots. */
function snapshot(b: EmulatedMgos): unknown {
  const files = [...b.files.entries()].filter(([k]) => k !== 'espfleet_ids.json').map(([k, v]) => [k, Buffer.from(v).toString('hex')]);
  return { config: b.config.get(), files, reboots: [...b.reboots], timers: b.timers.length };
}

describe('agent files', () => {
  it('pass the mJS checker (espfleet agent check) with no finding', () => {
    for (const name of Object.keys(agentFsFiles())) {
      expect(checkSource(readFileSync(join(AGENT_FS_DIR, name), 'utf8'), name), name).toEqual([]);
    }
  });
});

describe('agent: connection and status', () => {
  it('sets the last will on its own status topic, subscribes only to its own cmd/+, publishes a retained status on CONNACK', () => {
    const b = new EmulatedMgos({ conf9: CONF9 }).boot();
    expect(b.errors).toEqual([]);
    expect(b.cfg('mqtt.will_topic')).toBe(STATUS);
    expect(b.cfg('mqtt.will_message')).toBe('{"online":false}');
    expect(b.cfg('mqtt.will_retain')).toBe(true);
    expect(JSON.parse(new TextDecoder().decode(b.files.get('conf9.json')))).toMatchObject({ mqtt: { will_topic: STATUS } });
    expect(b.subs.map((s) => s.filter).sort()).toEqual([`devices/${ID}/cert/issued`, `devices/${ID}/cmd/+`]);
    expect(b.pubs).toEqual([]); // not connected yet: nothing published
    b.connack();
    const st = b.pubs.filter((p) => p.topic === STATUS);
    expect(st.length).toBeGreaterThan(0);
    expect(st.every((p) => p.retain && p.qos === 1)).toBe(true);
    expect(JSON.parse(st[st.length - 1]!.msg)).toEqual({ online: true, id: ID, fw_version: '1.2.3', app: 'espfleet-agent', agent: '0.1.0', uptime: 12, ota: 'idle', rollout: '', keys: { seq: 0, mask: -1, fp: ['', '', '', '', '', '', '', ''] } });
  });

  it('adds cert_expiry and the last rollout id when known, and republishes on the status timer', () => {
    const b = board({ espfleet: { cert_expiry: 1_830_000_000, rollout: 'r-42', status_interval: 60, renew: { check_interval: 0 } } });
    expect(b.published(STATUS).at(-1)).toMatchObject({ cert_expiry: 1_830_000_000, rollout: 'r-42' });
    expect(b.timers).toHaveLength(1);
    expect(b.timers[0]).toMatchObject({ ms: 60_000, flags: 1 });
    const n = b.pubs.length;
    b.call(b.timers[0]!.fn, [b.timers[0]!.ud]);
    expect(b.pubs.length).toBe(n + 1);
    b.connected = false;
    b.call(b.timers[0]!.fn, [b.timers[0]!.ud]);
    expect(b.pubs.length).toBe(n + 1);
  });

  it('does not start with a device id that is not usable in a topic, or with espfleet.enable false', () => {
    for (const conf of [{ device: { id: 'a/b' } }, { device: { id: 'x' }, espfleet: { enable: false } }]) {
      const b = new EmulatedMgos({ conf9: conf }).boot();
      expect(b.errors).toEqual([]);
      expect(b.subs).toEqual([]);
    }
  });
});

interface Case {
  name: string;
  cmd: string;
  payload: string | Uint8Array;
  /** The result event, or null for "nothing published". */
  want: Record<string, unknown> | null;
  /** Whether the command may change the board (config, reboot). */
  changes?: boolean;
  check?: (b: EmulatedMgos) => void;
}

const big = JSON.stringify({ id: 'big', pad: 'x'.repeat(1100) });
const CASES: Case[] = [
  { name: 'reboot', cmd: 'reboot', payload: '{"id":"r1"}', want: { id: 'r1', cmd: 'reboot', ok: true, result: { delay_ms: 1000 } }, changes: true, check: (b) => expect(b.reboots).toEqual([1000]) },
  { name: 'reboot with delay_ms', cmd: 'reboot', payload: '{"id":"r2","delay_ms":5000}', want: { id: 'r2', ok: true, result: { delay_ms: 5000 } }, changes: true, check: (b) => expect(b.reboots).toEqual([5000]) },
  { name: 'reboot with a string delay_ms', cmd: 'reboot', payload: '{"id":"r3","delay_ms":"5"}', want: { id: 'r3', ok: false, reason: 'delay_ms must be an integer 500..60000' } },
  { name: 'reboot with a fractional delay_ms', cmd: 'reboot', payload: '{"id":"r4","delay_ms":700.5}', want: { id: 'r4', ok: false, reason: 'delay_ms must be an integer 500..60000' } },
  { name: 'reboot with an unknown field', cmd: 'reboot', payload: '{"id":"r5","force":true}', want: { id: 'r5', ok: false, reason: 'unknown field: force' } },
  {
    name: 'config of allow-listed keys', cmd: 'config', payload: '{"id":"c1","set":{"debug.level":3,"sys.tz_spec":"CET-1CEST"}}',
    want: { id: 'c1', cmd: 'config', ok: true }, changes: true,
    check: (b) => {
      expect(b.cfg('debug.level')).toBe(3);
      expect(b.cfg('sys.tz_spec')).toBe('CET-1CEST');
      expect(JSON.parse(new TextDecoder().decode(b.files.get('conf9.json')))).toMatchObject({ debug: { level: 3 }, sys: { tz_spec: 'CET-1CEST' } });
      expect(b.published(EVENTS).at(-1)).toMatchObject({ result: { applied: expect.arrayContaining(['debug.level', 'sys.tz_spec']) } });
    },
  },
  { name: 'config of a key not on the allow-list (with a good one beside it)', cmd: 'config', payload: '{"id":"c2","set":{"debug.level":1,"mqtt.server":"evil:1883"}}', want: { id: 'c2', ok: false, reason: 'key not allowed: mqtt.server' } },
  { name: 'config with a wrong-typed value', cmd: 'config', payload: '{"id":"c3","set":{"debug.level":"3"}}', want: { id: 'c3', ok: false, reason: 'debug.level must be an integer' } },
  { name: 'config with an out-of-range value', cmd: 'config', payload: '{"id":"c4","set":{"espfleet.status_interval":-1}}', want: { id: 'c4', ok: false, reason: 'espfleet.status_interval must be 0..86400' } },
  { name: 'config with an oversized string', cmd: 'config', payload: JSON.stringify({ id: 'c5', set: { 'sys.tz_spec': 'x'.repeat(65) } }), want: { id: 'c5', ok: false, reason: 'sys.tz_spec must be at most 64 bytes' } },
  { name: 'config without set', cmd: 'config', payload: '{"id":"c6"}', want: { id: 'c6', ok: false, reason: 'set must be an object of key: value' } },
  { name: 'config with set as an array', cmd: 'config', payload: '{"id":"c7","set":[1]}', want: { id: 'c7', ok: false, reason: 'set must be an object of key: value' } },
  { name: 'config with an empty set', cmd: 'config', payload: '{"id":"c8","set":{}}', want: { id: 'c8', ok: false, reason: 'set is empty' } },
  { name: 'an unknown command', cmd: 'selfdestruct', payload: '{"id":"u1"}', want: { id: 'u1', cmd: 'selfdestruct', ok: false, reason: 'unknown command' } },
  { name: 'missing id', cmd: 'reboot', payload: '{"delay_ms":1000}', want: { cmd: 'reboot', ok: false, reason: 'missing field: id' } },
  { name: 'numeric id', cmd: 'reboot', payload: '{"id":7}', want: { cmd: 'reboot', ok: false, reason: 'id must be a string of 1..64 letters, digits, - _ . :' } },
  { name: 'empty id', cmd: 'reboot', payload: '{"id":""}', want: { ok: false, reason: 'id must be a string of 1..64 letters, digits, - _ . :' } },
  { name: 'a JSON array', cmd: 'reboot', payload: '[1,2]', want: { ok: false, reason: 'command must be a JSON object' } },
  { name: 'a JSON string', cmd: 'reboot', payload: '"reboot"', want: { ok: false, reason: 'command must be a JSON object' } },
  { name: 'JSON null', cmd: 'reboot', payload: 'null', want: { ok: false, reason: 'command must be a JSON object' } },
  { name: 'oversized', cmd: 'reboot', payload: big, want: { ok: false, reason: `oversized: ${big.length} bytes, limit 1024` } },
  { name: 'invalid JSON: unterminated', cmd: 'reboot', payload: '{"id":"j1"', want: { ok: false, reason: 'invalid JSON' } },
  { name: 'invalid JSON: trailing garbage', cmd: 'reboot', payload: '{"id":"j2"} x', want: { ok: false, reason: 'invalid JSON' } },
  { name: 'invalid JSON: single quotes', cmd: 'reboot', payload: "{'id':'j3'}", want: { ok: false, reason: 'invalid JSON' } },
  { name: 'invalid JSON: bare word', cmd: 'config', payload: 'reboot', want: { ok: false, reason: 'invalid JSON' } },
  { name: 'invalid JSON: empty', cmd: 'config', payload: '', want: { ok: false, reason: 'invalid JSON' } },
  { name: 'invalid JSON: leading zero', cmd: 'config', payload: '{"id":"j4","set":{"debug.level":03}}', want: { ok: false, reason: 'invalid JSON' } },
  { name: 'too deeply nested', cmd: 'config', payload: '{"id":"j5","set":{"a":[[[[1]]]]}}', want: { ok: false, reason: 'invalid JSON' } },
  { name: 'non-ASCII bytes', cmd: 'config', payload: '{"id":"j6","set":{"sys.tz_spec":"é"}}', want: { ok: false, reason: 'invalid JSON' } },
  { name: 'a \\u escape outside printable ASCII', cmd: 'config', payload: '{"id":"j7","set":{"sys.tz_spec":"\\u00e9"}}', want: { ok: false, reason: 'invalid JSON' } },
  { name: 'binary garbage', cmd: 'reboot', payload: new Uint8Array([0xff, 0x00, 0x7b, 0x22]), want: { ok: false, reason: 'invalid JSON' } },
];

describe('agent: commands (table-driven)', () => {
  for (const c of CASES) {
    it(`${c.name} → ${c.want === null ? 'nothing' : c.want.ok ? 'result' : `refused: ${String(c.want.reason)}`}`, () => {
      const b = board();
      const before = snapshot(b);
      const n = b.pubs.length;
      b.deliver(CMD(c.cmd), c.payload);
      expect(b.errors).toEqual([]);
      const out = b.pubs.slice(n);
      if (c.want === null) {
        expect(out).toEqual([]);
      } else {
        expect(out).toHaveLength(1);
        expect(out[0]).toMatchObject({ topic: EVENTS, retain: false, qos: 1 });
        const ev = JSON.parse(out[0]!.msg) as Record<string, unknown>;
        expect(ev).toMatchObject({ event: 'cmd_result', ...c.want });
        if (!('id' in c.want)) expect(ev.id).toBeNull();
        expect(/^[\x20-\x7e]*$/.test(out[0]!.msg)).toBe(true);
      }
      if (!c.changes) expect(snapshot(b)).toEqual(before);
      c.check?.(b);
    });
  }

  it('a replayed command id is ignored: no second effect, no second result — across a reboot too', () => {
    const b = board();
    b.deliver(CMD('reboot'), '{"id":"same"}');
    expect(b.reboots).toEqual([1000]);
    const n = b.pubs.length;
    b.deliver(CMD('reboot'), '{"id":"same"}');
    b.deliver(CMD('config'), '{"id":"same","set":{"debug.level":4}}');
    expect(b.reboots).toEqual([1000]);
    expect(b.pubs.length).toBe(n);
    expect(b.cfg('debug.level')).toBe(2);
    // The next boot reads the ids back from the board's own file.
    const again = new EmulatedMgos({ conf9: CONF9, files: { 'espfleet_ids.json': new TextDecoder().decode(b.files.get('espfleet_ids.json')) } }).boot();
    again.connack();
    const m = again.pubs.length;
    again.deliver(CMD('reboot'), '{"id":"same"}');
    expect(again.reboots).toEqual([]);
    expect(again.pubs.length).toBe(m);
  });

  it('keeps only the last 16 ids; a corrupt ids file is ignored, not an mJS error', () => {
    const b = board({}, { 'espfleet_ids.json': '["a",' });
    for (let i = 0; i < 20; i++) b.deliver(CMD('renew'), JSON.stringify({ id: `n${i}` }));
    expect(b.errors).toEqual([]);
    const ids = JSON.parse(new TextDecoder().decode(b.files.get('espfleet_ids.json'))) as string[];
    expect(ids).toHaveLength(16);
    expect(ids[0]).toBe('n4');
    expect(ids.at(-1)).toBe('n19');
  });

  it('commands on another board\'s topic never reach the handlers', () => {
    const b = board();
    const n = b.pubs.length;
    b.deliver(`devices/other/cmd/reboot`, '{"id":"x1"}');
    expect(b.pubs.length).toBe(n);
    expect(b.reboots).toEqual([]);
  });
});
