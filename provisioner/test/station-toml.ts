// The station.toml of the CLI tests that provision virtual boards: one place for the
// sections every station needs, each test naming only what it varies.

export interface StationTomlOptions {
  id?: string;
  operator?: string;
  caDir?: string;
  caPassFile?: string;
  keystore?: string;
  keyFile?: string;
  mirrors?: string[];
  mode?: 'development' | 'release';
  registry?: string;
  audit?: string;
  journalDir?: string;
  ports?: string[];
  /** Appended as it is (more sections). */
  extra?: string;
}

const list = (items: string[]) => `[${items.map((p) => JSON.stringify(p)).join(', ')}]`;

export function stationToml(o: StationTomlOptions = {}): string {
  const paths = [
    ...(o.registry === undefined ? [] : [`registry = ${JSON.stringify(o.registry)}`]),
    ...(o.audit === undefined ? [] : [`audit = ${JSON.stringify(o.audit)}`]),
    ...(o.journalDir === undefined ? [] : [`journal_dir = ${JSON.stringify(o.journalDir)}`]),
  ];
  return `[station]
id = ${JSON.stringify(o.id ?? 'test-line')}
operator = ${JSON.stringify(o.operator ?? 'tester')}

[firmware]
bundle = "fw.zip"
signing_keys = ["sign0.pub.pem"]

[ca]
dir = ${JSON.stringify(o.caDir ?? 'ca')}
passphrase_file = ${JSON.stringify(o.caPassFile ?? 'ca.pass')}

[keystore]
path = ${JSON.stringify(o.keystore ?? 'keys.json')}
key_file = ${JSON.stringify(o.keyFile ?? 'keystore.key')}
${o.mirrors === undefined ? '' : `mirrors = ${list(o.mirrors)}\n`}
[mqtt]
server = "mqtt.example.net:8883"

[agent.wifi.ap]
enable = false

[encryption]
mode = ${JSON.stringify(o.mode ?? 'development')}
${paths.length === 0 ? '' : `\n[paths]\n${paths.join('\n')}\n`}${o.ports === undefined ? '' : `\n[ports]\nurls = ${list(o.ports)}\n`}${o.extra ?? ''}`;
}
