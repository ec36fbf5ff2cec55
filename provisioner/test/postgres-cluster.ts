// A throw-away PostgreSQL cluster for the registry tests and the bench: initdb into a
// temporary directory, pg_ctl start on a free port (TCP on 127.0.0.1 and a private socket
// directory), a `espfleet` database, stopped and removed by stop(). initdb refuses to
// run as root, so as root the cluster belongs to the `postgres` system user (runuser).
// The binaries come from the `initdb` oracle (scripts/lib/oracles.ts).
// With `tls: true` the server speaks TLS only: a test CA and a server certificate are made
// with the `openssl` oracle at start (nothing is committed), pg_hba.conf refuses plain TCP,
// and 127.0.0.2 is served too, an address the certificate does not name. `clientCerts: true`
// adds pg_hba.conf's `cert` method and client certificates from the right and a wrong CA.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresBinDir, requireOracle } from '../../scripts/lib/oracles.ts';

export interface PostgresCluster {
  /** postgres://espfleet@127.0.0.1:<port>/espfleet (trust authentication: no password). */
  url: string;
  port: number;
  /** A fresh, empty database on the cluster; returns its URL. */
  createDatabase(name: string): string;
  /** pg_ctl restart: every open connection is cut, the data stays. */
  restart(): void;
  stop(): void;
  /** Set when started with `tls: true`. */
  tls?: PostgresTls;
}

export interface PostgresTls {
  /** PEM of the CA that signed the server certificate (SAN: DNS:localhost, IP:127.0.0.1). */
  caFile: string;
  /** PEM of another CA, which signed nothing the server presents. */
  wrongCaFile: string;
  /** An address the server also listens on that its certificate does not name. */
  unnamedHost: string;
  /** With `clientCerts`: a client certificate for the user espfleet (CN=espfleet) and its key. */
  clientCertFile?: string;
  clientKeyFile?: string;
  /** With `clientCerts`: the same kind of certificate from the wrong CA. */
  wrongClientCertFile?: string;
  wrongClientKeyFile?: string;
}

export interface PostgresClusterOptions {
  /** TLS on, and plain TCP refused by pg_hba.conf (the Unix socket stays plain, for setup). */
  tls?: boolean;
  /** TLS, and pg_hba.conf's `cert` method: a client certificate from the test CA, CN = user. */
  clientCerts?: boolean;
  /** Password authentication (scram-sha-256) on TCP, the user's password set to this. */
  password?: string;
}

const UNNAMED_HOST = '127.0.0.2';

type ClientCertFiles = Pick<PostgresTls, 'clientCertFile' | 'clientKeyFile' | 'wrongClientCertFile' | 'wrongClientKeyFile'>;

/** A test CA, a wrong CA and a server certificate signed by the first, in `dir`; with `clientCn`, client certificates from each CA. */
function makeTestPki(dir: string, clientCn?: string): { caFile: string; wrongCaFile: string; certFile: string; keyFile: string; client: ClientCertFiles } {
  const openssl = requireOracle('openssl');
  const run = (args: string[]) => execFileSync(openssl, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const selfSigned = (name: string, cn: string) => run(['req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`]);
  selfSigned('ca', 'espfleet test database CA');
  selfSigned('wrong-ca', 'espfleet unrelated CA');
  let serial = Date.now();
  const leaf = (name: string, cn: string, ca: string, ext: string) => {
    run(['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    writeFileSync(join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n${ext}\n`);
    run(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-set_serial', `0x${(serial++).toString(16)}`, '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
    chmodSync(join(dir, `${name}.key`), 0o600);
  };
  leaf('server', 'localhost', 'ca', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth');
  let client: ClientCertFiles = {};
  if (clientCn !== undefined) {
    leaf('client', clientCn, 'ca', 'extendedKeyUsage=clientAuth');
    leaf('wrong-client', clientCn, 'wrong-ca', 'extendedKeyUsage=clientAuth');
    client = {
      clientCertFile: join(dir, 'client.crt'),
      clientKeyFile: join(dir, 'client.key'),
      wrongClientCertFile: join(dir, 'wrong-client.crt'),
      wrongClientKeyFile: join(dir, 'wrong-client.key'),
    };
  }
  // The CA keys are not needed again; the temporary directory goes at stop() anyway.
  rmSync(join(dir, 'ca.key'));
  rmSync(join(dir, 'wrong-ca.key'));
  return { caFile: join(dir, 'ca.crt'), wrongCaFile: join(dir, 'wrong-ca.crt'), certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), client };
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

export async function startPostgresCluster(opts: PostgresClusterOptions = {}): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'espfleet-pg-'));
  const data = join(dir, 'data');
  const sockets = dir;
  const owner = asRoot ? postgresUid() : undefined;
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const run = (program: string, args: string[]): string => {
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]] : [join(bin, program), args];
    return execFileSync(cmd as string, argv as string[], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  };
  run('initdb', ['-D', data, '-U', 'espfleet', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  let options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${sockets} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100`;
  let tls: PostgresTls | undefined;
  if (opts.tls || opts.clientCerts) {
    const pkiDir = join(dir, 'tls');
    mkdirSync(pkiDir);
    const pki = makeTestPki(pkiDir, opts.clientCerts ? 'espfleet' : undefined);
    // PostgreSQL refuses a key that its group or others can read (mode 0600 above), or that it does not own.
    if (owner) chownSync(pki.keyFile, owner.uid, owner.gid);
    // Every 127.x address reaches the loopback interface on Linux: the second one lets a
    // test connect to an address that the certificate does not name.
    options = options.replace('listen_addresses=127.0.0.1', `listen_addresses=127.0.0.1,${UNNAMED_HOST}`);
    options += ` -c ssl=on -c ssl_cert_file=${pki.certFile} -c ssl_key_file=${pki.keyFile}`;
    // `cert`: the client certificate must chain to ssl_ca_file and its CN be the user name.
    if (opts.clientCerts) options += ` -c ssl_ca_file=${pki.caFile}`;
    const tcp = opts.clientCerts ? 'cert' : 'trust';
    // Replacing initdb's file keeps its owner; the Unix socket stays plain, for setup.
    writeFileSync(join(data, 'pg_hba.conf'), ['local all all trust', `hostssl all all 127.0.0.0/8 ${tcp}`, 'hostnossl all all 127.0.0.0/8 reject', ''].join('\n'));
    tls = { caFile: pki.caFile, wrongCaFile: pki.wrongCaFile, unnamedHost: UNNAMED_HOST, ...pki.client };
  }
  const ctl = (action: 'start' | 'restart' | 'stop') =>
    run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '120', ...(action === 'stop' ? ['-m', 'fast'] : ['-o', options]), action]);
  if (opts.password !== undefined && !tls) {
    // The socket stays trusted, for setup; TCP asks for the password.
    writeFileSync(join(data, 'pg_hba.conf'), ['local all all trust', 'host all all 127.0.0.0/8 scram-sha-256', ''].join('\n'));
  }
  ctl('start');
  const psql = (sql: string) => run('psql', ['-h', sockets, '-p', String(port), '-U', 'espfleet', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
  if (opts.password !== undefined) psql(`ALTER ROLE espfleet PASSWORD '${opts.password.replace(/'/g, "''")}'`);
  const urlOf = (db: string) => `postgres://espfleet@127.0.0.1:${port}/${db}`;
  psql('CREATE DATABASE espfleet');
  let stopped = false;
  return {
    url: urlOf('espfleet'),
    port,
    ...(tls ? { tls } : {}),
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
