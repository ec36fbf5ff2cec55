// A throw-away PostgreSQL cluster for the registry tests and the bench: initdb into a
// temporary directory, pg_ctl start on a free port (TCP on 127.0.0.1 and a private socket
// directory), a `espfleet` database, stopped and removed by stop(). initdb refuses to
// run as root, so as root the cluster belongs to the `postgres` system user (runuser).
// The binaries come from the `initdb` oracle (scripts/lib/oracles.ts).
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresBinDir } from '../../scripts/lib/oracles.ts';

export interface PostgresCluster {
  /** postgres://espfleet@127.0.0.1:<port>/espfleet (trust authentication: no password). */
  url: string;
  port: number;
  /** A fresh, empty database on the cluster; returns its URL. */
  createDatabase(name: string): string;
  /** pg_ctl restart: every open connection is cut, the data stays. */
  restart(): void;
  stop(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function postgresUid(): { uid: number; gid: number } {
  const out = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
  const gid = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
  return { uid: Number(out), gid: Number(gid) };
}

export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'espfleet-pg-'));
  const data = join(dir, 'data');
  const sockets = dir;
  if (asRoot) {
    const { uid, gid } = postgresUid();
    chownSync(dir, uid, gid);
  }
  const run = (program: string, args: string[]): string => {
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]] : [join(bin, program), args];
    return execFileSync(cmd as string, argv as string[], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  };
  run('initdb', ['-D', data, '-U', 'espfleet', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${sockets} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100`;
  const ctl = (action: 'start' | 'restart' | 'stop') =>
    run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '120', ...(action === 'stop' ? ['-m', 'fast'] : ['-o', options]), action]);
  ctl('start');
  const psql = (sql: string) => run('psql', ['-h', sockets, '-p', String(port), '-U', 'espfleet', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
  const urlOf = (db: string) => `postgres://espfleet@127.0.0.1:${port}/${db}`;
  psql('CREATE DATABASE espfleet');
  let stopped = false;
  return {
    url: urlOf('espfleet'),
    port,
    createDatabase(name) {
      psql(`CREATE DATABASE ${name}`);
      return urlOf(name);
    },
    restart() {
      ctl('restart');
    },
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        ctl('stop');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
