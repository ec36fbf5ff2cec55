// The CLI's flag vocabulary (docs/cli.md "Flags"): one spelling per concept across every
// command, and the old spellings kept for one release as hidden aliases that still work
// but warn on stderr. cli-vocabulary.test.ts walks every command and holds them to this.
import { InvalidArgumentError, Option, type Command } from 'commander';

export interface FlagConcept {
  /** The one spelling, as typed. */
  flag: string;
  concept: string;
  /** What every description of this flag must say, so one flag does not mean two things. */
  means: RegExp;
  /** A description that says this is the concept: any option described so must be spelled `flag`. */
  claims?: RegExp;
}

export const VOCABULARY: readonly FlagConcept[] = [
  { flag: '--port', concept: "a board's port: /dev/ttyUSB0, COM3, rfc2217://host:port or sim://name", means: /^the board: |^a port to provision/, claims: /^the board: |port to provision/i },
  { flag: '--ca-dir', concept: 'the fleet CA directory', means: /CA directory|directory for the CA/i, claims: /CA directory|directory for the CA/i },
  { flag: '--keystore', concept: 'the keystore file (escrowed flash-encryption keys)', means: /keystore/i },
  { flag: '--keystore-key-file', concept: 'unlock the keystore with its 32-byte key file', means: /unlock the keystore/i, claims: /unlock the keystore|unlock with a 32-byte key file/i },
  { flag: '--keystore-passphrase-file', concept: 'the keystore passphrase, from a file', means: /keystore passphrase/i, claims: /keystore passphrase|ESPFLEET_KEYSTORE_PASSPHRASE\b/i },
  { flag: '--passphrase-file', concept: "the passphrase of the command's own key (the CA key in ca and broker, the signing key in fw), from a file", means: /passphrase/i },
  { flag: '--registry', concept: 'the device registry (a file or a postgres:// URL)', means: /^registry/i, claims: /^registry (file|holding)/i },
  { flag: '--audit-log', concept: 'the audit log file', means: /^audit log file/i, claims: /^audit log/i },
  { flag: '--station', concept: 'the station config (station.toml)', means: /station/i, claims: /^station config/i },
  { flag: '--json', concept: 'the result as JSON on stdout (errors as {"error": …} too)', means: /JSON/, claims: /\bas JSON\b/ },
  { flag: '--progress', concept: 'how progress is shown on stderr: auto, bar, lines, json, none', means: /progress/i, claims: /how progress is shown/i },
  { flag: '--quiet', concept: 'no progress and no notes on stderr', means: /^no progress/i, claims: /^no progress/i },
  { flag: '--out', concept: 'the file a command writes', means: /./ },
  { flag: '--out-dir', concept: 'the directory a command writes into', means: /directory/i },
  { flag: '--baud', concept: 'the line speed to the board', means: /baud|line speed/i, claims: /^baud rate|^line speed/i },
  { flag: '--listen-port', concept: 'the TCP port a server (the broker) listens on', means: /TCP port/i },
  { flag: '--log', concept: "show the board's log lines on stderr", means: /board's log/i, claims: /board's log/i },
  { flag: '--timeout', concept: 'how long to wait for each reply, in ms', means: /wait/i },
  { flag: '--confirm', concept: 'really do an irreversible step (without it: a dry run)', means: /really|burn|irreversible/i },
  { flag: '--force', concept: 'replace an existing file', means: /replace|overwrite/i },
  { flag: '--broker', concept: 'the fleet broker as a client: mqtts://host:port', means: /^broker URL/, claims: /^broker URL/ },
  { flag: '--client-cert', concept: 'the client certificate chain a command talks to the broker with', means: /^client certificate chain/, claims: /^client certificate chain/ },
  { flag: '--client-key', concept: 'the private key of that client certificate', means: /^private key of that client certificate/ },
  { flag: '--broker-ca', concept: "the CA chain the broker's certificate is issued under", means: /broker's certificate/, claims: /broker's certificate/ },
  { flag: '--client-key-passphrase-file', concept: 'the passphrase of an encrypted client key, from a file', means: /client key/ },
];

export interface DeprecatedFlag {
  /** The old spelling, still accepted (hidden, with a warning) until the next release. */
  old: string;
  /** The one spelling now. */
  now: string;
  /** The commands (paths after `espfleet`) where the old spelling meant this. */
  commands: RegExp;
}

export const DEPRECATED: readonly DeprecatedFlag[] = [
  { old: '--dir', now: '--ca-dir', commands: /^ca / },
  { old: '--key-file', now: '--keystore-key-file', commands: /^keystore / },
  { old: '--passphrase-file', now: '--keystore-passphrase-file', commands: /^keystore / },
  { old: '--log', now: '--audit-log', commands: /^audit verify$/ },
  { old: '--port', now: '--listen-port', commands: /^broker config$/ },
];

/** Leaf commands that produce no data to print as JSON, and why. */
export const NO_JSON: Readonly<Record<string, string>> = {
  sim: 'serves a virtual board until stopped; its output is a log',
  'device console': "streams the board's log until stopped",
  'agent run': "runs the agent; its output is the agent's own",
  'ota serve': 'serves bundles until stopped; its output is the access log',
  completion: 'prints a shell script',
};

/**
 * Accepts `oldFlags` (e.g. '--dir <ca-dir>') as a hidden alias of the option stored as
 * `attribute` on `cmd`: the value goes to that option (through its parser) and a warning
 * names the new spelling. Register it after the option it stands for.
 */
export function deprecatedAlias(cmd: Command, oldFlags: string, attribute: string): Command {
  const target = cmd.options.find((o) => o.attributeName() === attribute);
  if (!target) throw new Error(`deprecatedAlias: ${cmd.name()} has no option ${attribute}`);
  const alias = new Option(oldFlags).hideHelp();
  cmd.addOption(alias);
  const oldName = alias.long ?? oldFlags;
  cmd.on(`option:${alias.name()}`, (value: string) => {
    // The program gives every command its stderr (program.ts), so no context is needed here.
    const writeErr = cmd.configureOutput().writeErr ?? ((t: string) => void process.stderr.write(t));
    writeErr(`warning: ${oldName} is deprecated, use ${target.long ?? attribute} (the old spelling goes in the next release)\n`);
    let parsed: unknown = value;
    try {
      if (target.parseArg) parsed = target.parseArg(value, cmd.getOptionValue(attribute));
    } catch (e) {
      // As commander reports a bad value of the option itself: one usage line, exit 1.
      if (e instanceof InvalidArgumentError) cmd.error(`error: option '${oldName} <value>' argument '${value}' is invalid. ${e.message}`, { exitCode: e.exitCode, code: e.code });
      throw e;
    }
    cmd.setOptionValueWithSource(attribute, parsed, 'cli');
  });
  return cmd;
}
