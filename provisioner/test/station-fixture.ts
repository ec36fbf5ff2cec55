// The files of a factory station in a directory, for tests: a fleet CA (passphrase in a
// 0600 file), a keystore unlocked by a key file, a demo bundle signed with a fresh key, its
// public key, and a station.toml naming them. Every secret is generated here, at test time.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createKeystore, initCa } from '../../certs/index.ts';
import { generateSigningKey, signBundle } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';

export interface StationFixtureOptions {
  id: string;
  operator?: string;
  /** The signed bundle's firmware, or a bundle of the caller's own (signed here). */
  firmware?: { version: string; appSize?: number } | { bundle: Uint8Array };
  mqttServer?: string;
  encryption?: 'off' | 'development' | 'release';
  ports?: readonly string[];
  /** More TOML tables, appended as they are. */
  extraToml?: string;
  /** The CA already made at `<dir>/ca` with this passphrase (e.g. before a broker that needs it). */
  caPassphrase?: string;
}

export interface StationFixture {
  stationPath: string;
  caDir: string;
  keystorePath: string;
  keystoreKeyFile: string;
  /** The key the station's boards trust in update.key0 (in memory only): tests sign update bundles with it. */
  signer: { privateKeyPem: string; publicKeyPem: string };
}

export async function writeStationFixture(dir: string, opts: StationFixtureOptions): Promise<StationFixture> {
  const caDir = join(dir, 'ca');
  const passphrase = opts.caPassphrase ?? randomBytes(24).toString('base64');
  if (opts.caPassphrase === undefined) await initCa({ dir: caDir, passphrase });
  writeFileSync(join(dir, 'ca.pass'), `${passphrase}\n`, { mode: 0o600 });
  const keystoreKeyFile = join(dir, 'keystore.key');
  writeFileSync(keystoreKeyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const keystorePath = join(dir, 'keys.json');
  await createKeystore(keystorePath, { keyFile: keystoreKeyFile });
  const signer = generateSigningKey();
  writeFileSync(join(dir, 'sign0.pub.pem'), signer.publicKeyPem);
  const firmware = opts.firmware ?? { version: '1.0.0' };
  const bundle = 'bundle' in firmware ? firmware.bundle : makeDemoFirmware(firmware).bundle;
  writeFileSync(join(dir, 'fw.zip'), signBundle(bundle, signer.privateKeyPem, 0));
  const stationPath = join(dir, 'station.toml');
  const tables = [
    `[station]\nid = "${opts.id}"\noperator = "${opts.operator ?? 'tester'}"`,
    '[firmware]\nbundle = "fw.zip"\nsigning_keys = ["sign0.pub.pem"]',
    '[ca]\ndir = "ca"\npassphrase_file = "ca.pass"',
    '[keystore]\npath = "keys.json"\nkey_file = "keystore.key"',
    `[mqtt]\nserver = "${opts.mqttServer ?? 'mqtt.example.net:8883'}"`,
    '[agent.wifi.ap]\nenable = false',
    ...(opts.encryption ? [`[encryption]\nmode = "${opts.encryption}"`] : []),
    ...(opts.ports ? [`[ports]\nurls = [${opts.ports.map((p) => JSON.stringify(p)).join(', ')}]`] : []),
    ...(opts.extraToml ? [opts.extraToml.trim()] : []),
  ];
  writeFileSync(stationPath, `${tables.join('\n\n')}\n`);
  return { stationPath, caDir, keystorePath, keystoreKeyFile, signer };
}
