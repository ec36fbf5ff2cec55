// One provisioned agent board for the board-level agent tests: the station (CA made first, so
// the broker could be started from it) provisions the virtual board at `port` with a signed
// bundle carrying the agent's files, pointed at the test broker. Returns the device id (and,
// for OTA tests, the bundle signing key the board trusts).
import { join } from 'node:path';
import { expect } from 'vitest';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { espfleet } from '../../provisioner/test/cli-harness.ts';
import { writeStationFixture } from '../../provisioner/test/station-fixture.ts';
import { agentFsFiles } from '../agent-files.ts';

export async function provisionAgentBoard(dir: string, opts: { id: string; caPassphrase: string; mqttServer: string; port: string }): Promise<string> {
  return (await provisionAgentBoardWithSigner(dir, opts)).deviceId;
}

/** The same, also returning the key the board trusts in update.key0 (OTA tests sign bundles with it). */
export async function provisionAgentBoardWithSigner(dir: string, opts: { id: string; caPassphrase: string; mqttServer: string; port: string }): Promise<{ deviceId: string; signer: { privateKeyPem: string; publicKeyPem: string } }> {
  const fw = makeDemoFirmware({ name: 'espfleet-agent', version: '1.0.0', appSize: 0x18000, fsFiles: agentFsFiles() });
  const station = await writeStationFixture(dir, { id: opts.id, operator: 'tech', caPassphrase: opts.caPassphrase, firmware: { bundle: fw.bundle }, mqttServer: opts.mqttServer, encryption: 'development', ports: [opts.port] });
  const prov = await espfleet(['provision', '--station', join(dir, 'station.toml'), '--json']);
  expect(prov.code, prov.stderr).toBe(0);
  const [row] = JSON.parse(prov.stdout) as Array<{ result: string; deviceId: string }>;
  expect(row?.result).toBe('provisioned');
  return { deviceId: row!.deviceId, signer: station.signer };
}
