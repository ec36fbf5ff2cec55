// The CLI's flag vocabulary (docs/cli.md "Flags"): one spelling per concept across every
// command, and the old spellings kept for one release as hidden aliases that still work
// but warn on stderr. cli-vocabulary.test.ts walks every command and holds them to this.
import { Option, type Command } from 'commander';

export interface FlagConcept {
  /** The one spelling, as typed. */
  flag: string;
  concept: string;
  /** What every description of this flag must say, so one flag does not mean two things. */
  means: RegExp;
}

export const VOCABULARY: readonly FlagConcept[] = [
  { flag: '--port', concept: "a board's port (serial device, rfc2217:// or sim:// URL)", means: /board|port to provision/i },
  { flag: '--ca-dir', concept: 'the fleet CA directory', means: /CA directory|directory for the CA/i },
  { flag: '--keystore', concept: 'the keystore file (escrowed flash-encryption keys)', means: /keystore/i },
  { flag: '--keystore-key-file', concept: 'unlock the keystore with its 32-byte key file', means: /keystore|key file/i },
  { flag: '--keystore-passphrase-file', concept: 'the keystore passphrase, from a file', means: /keystore|passphrase/i },
  { flag: '--passphrase-file', concept: "the passphrase of the command's own key (CA key, signing key), from a file", means: /passphrase/i },
  { flag: '--registry', concept: 'the device registry file', means: /registry/i },
  { flag: '--audit-log', concept: 'the audit log file', means: /audit log/i },
  { flag: '--station', concept: 'the station config (station.toml)', means: /station/i },
  { flag: '--json', concept: 'the result as JSON on stdout (errors too)', means: /JSON/ },
  { flag: '--progress', concept: 'how progress is shown on stderr: auto, bar, lines, json, none', means: /progress/i },
  { flag: '--quiet', concept: 'no progress or notes on stderr', means: /no progress/i },
  { flag: '--out', concept: 'the file a command writes', means: /.*/ },
  { flag: '--out-dir', concept: 'the directory a command writes into', means: /directory/i },
  { flag: '--baud', concept: "the line speed to the board", means: /baud|line speed/i },
  { flag: '--listen-port', concept: 'a TCP port a server listens on', means: /TCP|listen/i },
  { flag: '--log', concept: "show the board's log lines on stderr", means: /board's log/i },
  { flag: '--timeout', concept: 'how long to wait, in ms', means: /wait/i },
  { flag: '--confirm', concept: 'really do an irreversible step (else a dry run)', means: /really|burn|irreversible/i },
  { flag: '--force', concept: 'replace an existing file', means: /replace|overwrite/i },
];

export interface DeprecatedFlag {
  /** The old spelling, still accepted (hidden, with a warning) until the next release. */
  old: string;
  /** The one spelling now. */
  now: string;
  /** Where the old spelling was used. */
  commands: string;
}

export const DEPRECATED: readonly DeprecatedFlag[] = [
  { old: '--dir', now: '--ca-dir', commands: 'ca …' },
  { old: '--key-file', now: '--keystore-key-file', commands: 'keystore …' },
  { old: '--passphrase-file', now: '--keystore-passphrase-file', commands: 'keystore …' },
  { old: '--log', now: '--audit-log', commands: 'audit verify' },
  { old: '--port', now: '--listen-port', commands: 'broker config' },
];

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
    const parsed = target.parseArg ? target.parseArg(value, cmd.getOptionValue(attribute)) : value;
    cmd.setOptionValueWithSource(attribute, parsed, 'cli');
  });
  return cmd;
}
