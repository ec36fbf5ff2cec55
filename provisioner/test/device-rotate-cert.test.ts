// Issue 16, field rotation over USB, on an encrypted virtual board running the agent against a
// real mosquitto with the generated profile: `espfleet device rotate-cert` gets a CSR made on
// the board, signs it, the board installs it try_once and reconnects on it; the registry and
// the audit log take the new certificate and the old one is revoked; once the CRL is
// published the old certificate can no longer connect. Every byte on the wire both ways is
// kept: the new private key is not among them. A certificate the broker refuses is not kept
// by the board (back on its old pair) and is revoked as unused.
import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCrl, initCa, openCa, type Ca } from '../../certs/index.ts';
import { MOSQUITTO, connectOutcome, mosquittoAvailable, recorder, waitUntil } from '../../certs/test/mosquitto-harness.ts';
import { VirtualEsp32, registerSimBoard } from '../../hil-tests/index.ts';
import { startFleetBroker, type FleetBroker } from '../../hil-tests/test/helpers/fleet-broker.ts';
import { hardReset } from '../../hil-tests/test/helpers/firmware-set.ts';
import { agentFirmware } from '../../agent/test/agent-firmware.ts';
import { provisionAgentBoard } from '../../agent/test/provisioned-agent-board.ts';
import { openRegistry } from '../station/registry-sqlite.ts';
import { espfleet } from './cli-harness.ts';

const available = mosquittoAvailable();
const dir = mkdtempSync(join(tmpdir(), 'espfleet-rotate-cert-'));
const chip = new VirtualEsp32({ name: `rotate-${process.pid}` });
const unregister = registerSimBoard(chip.options.name, chip);
const port = `sim://${chip.options.name}`;
let fleet: FleetBroker | undefined;
let passphrase = '';
let deviceId = '';
let seen: Array<{ topic: string; payload: string }> = [];

// Both directions of the board's UART, as a logic analyser on the cable would see them.
const wire: Buffer[] = [];
chip.onTransmit((b) => wire.push(Buffer.from(b)));
const toChip = chip.receive.bind(chip);
chip.receive = (b: Uint8Array) => {
  wire.push(Buffer.from(b));
  toChip(b);
};

