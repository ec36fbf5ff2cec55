// A complete factory station in a directory, for the demo and the station benchmark:
// a fleet CA, a keystore, a signed demo bundle, its public signing key and a
// station.toml naming them. The CA and keystore passphrases come from
// $ESPFLEET_CA_PASSPHRASE / $ESPFLEET_KEYSTORE_PASSPHRASE when set; any that is generated
// is kept in <workdir>/passphrases.env (mode 0600, never printed), so the station, its
// keystore and CA can be opened again after the demo.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
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
  /** Where set passphrases are taken from (default process.env). */
  env?: Record<string, string | undefined>;
}

export interface DemoStation {
  stationPath: string;
  /** The station's environment: where openStation finds the CA and keystore passphrases. */
  env: Record<string, string>;
  bundleBytes: number;
  version: string;
  /** The 0600 file holding the generated passphrases, or undefined when both were given. */
  passphrasesFile: string | undefined;
  /** How to use the station afterwards: shell lines, no secrets in them. */
  usage: string[];
}

export const PASSPHRASES_FILE = 'passphrases.env';

/** `NAME='value'` lines a POSIX shell can source (`set -a; . file; set +a`). */
function writePassphrases(path: string, values: Record<string, string>): void {
  const text = Object.entries(values)
    .map(([k, v]) => `${k}='${v.replace(/'/g, "'\\''")}'\n`)
    .join('');
  // 'wx' + 0600: created for the owner only, never written over another file.
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, `# Passphrases of the demo station in this directory (scripts/demo). Keep this file private.\n${text}`);
  } finally {
    closeSync(fd);
  }
}

export async function createDemoStation(opts: DemoStationOptions): Promise<DemoStation> {
  const say = opts.say ?? (() => {});
  const { workdir } = opts;
  const version = opts.version ?? '1.0.0';
  const given = opts.env ?? process.env;
  const generated: Record<string, string> = {};
  const pick = (name: string): string => {
    const set = given[name];
    if (set !== undefined && set !== '') return set;
    return (generated[name] = randomBytes(24).toString('base64'));
  };
  const env = { [CA_PASSPHRASE_ENV]: pick(CA_PASSPHRASE_ENV), [KEYSTORE_PASSPHRASE_ENV]: pick(KEYSTORE_PASSPHRASE_ENV) };
  const passphrasesFile = Object.keys(generated).length > 0 ? join(workdir, PASSPHRASES_FILE) : undefined;
  // Written before the CA and keystore exist, so a passphrase is never lost with them.
  if (passphrasesFile) writePassphrases(passphrasesFile, generated);
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
  const usage = [
    ...(passphrasesFile
      ? [`set -a; . ${passphrasesFile}; set +a      # ${Object.keys(generated).join(', ')} (generated; the file is mode 0600)`]
      : [`# with ${CA_PASSPHRASE_ENV} and ${KEYSTORE_PASSPHRASE_ENV} set as they were for the demo:`]),
    `npx espfleet devices list --station ${stationPath}`,
    `npx espfleet audit verify --station ${stationPath}`,
    `npx espfleet keystore list --keystore ${join(workdir, 'keystore.json')}`,
    `npx espfleet keystore export --keystore ${join(workdir, 'keystore.json')} --mac <MAC> --out ${join(workdir, 'board.key')}`,
    `npx espfleet ca list --ca-dir ${join(workdir, 'ca')}`,
  ];
  return { stationPath, env, bundleBytes: signed.length, version, passphrasesFile, usage };
}
