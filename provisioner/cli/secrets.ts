// Where commands get passphrases: a file, an environment variable, or a prompt on
// a terminal — never argv, never logged (DESIGN.md security invariant 3).
import { readFileSync } from 'node:fs';
import { EspfleetError } from '../../firmware-js/errors.ts';
import type { CliContext } from './context.ts';

export class SecretError extends EspfleetError {}

export interface SecretSource {
  /** What the secret unlocks, for messages: "signing key", "CA key". */
  what: string;
  /** Environment variable consulted when no file is given. */
  envVar: string;
  /** Path given with --passphrase-file, if any. */
  file?: string;
  /** Ask twice and compare, for secrets being set rather than used. */
  confirm?: boolean;
}

export async function resolvePassphrase(ctx: CliContext, source: SecretSource): Promise<string> {
  if (source.file !== undefined) return fromFile(source.file, source.what);
  const fromEnv = ctx.env[source.envVar];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!ctx.prompt) {
    throw new SecretError('secret.missing', `no passphrase for the ${source.what}`, {
      hint: `set ${source.envVar}, pass --passphrase-file <file>, or run on a terminal to be prompted`,
    });
  }
  const first = await ctx.prompt(`Passphrase for the ${source.what}: `);
  if (source.confirm && (await ctx.prompt('Repeat the passphrase: ')) !== first) {
    throw new SecretError('secret.mismatch', 'the two passphrases differ', { hint: 'run the command again' });
  }
  if (first === '') throw new SecretError('secret.empty', `an empty passphrase is not accepted for the ${source.what}`);
  return first;
}

function fromFile(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SecretError('secret.unreadable', `cannot read the passphrase file for the ${what}: ${path}`, { cause: e });
  }
  // A trailing newline from `echo … > file` is not part of the passphrase.
  const passphrase = text.replace(/\r?\n$/, '');
  if (passphrase === '') throw new SecretError('secret.empty', `the passphrase file ${path} is empty`);
  return passphrase;
}
