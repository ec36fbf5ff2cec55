// The generated mosquitto profile against a real mosquitto 2.0: only fleet
// certificates get in, over TLS ≥ 1.2, each board stays in its own subtree, and a
// revoked board is refused after the documented CRL reload (DESIGN.md invariant 4).
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildCrl, initCa, issueClientCert, issueDeviceCert, openCa, revoke, writeBrokerProfile,
  type BrokerProfile, type Ca, type IssuedWithKey,
} from '../index.ts';
import { tempDir, testPassphrase } from './helpers.ts';
import { connectClient, connectOutcome, freePort, MOSQUITTO, mosquittoAvailable, recorder, startMosquitto, waitUntil, type Broker } from './mosquitto-harness.ts';

const available = mosquittoAvailable();
const tmp = tempDir('espfleet-broker-');
const passphrase = testPassphrase();
const clients: MqttClient[] = [];
let ca: Ca;
let profile: BrokerProfile;
let broker: Broker | undefined;
let port: number;
let caPem: string;
let boardA: IssuedWithKey;
let boardB: IssuedWithKey;
let operator: IssuedWithKey;

const idOf = (c: IssuedWithKey) => ({ cert: c.chainPem, key: c.privateKeyPem });
async function client(c: IssuedWithKey): Promise<MqttClient> {
  const cl = await connectClient(port, caPem, idOf(c));
  clients.push(cl);
  return cl;
}

