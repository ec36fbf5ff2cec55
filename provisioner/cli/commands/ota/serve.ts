// `espfleet ota serve`: the HTTPS firmware server boards' ota-http-client fetch bundles from
// (provisioner/fleet/firmware-server.ts; shared/spec/mongoose-os.md §2.4).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { untilStopped } from '../../until-stopped.ts';
import { FleetError } from '../../../fleet/errors.ts';
import { formatAccessLine, startFirmwareServer } from '../../../fleet/firmware-server.ts';

interface Options {
  bundles: string;
  tlsCert: string;
  tlsKey: string;
  clientCa?: string;
  listen: { host: string; port: number };
}

/** `host:port`, `[v6]:port` or `:port` (all addresses). */
export function listenArg(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || !(port >= 0 && port <= 65535)) throw new InvalidArgumentError(`expected host:port (port 0 picks a free one), got ${JSON.stringify(text)}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function readPem(ctx: CliContext, path: string, what: string, flag: string): string {
  const full = resolve(ctx.cwd, path);
  try {
    return readFileSync(full, 'utf8');
  } catch (e) {
    throw new FleetError('fleet.serve.no_file', `cannot read the ${what} ${full}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: `check ${flag}` });
  }
}

export function register(ota: Command, ctx: CliContext): void {
  ota
    .command('serve')
    .description('serve signed firmware bundles to boards over HTTPS (Content-Length, ETag/304, byte ranges, optional mTLS, access log)')
    .requiredOption('--bundles <dir>', 'directory of bundles to serve (a file DIR/x/fw.zip is at https://host:port/x/fw.zip)')
    .requiredOption('--tls-cert <file>', 'server certificate chain, PEM (e.g. from espfleet ca server-cert)')
    .requiredOption('--tls-key <file>', 'private key of the server certificate, PEM')
    .option('--client-ca <file>', 'require a client certificate issued under this CA chain (PEM); its CN goes into the access log')
    .option('--listen <host:port>', 'address to serve on; port 0 picks a free one', listenArg, { host: '0.0.0.0', port: 8443 })
    .addHelpText(
      'after',
      `
The first line on stdout is the server's URL; then one access log line per request:
time, client address, client certificate CN (cn=… under --client-ca, else -), request,
status, body bytes sent, and what the board says it is (X-MGOS-Device-ID,
X-MGOS-FW-Version — claims, not proof). Responses always carry a Content-Length (the
board's ota-http-client refuses chunked replies) and a strong ETag; If-None-Match with
that tag gets 304 (the board's "no update"). Paths leaving DIR (.., encoded, symlinks
out) are refused. Stop with Ctrl-C or SIGTERM.

Examples:
  espfleet ota serve --bundles /srv/fw --tls-cert ota.chain.pem --tls-key ota.key --listen 0.0.0.0:8443
  espfleet ota serve --bundles /srv/fw --tls-cert ota.chain.pem --tls-key ota.key --client-ca fleet-ca/chain.pem`,
    )
    .action(async (opts: Options) => {
      const server = await startFirmwareServer({
        bundlesDir: resolve(ctx.cwd, opts.bundles),
        certPem: readPem(ctx, opts.tlsCert, 'server certificate', '--tls-cert'),
        keyPem: readPem(ctx, opts.tlsKey, 'server key', '--tls-key'),
        ...(opts.clientCa !== undefined ? { clientCaPem: readPem(ctx, opts.clientCa, 'client CA chain', '--client-ca') } : {}),
        host: opts.listen.host,
        port: opts.listen.port,
        log: (e) => ctx.out(formatAccessLine(e)),
      });
      ctx.out(server.url);
      ctx.note(`serving ${resolve(ctx.cwd, opts.bundles)}${opts.clientCa !== undefined ? ' (client certificate required)' : ''}; Ctrl-C stops`);
      await untilStopped(ctx);
      await server.stop();
      ctx.note('firmware server stopped');
    });
}
