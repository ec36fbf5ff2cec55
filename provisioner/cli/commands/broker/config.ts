// `espfleet broker config`: write the hardened mosquitto profile from the fleet CA.
import type { Command } from 'commander';
import { writeBrokerProfile } from '../../../../certs/index.ts';
import { collect, intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { CA_PASSPHRASE_ENV, caDirOption, unlockCa } from '../ca/unlock.ts';
import { deprecatedAlias } from '../../flags.ts';

interface Options {
  caDir: string;
  outDir: string;
  listenPort: number;
  host: string;
  bind?: string;
  dns?: string[];
  ip?: string[];
  user?: string;
  crlDays?: number;
  passphraseFile?: string;
  json?: boolean;
}

export function register(broker: Command, ctx: CliContext): void {
  const cmd = caDirOption(broker.command('config'), 'fleet CA directory')
    .description('write a mosquitto 2.0 profile: mTLS-only listener, CRL and per-device ACL')
    .requiredOption('--out-dir <dir>', 'directory for mosquitto.conf, acl, certificates, key and CRL')
    .option('--listen-port <n>', 'TCP port of the TLS listener', intArg(1, 65535), 8883)
    .option('--host <name>', 'name or IP boards use to reach the broker (server certificate)', 'localhost')
    .option('--bind <addr>', 'listen on this address only')
    .option('--dns <name>', 'extra DNS name for the server certificate (repeatable)', collect)
    .option('--ip <addr>', 'extra IP address for the server certificate (repeatable)', collect)
    .option('--user <name>', 'user mosquitto switches to when started as root (must read the files)')
    .option('--crl-days <n>', 'days until the initial CRL expires (default 7)', intArg(1, 366))
    .option('--passphrase-file <file>', `read the CA passphrase from a file (else $${CA_PASSPHRASE_ENV}, else a prompt)`)
    .option('--json', 'print the result as JSON');
  // --port is a board's port everywhere; the listener's TCP port was --port here before.
  deprecatedAlias(cmd, '--port <n>', 'listenPort')
    .addHelpText(
      'after',
      `
Issues a server certificate (an existing one from this CA with the same names and
> 30 days left is kept), writes the CA chain and a current CRL, and an
ACL that keeps each board in devices/<its id>/ and lists every valid operator and
renewer identity. server.key is unencrypted (mode 0600): mosquitto cannot prompt.
Re-run after issuing operator/renewer certificates, then reload mosquitto (SIGHUP).

Example:
  espfleet broker config --ca-dir ./fleet-ca --out-dir /etc/mosquitto/espfleet \\
    --host mqtt.example.com --user mosquitto
  mosquitto -c /etc/mosquitto/espfleet/mosquitto.conf`,
    )
    .action(async (opts: Options) => {
      const ca = await unlockCa(ctx, { caDir: opts.caDir, ...(opts.passphraseFile ? { passphraseFile: opts.passphraseFile } : {}) });
      const profile = await writeBrokerProfile(ca, {
        outDir: opts.outDir,
        host: opts.host,
        port: opts.listenPort,
        ...(opts.bind ? { bindAddress: opts.bind } : {}),
        ...(opts.dns ? { dns: opts.dns } : {}),
        ...(opts.ip ? { ip: opts.ip } : {}),
        ...(opts.user ? { user: opts.user } : {}),
        ...(opts.crlDays ? { crlDays: opts.crlDays } : {}),
      });
      const data = {
        conf: profile.confPath,
        files: profile.paths,
        serverSerial: profile.serverSerialHex,
        serverCertReused: profile.serverCertReused,
        identities: profile.identities,
        crlNumber: profile.crlNumber,
      };
      if (opts.json) return ctx.json(data);
      ctx.out(`mosquitto profile written: ${profile.confPath}`);
      ctx.out(`listener: TLS on port ${opts.listenPort}${opts.bind ? ` (${opts.bind})` : ''}, client certificates required`);
      ctx.out(`server certificate: ${profile.serverSerialHex}${profile.serverCertReused ? ' (kept: same names, > 30 days left)' : ' (new)'}`);
      ctx.out(`ACL identities: ${profile.identities.map((i) => i.cn).join(', ') || 'none besides boards'}`);
      ctx.out(`run: mosquitto -c ${profile.confPath}`);
    });
}
