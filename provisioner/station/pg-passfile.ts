// The database password kept out of station.toml and argv: libpq's password file (the
// `passfile` URL parameter, else $PGPASSFILE, else ~/.pgpass), read when the URL carries
// no password. Format, as libpq's: one `host:port:database:user:password` per line, `*`
// matches anything, `\:` and `\\` escape, `#` starts a comment; the first match wins.
// libpq ignores a file others can read (with a warning); here that is an error, so a
// station never runs on a password it was not meant to use.
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RegistryError } from './registry-sql.ts';

export interface PassfileTarget {
  host: string;
  port: number;
  database: string;
  user: string;
}

/** Which password file applies: the URL's `passfile`, else $PGPASSFILE, else ~/.pgpass. */
export function passfilePath(urlParam: string | null, env: Record<string, string | undefined> = process.env): string {
  if (urlParam !== null && urlParam !== '') return urlParam;
  if (env.PGPASSFILE !== undefined && env.PGPASSFILE !== '') return env.PGPASSFILE;
  return join(env.HOME ?? homedir(), '.pgpass');
}

/** The fields of one line, unescaped; undefined for a comment or a line without five fields. */
function fields(line: string): string[] | undefined {
  if (line.startsWith('#') || line.trim() === '') return undefined;
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) cur += line[++i];
    else if (c === ':' && out.length < 4) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.length === 5 ? out : undefined;
}

/** libpq compares a Unix-socket host as "localhost". */
const hostKey = (host: string) => (host.startsWith('/') ? 'localhost' : host);

/** The password file's first entry for `target`, or undefined (no file, no entry). */
export function passwordFromPassfile(path: string, target: PassfileTarget): string | undefined {
  let text: string;
  try {
    const mode = statSync(path).mode;
    if ((mode & 0o077) !== 0) {
      throw new RegistryError('station.registry.passfile_open', `the password file ${path} can be read by others (mode ${(mode & 0o777).toString(8)}); it is not used`, {
        hint: `chmod 600 ${path}`,
      });
    }
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof RegistryError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RegistryError('station.registry.passfile_unreadable', `cannot read the password file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const want = [hostKey(target.host), String(target.port), target.database, target.user];
  for (const line of text.split(/\r?\n/)) {
    const f = fields(line);
    if (f && want.every((w, i) => f[i] === '*' || f[i] === w)) return f[4];
  }
  return undefined;
}
