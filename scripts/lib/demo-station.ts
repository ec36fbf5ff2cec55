// A complete factory station in a directory, for the demo and the station benchmark:
// a fleet CA, a keystore, a signed demo bundle, its public signing key and a
// station.toml naming them. The passphrases are returned as the station's environment
// and never written: the CA and keystore are throwaway.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createKeystore, initCa } from '../../certs/index.ts';
import { generateSigningKey, signBundle, verifyBundle } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { CA_PASSPHRASE_ENV, KEYSTORE_PASSPHRASE_ENV } from '../../provisioner/station/config.ts';

export interface DemoStationOptions {
  workdir: string;
  ports: readonly string[];
  encryption?: 'off' | 'development' | 'release';
  appSize?: number;
  version?: string;
  say?: (line: string) => void;
}

export interface DemoStation {
  stationPath: string;
  /** The station's environment: where openStation finds the CA and keystore passphrases. */
  env: Record<string, string>;
  bundleBytes: number;
  version: string;
}

export async function createDemoStation(opts: DemoStationOptions): Promise<DemoStation> {
  const say = opts.say ?? (() => {});
  const { workdir } = opts;
  const version = opts.version ?? '1.0.0';
  const env = { [CA_PASSPHRASE_ENV]: randomBytes(24).toString('base64'), [KEYSTORE_PASSPHRASE_ENV]: randomBytes(24).toString('base64') };
  await initCa({ dir: join(workdir, 'ca'), passphrase: env[CA_PASSPHRASE_ENV] as string });
  say('fleet CA created (root + issuing intermediate, EC P-256, keys encrypted at rest)');
  await createKeystore(join(workdir, 'keystore.json'), { passphrase: env[KEYSTORE_PASSPHRASE_ENV] as string });
  say('keystore created (flash-encryption keys escrowed under AES-256-GCM)');

  const signer = generateSigningKey();
  const demo = makeDemoFirmware({ version, ...(opts.appSize === undefined ? {} : { appSize: opts.appSize }) });
  const signed = signBundle(demo.bundle, signer.privateKeyPem, 0);
  writeFileSync(join(workdir, 'fw.zip'), signed);
  // Only the public half is kept: the station checks the bundle with it and writes it to update.key0.
  writeFileSync(join(workdir, 'signing-key-0.pub.pem'), signer.publicKeyPem);
  const verdict = verifyBundle(signed, [signer.publicKeyPem], 1);
  if (!verdict.accepted) throw new Error(`demo bundle does not verify: ${verdict.reason}`);
  say(`demo bundle ${version} (${signed.length} bytes) signed in slot 0 and verified`);

  const stationPath = join(workdir, 'station.toml');
  writeFileSync(
    stationPath,
    `# Written by scripts/lib/demo-station.ts; see docs/station.example.toml for every key.
[station]
id = "demo-station"
operator = "demo"

[firmware]
bundle = "fw.zip"
signing_keys = ["signing-key-0.pub.pem"]
require_signatures = true

[ca]
dir = "ca"            # passphrase from $${CA_PASSPHRASE_ENV}

[keystore]
path = "keystore.json" # passphrase from $${KEYSTORE_PASSPHRASE_ENV}

[mqtt]
server = "mqtt.example.net:8883"

[agent.wifi.ap]
enable = false

[encryption]
mode = "${opts.encryption ?? 'development'}"

[ports]
urls = [${opts.ports.map((p) => JSON.stringify(p)).join(', ')}]

[paths]
registry = "registry.sqlite"
audit = "audit.jsonl"
journal_dir = "journal"
`,
  );
  say(`station config written: ${stationPath}`);
  return { stationPath, env, bundleBytes: signed.length, version };
}