afterAll(async () => {
  unregister();
  chip.powerOff();
  await fleet?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const args = () => ['--port', port, '--ca-dir', join(dir, 'ca'), '--passphrase-file', join(dir, 'ca.pass'), '--station', join(dir, 'station.toml')];
const cfg = async (key: string) => (await espfleet(['device', 'config', 'get', key, '--port', port])).stdout.trim();
const onlineSince = (n: number) => seen.slice(n).filter((m) => m.topic === `devices/${deviceId}/status` && m.payload.includes('"online":true'));

async function registryRecord(): Promise<{ certSerial: string | null; status: string }> {
  const reg = await openRegistry(join(dir, 'registry.sqlite'), { readOnly: true });
  try {
    return (await reg.get(deviceId))!;
  } finally {
    await reg.close();
  }
}

async function reloadCrl(ca: Ca): Promise<void> {
  writeFileSync(join(fleet!.dir, 'broker', 'crl.pem'), buildCrl(ca).crlPem);
  await fleet!.broker.reload();
}

describe.skipIf(!available)(`espfleet device rotate-cert on an encrypted board against mosquitto (needs ${MOSQUITTO})`, () => {
  beforeAll(async () => {
    chip.powerOn();
    passphrase = randomBytes(24).toString('base64');
    const ca = await initCa({ dir: join(dir, 'ca'), passphrase });
    fleet = await startFleetBroker({ ca });
    deviceId = await provisionAgentBoard(dir, { id: 'rotate-line', caPassphrase: passphrase, mqttServer: fleet.server, port });
    const ops = await fleet.operator();
    seen = recorder(ops);
    await ops.subscribeAsync('devices/#');
    chip.attachFirmware(agentFirmware());
    await hardReset(chip);
    await waitUntil(() => onlineSince(0).length > 0, `the first status (log: ${chip.bootLog().slice(-600)})`, 15_000);
  }, 180_000);

  it('rotates: CSR from the board, new certificate in use on the broker, registry and audit updated, old one revoked and refused; no key on the wire', async () => {
    const oldSerial = (await registryRecord()).certSerial!;
    const oldCert = (await espfleet(['device', 'fs', 'get', 'device.crt', '--port', port])).stdout;
    const oldKey = (await espfleet(['device', 'fs', 'get', 'device.key', '--port', port])).stdout;
    wire.length = 0;
    const n = seen.length;
    const r = await espfleet(['device', 'rotate-cert', ...args(), '--json']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const out = JSON.parse(r.stdout) as { deviceId: string; old: { file: string; serialHex: string }; issued: { file: string; serialHex: string }; revokedOld: string };
    expect(out).toMatchObject({ deviceId, old: { file: 'device.crt', serialHex: oldSerial.toLowerCase() }, issued: { file: 'espfleet_a.crt' }, revokedOld: oldSerial.toLowerCase() });
    expect(r.stderr).toContain('asking');
    const captured = Buffer.concat(wire);
    wire.length = 0;

    // The board runs on the new pair, committed; it reconnected with it.
    expect(await cfg('mqtt.ssl_cert')).toBe('espfleet_a.crt');
    expect(await cfg('mqtt.ssl_key')).toBe('espfleet_a.key');
    expect(onlineSince(n).length).toBeGreaterThan(0);
    const newCert = (await espfleet(['device', 'fs', 'get', 'espfleet_a.crt', '--port', port])).stdout;
    expect(newCert).toContain('-----BEGIN CERTIFICATE-----');

    // Registry: the new serial, still provisioned. Audit: the rotation, then the revocation.
    const rec = await registryRecord();
    expect(rec.certSerial?.toLowerCase()).toBe(out.issued.serialHex.toLowerCase());
    expect(rec.status).toBe('provisioned');
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { action: string; subject: Record<string, string>; details: Record<string, unknown> });
    expect(audit.slice(-2).map((e) => e.action)).toEqual(['certificate.rotate', 'certificate.revoke']);
    expect(audit.at(-2)).toMatchObject({ subject: { deviceId, serial: out.issued.serialHex }, details: { old: oldSerial.toLowerCase(), via: 'usb (espfleet device rotate-cert)' } });
    expect(audit.at(-1)).toMatchObject({ subject: { serial: oldSerial.toLowerCase(), cn: deviceId }, details: { reason: 'superseded' } });
    expect((await espfleet(['audit', 'verify', '--station', join(dir, 'station.toml')])).code).toBe(0);

    // The CA says the old one is revoked; with the new CRL loaded the broker refuses it.
    const ca = await openCa(join(dir, 'ca'), passphrase);
    await reloadCrl(ca);
    expect(await connectOutcome(fleet!.port, fleet!.caPem, { cert: oldCert, key: oldKey })).toMatch(/^refused/);
    expect(await connectOutcome(fleet!.port, fleet!.caPem, { cert: oldCert.replace(/[\s\S]*/, newCert), key: oldKey })).toMatch(/^refused/); // the new certificate is no use without its key

    // Nothing of the new private key went over the cable, in any encoding.
    const keyPem = (await espfleet(['device', 'fs', 'get', 'espfleet_a.key', '--port', port])).stdout;
    const jwk = createPrivateKey(keyPem).export({ format: 'jwk' }) as { d: string };
    const d = Buffer.from(jwk.d, 'base64url');
    const der = createPrivateKey(keyPem).export({ format: 'der', type: 'pkcs8' });
    expect(captured.length).toBeGreaterThan(2000); // the CSR and the certificate did go
    expect(captured.includes(d)).toBe(false);
    expect(captured.includes(der)).toBe(false);
    const text = captured.toString('latin1');
    expect(text).not.toContain('PRIVATE KEY');
    for (const s of [d.toString('hex'), d.toString('base64'), jwk.d, der.toString('base64').slice(0, 40), ...keyPem.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))]) {
      expect(text.includes(s), 'the wire carried key material').toBe(false);
    }
  }, 120_000);

  it('a certificate from another CA: the board refuses it and keeps its old pair; the command fails and revokes it as unused', async () => {
    const before = await cfg('mqtt.ssl_cert');
    const serialBefore = (await registryRecord()).certSerial;
    const other = await initCa({ dir: join(dir, 'other-ca'), passphrase });
    const r = await espfleet(['device', 'rotate-cert', ...args().map((a) => (a === join(dir, 'ca') ? join(dir, 'other-ca') : a))]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refused the new certificate: certificate refused: the certificate does not chain to the fleet CA; keeping the old pair/);
    expect(r.stderr).toContain('[field.rotate.refused]');
    const revoked = /revoked the unused new certificate ([0-9a-f]+)/.exec(r.stderr)?.[1];
    expect(revoked).toBeDefined();
    const { listIssued } = await import('../../certs/index.ts');
    expect(listIssued(await openCa(other.dir, passphrase)).find((c) => c.serialHex === revoked)?.status).toBe('revoked');
    expect(await cfg('mqtt.ssl_cert')).toBe(before);
    expect((await registryRecord()).certSerial).toBe(serialBefore);
    // No renewal left hanging on the board: a rotation with the right CA works at once.
    const status = (await espfleet(['device', 'call', 'Espfleet.CertStatus', '--port', port])).stdout;
    expect(JSON.parse(status)).toMatchObject({ phase: '', crt: before, mqtt_connected: true });
  }, 120_000);
});