describe.skipIf(!available)(`mosquitto profile (needs ${MOSQUITTO})`, () => {
  beforeAll(async () => {
    ca = await initCa({ dir: join(tmp.path, 'ca'), passphrase });
    [boardA, boardB, operator] = await Promise.all([
      issueDeviceCert(ca, { cn: 'board-a' }),
      issueDeviceCert(ca, { cn: 'board-b' }),
      issueClientCert(ca, { role: 'operator', name: 'alice' }),
    ]);
    await issueClientCert(ca, { role: 'renewer', name: 'renewd' });
    port = await freePort();
    profile = await writeBrokerProfile(ca, {
      outDir: join(tmp.path, 'broker'),
      host: 'localhost',
      ip: ['127.0.0.1'],
      port,
      bindAddress: '127.0.0.1',
      // Started as root, mosquitto would switch to "mosquitto", which cannot read a root-owned 0600 key.
      ...(process.getuid?.() === 0 ? { user: 'root' } : {}),
    });
    caPem = readFileSync(profile.paths.cafile, 'utf8');
    broker = await startMosquitto(profile.confPath);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await broker?.stop();
    tmp.cleanup();
  });

  it('writes a profile with one TLS listener, client certificates required and a private key only its owner reads', () => {
    const conf = readFileSync(profile.confPath, 'utf8');
    expect(conf.match(/^listener /gm)).toHaveLength(1);
    for (const line of ['per_listener_settings false', 'allow_anonymous false', 'require_certificate true', 'use_identity_as_username true', 'use_username_as_clientid true', 'tls_version tlsv1.2']) {
      expect(conf).toContain(`\n${line}\n`);
    }
    expect(conf).toMatch(/^ciphers ECDHE-ECDSA-AES128-GCM-SHA256:/m);
    expect(statSync(profile.paths.keyfile).mode & 0o777).toBe(0o600);
    // mosquitto opened exactly the one TLS listener (v4 only: bound to 127.0.0.1), no default 1883.
    expect(broker?.log().match(/listen socket on port \d+/g)).toEqual([`listen socket on port ${port}`]);
    const acl = readFileSync(profile.paths.acl, 'utf8');
    expect(acl).toContain('user operator:alice\ntopic read devices/#\ntopic write devices/+/cmd/#\n');
    expect(acl).toContain('user renewer:renewd\ntopic read devices/+/cert/csr\ntopic write devices/+/cert/issued\n');
    expect(acl.split('\n').filter((l) => l.startsWith('pattern '))).toEqual([
      'pattern write devices/%u/status',
      'pattern write devices/%u/events',
      'pattern write devices/%u/ota/status',
      'pattern write devices/%u/cert/csr',
      'pattern read devices/%u/cmd/#',
      'pattern read devices/%u/cert/issued',
    ]);
  });

  it('lets a board publish and receive under its own subtree', async () => {
    const a = await client(boardA);
    const op = await client(operator);
    const aSeen = recorder(a);
    const opSeen = recorder(op);
    await a.subscribeAsync('devices/board-a/cmd/#', { qos: 1 });
    await op.subscribeAsync('devices/#', { qos: 1 });
    await a.publishAsync('devices/board-a/status', '{"online":true}', { qos: 1 });
    await op.publishAsync('devices/board-a/cmd/reboot', 'now', { qos: 1 });
    await waitUntil(() => aSeen.some((m) => m.topic === 'devices/board-a/cmd/reboot'), 'A to receive its command');
    await waitUntil(() => opSeen.some((m) => m.topic === 'devices/board-a/status'), 'operator to see A status');
  });

  it("keeps B's messages from A whatever A subscribes to", async () => {
    const a = await client(boardA);
    const b = await client(boardB);
    const op = await client(operator);
    const aSeen = recorder(a);
    for (const filter of ['devices/board-b/#', 'devices/+/cmd/#', '#']) await a.subscribeAsync(filter, { qos: 1 });
    await b.publishAsync('devices/board-b/status', '{"online":true,"secret":"b"}', { qos: 1, retain: true });
    await b.publishAsync('devices/board-b/events', 'b-event', { qos: 1 });
    await op.publishAsync('devices/board-b/cmd/ota', 'b-ota', { qos: 1 });
    // A sentinel A may read, sent after B's traffic: once it arrives, B's would have too.
    await op.publishAsync('devices/board-a/cmd/sentinel', 'done', { qos: 1 });
    await waitUntil(() => aSeen.some((m) => m.topic === 'devices/board-a/cmd/sentinel'), 'the sentinel');
    expect(aSeen.filter((m) => m.topic.includes('board-b'))).toEqual([]);
    // Retained messages are filtered too: a fresh subscription gets nothing of B's.
    const a2 = await client(boardA);
    const a2Seen = recorder(a2);
    await a2.subscribeAsync('devices/board-b/#', { qos: 1 });
    await a2.subscribeAsync('devices/board-a/cmd/#', { qos: 1 });
    await op.publishAsync('devices/board-a/cmd/sentinel2', 'done', { qos: 1 });
    await waitUntil(() => a2Seen.some((m) => m.topic.endsWith('sentinel2')), 'the second sentinel');
    expect(a2Seen.filter((m) => m.topic.includes('board-b'))).toEqual([]);
  });

  it("does not deliver A's publish into B's command topic", async () => {
    const a = await client(boardA);
    const b = await client(boardB);
    const op = await client(operator);
    const bSeen = recorder(b);
    const opSeen = recorder(op);
    await b.subscribeAsync('devices/board-b/cmd/#', { qos: 1 });
    await op.subscribeAsync('devices/#', { qos: 1 });
    await a.publishAsync('devices/board-b/cmd/ota', 'forged', { qos: 1 });
    await a.publishAsync('devices/board-b/status', 'forged', { qos: 1 });
    await a.publishAsync('devices/board-a/events', 'after-forgery', { qos: 1 });
    await op.publishAsync('devices/board-b/cmd/sentinel', 'done', { qos: 1 });
    await waitUntil(() => opSeen.some((m) => m.payload === 'after-forgery'), "the operator to see A's later event");
    await waitUntil(() => bSeen.some((m) => m.topic.endsWith('sentinel')), 'B to get the sentinel');
    expect(opSeen.filter((m) => m.payload === 'forged')).toEqual([]);
    expect(bSeen.filter((m) => m.payload === 'forged')).toEqual([]);
  });

  it('refuses clients without a certificate, from another CA, expired, or offering only TLS 1.1', async () => {
    expect(await connectOutcome(port, caPem, {})).toMatch(/^refused.*certificate required/);
    const other = await initCa({ dir: join(tmp.path, 'other-ca'), passphrase: testPassphrase() });
    const stranger = await issueDeviceCert(other, { cn: 'board-a' });
    expect(await connectOutcome(port, caPem, idOf(stranger))).toMatch(/^refused.*unknown ca/);
    const expired = await issueDeviceCert(ca, { cn: 'board-old', notBefore: new Date(Date.now() - 3 * 86_400_000), days: 1 });
    expect(expired.notAfter.getTime()).toBeLessThan(Date.now());
    expect(await connectOutcome(port, caPem, idOf(expired))).toMatch(/^refused.*certificate expired/);
    const tls11 = { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;
    expect(await connectOutcome(port, caPem, idOf(boardA), tls11)).toMatch(/^refused.*protocol version/);
    // The same identity over TLS 1.2 is accepted, so the version was the reason.
    expect(await connectOutcome(port, caPem, idOf(boardA), { maxVersion: 'TLSv1.2' })).toBe('connected');
    // TLS 1.2 with only a CBC suite (not in the profile's list) finds no shared cipher.
    const cbcOnly = { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256' } as const;
    expect(await connectOutcome(port, caPem, idOf(boardA), cbcOnly)).toMatch(/^refused.*handshake failure/);
    // Plain MQTT on the TLS port gets nowhere (without a key pair mqtt.js really sends plain MQTT).
    expect(await connectOutcome(port, caPem, {}, { protocol: 'mqtt', connectTimeout: 1500 })).toMatch(/^refused/);
    expect(broker?.log()).toMatch(/unsupported protocol|wrong version|no protocols available|version too low/i);
  });

  it("does not let A take over B's session by claiming B's client id", async () => {
    // Mongoose OS uses the device id as its MQTT client id.
    const b = await connectClient(port, caPem, idOf(boardB), { clientId: 'board-b' });
    clients.push(b);
    const bSeen = recorder(b);
    await b.subscribeAsync('devices/board-b/cmd/#', { qos: 1 });
    const impostor = await connectClient(port, caPem, idOf(boardA), { clientId: 'board-b' });
    clients.push(impostor);
    const op = await client(operator);
    await op.publishAsync('devices/board-b/cmd/ping', 'still-there', { qos: 1 });
    await waitUntil(() => bSeen.some((m) => m.payload === 'still-there'), 'B to stay connected and get its command');
    expect(b.connected).toBe(true);
  });

  it('refuses a revoked board after the new CRL is written and mosquitto reloads (SIGHUP)', async () => {
    await revoke(ca, boardA.serialHex, 'keyCompromise');
    writeFileSync(profile.paths.crlfile, buildCrl(ca).crlPem);
    // Without a reload mosquitto keeps the CRL it loaded at start: A still gets in.
    const before = await client(boardA);
    await broker?.reload();
    expect(await connectOutcome(port, caPem, idOf(boardA))).toMatch(/^refused.*certificate revoked/);
    expect(await connectOutcome(port, caPem, idOf(boardB))).toBe('connected');
    expect(broker?.log()).toMatch(/certificate verify failed/);
    // mosquitto 2.0.11 keeps sessions that were already open: they must be cut separately.
    await new Promise((r) => setTimeout(r, 300));
    expect(before.connected).toBe(true);
  });

  it('locks every board out once the loaded CRL is past nextUpdate (so publish CRLs early)', async () => {
    const past = openCa(ca.dir, passphrase, { clock: () => new Date(Date.now() - 10 * 86_400_000) });
    writeFileSync(profile.paths.crlfile, buildCrl(past, { nextUpdateDays: 1, writeToCaDir: false }).crlPem);
    await broker?.reload();
    // B's own certificate is fine; OpenSSL reports the stale CRL as "certificate expired".
    expect(await connectOutcome(port, caPem, idOf(boardB))).toMatch(/^refused.*certificate expired/);
    writeFileSync(profile.paths.crlfile, buildCrl(ca).crlPem);
    await broker?.reload();
    expect(await connectOutcome(port, caPem, idOf(boardB))).toBe('connected');
  });
});
