// station.toml on the restored machine: every path key must point at where restore put its
// file. Relative paths under the station directory already do (the archive keeps that
// layout) and the file is kept byte for byte; any other path key is rewritten to the
// restored file, and the original text is kept beside it. Passphrase and key files are
// never in a backup: their keys stay as they were, listed for the operator to provide.
import TOML from '@iarna/toml';
import { isAbsolute, normalize } from 'node:path';
import type { Manifest } from './manifest.ts';

export interface RewrittenConfig {
  text: string;
  /** Keys whose value changed: key → new relative path. */
  rewritten: Record<string, string>;
}

type Raw = Record<string, unknown>;

const same = (value: unknown, name: string) => typeof value === 'string' && !isAbsolute(value) && normalize(value).split('\\').join('/') === name;

export function rewriteStationConfig(original: string, manifest: Manifest, note: string): RewrittenConfig {
  const raw = TOML.parse(original) as Raw;
  const rewritten: Record<string, string> = {};
  const section = (name: string): Raw => {
    const s = raw[name];
    if (s !== null && typeof s === 'object' && !Array.isArray(s)) return s as Raw;
    return (raw[name] = {}) as Raw;
  };
  const set = (key: string, want: string | string[]) => {
    const [sec, field] = key.split('.') as [string, string];
    const table = section(sec);
    const have = table[field];
    if (Array.isArray(want)) {
      const list = Array.isArray(have) ? have : [];
      if (want.length === list.length && want.every((w, i) => same(list[i], w))) return;
      table[field] = want;
      want.forEach((w, i) => (rewritten[`${key}[${i}]`] = w));
    } else if (have !== undefined ? !same(have, want) : false) {
      table[field] = want;
      rewritten[key] = want;
    }
  };
  for (const [key, want] of Object.entries(manifest.locations)) set(key, want);
  // Journals are per-run scratch, not backed up: an outside journal dir becomes ./journal.
  const paths = raw.paths as Raw | undefined;
  const journal = paths?.journal_dir;
  if (typeof journal === 'string' && (isAbsolute(journal) || normalize(journal).startsWith('..'))) {
    (paths as Raw).journal_dir = 'journal';
    rewritten['paths.journal_dir'] = 'journal';
  }
  if (Object.keys(rewritten).length === 0) return { text: original, rewritten };
  return { text: `# ${note}\n# Paths rewritten to the restored files: ${Object.keys(rewritten).join(', ')}.\n${TOML.stringify(raw as TOML.JsonMap)}`, rewritten };
}

/** station.toml with paths.registry set to `url` (a restore into PostgreSQL); the rest as it was. */
export function pointRegistryAt(text: string, url: string, note: string): string {
  const raw = TOML.parse(text) as Raw;
  const paths = raw.paths !== null && typeof raw.paths === 'object' && !Array.isArray(raw.paths) ? (raw.paths as Raw) : (raw.paths = {}) as Raw;
  paths.registry = url;
  // The notes of an earlier rewrite stay on top; TOML.stringify keeps no comments.
  const header = text.split('\n').filter((l, i, all) => l.startsWith('#') && all.slice(0, i).every((p) => p.startsWith('#')));
  return `${[...header, `# ${note}`].join('\n')}\n${TOML.stringify(raw as TOML.JsonMap)}`;
}
