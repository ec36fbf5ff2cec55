// `espfleet ca renewd`: the certificate renewal service (issue 16, docs/renewal.md). Parses
// its flags, opens the CA, the registry and the audit log, and hands MQTT messages to
// renewal/renewal-service.ts through renewal/renewal-mqtt.ts until Ctrl-C.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { publishCrl } from '../../../renewal/broker-crl.ts';
import { DEFAULT_RATE_LIMIT, parseRateLimit } from '../../../renewal/rate-limit.ts';
import { renewalPump } from '../../../renewal/renewal-mqtt.ts';
import { RenewalError } from '../../../renewal/errors.ts';
import { RenewalService } from '../../../renewal/renewal-service.ts';
import { openStationAudit } from '../../../station/audit-sql.ts';
import { isPostgresUrl, openRegistryAt } from '../../../station/open-registry.ts';
import { brokerClientOptions, connectBrokerClient, type BrokerClientOptions } from '../../broker-client.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { resolveRegistry, resolveStationPath, stationOption } from '../devices/station-paths.ts';
import { caOptions, unlockCa, type CaDirOptions } from './unlock.ts';

interface Options extends CaDirOptions, BrokerClientOptions {
  station?: string;
  registry?: string;
  auditLog?: string;
  rateLimit: string;
  days?: number;
  crlOut?: string;
  brokerPidFile?: string;
}

export function register(ca: Command, ctx: CliContext): void {
  const cmd = caOptions(ca.command('renewd'))
    .description('run the certificate renewal service: answer boards\' CSRs on devices/+/cert/csr with certificates on cert/issued');
  brokerClientOptions(cmd, 'renewer');
  stationOption(cmd)
    .option('--registry <path|url>', 'registry file or postgres:// URL (else $ESPFLEET_REGISTRY, else paths.registry from the station config); holds the renewal journal')
    .option('--audit-log <path>', 'audit log file (instead of paths.audit from the station config)')
    .option('--rate-limit <n/window>', 'at most n certificates per device per window (units s, m, h, d)', DEFAULT_RATE_LIMIT)
    .option('--days <n>', 'validity of renewed certificates in days (default 365)', intArg(1, 3650))
    .option('--crl-out <crl.pem>', "after revoking a replaced certificate, write the CRL here (the broker's crlfile)")
    .option('--broker-pid-file <file>', 'and send SIGHUP to the mosquitto whose pid this file holds, so it reloads the CRL')
    .option('--json', 'print each decision as JSON (one object per line)')
    .addHelpText(
      'after',
      `
A CSR is signed only when its CN is the topic's device id, its key is EC P-256 and was
never certified before, the device is provisioned (not revoked) in the registry and
the rate limit holds. Every refusal is answered on cert/issued as {id, error, code}
and audited. The device's old certificate is revoked (reason superseded) once its
retained status shows it online with the new certificate; the registry then names
the new one. The journal in the registry makes a restart safe: a re-sent request
gets the same certificate, nothing is signed twice.

Example:
  espfleet ca renewd --ca-dir ./fleet-ca --station station.toml \\
    --broker mqtts://mqtt.example.com:8883 --broker-ca fleet-ca/chain.pem \\
    --client-cert renewd.pem --client-key renewd.key \\
    --crl-out /etc/mosquitto/espfleet/crl.pem --broker-pid-file /run/mosquitto/mosquitto.pid`,
    )
    .action(async (opts: Options) => {
      const rateLimit = parseRateLimit(opts.rateLimit);
      const registryPath = resolveRegistry(ctx, opts);
      const auditPath = resolveStationPath(ctx, { station: opts.station, explicit: opts.auditLog }, '--audit-log', (c) => c.paths.audit);
      // Never create a registry here: an empty one would refuse every board as unknown.
      if (!isPostgresUrl(registryPath) && !existsSync(registryPath)) {
        throw new RenewalError('renewal.no_registry', `no registry at ${registryPath}`, { hint: 'renewd answers boards the station registered: check --registry or paths.registry in station.toml' });
      }
      const identity = opts.clientCert ? clientCn(resolve(ctx.cwd, opts.clientCert)) : 'renewer';
      const caHandle = await unlockCa(ctx, opts);
      const registry = await openRegistryAt(registryPath);
      const release = ctx.interrupt?.hold();
      try {
        const audit = await openStationAudit(registry, auditPath);
        const emit = (data: Record<string, unknown>, line: string) => (opts.json ? ctx.out(JSON.stringify(data)) : ctx.out(line));
        let client: Awaited<ReturnType<typeof connectBrokerClient>> | undefined;
        const service = new RenewalService({
          ca: caHandle,
          registry,
          audit,
          actor: identity,
          rateLimit,
          ...(opts.days === undefined ? {} : { days: opts.days }),
          // Queued, not awaited: while a CSR is being handled mqtt.js reads no packet (it acks
          // the CSR after), so waiting for this PUBACK would deadlock. The answer is written to
          // the socket before the CSR's PUBACK, so a broker that saw the ack has the answer.
          publish: async (topic, payload) => {
            client!.publish(topic, payload, { qos: 1 }, (e) => e && ctx.note(`publish to ${topic} failed: ${e.message}`));
          },
          ...(opts.crlOut === undefined
            ? {}
            : {
                onRevoked: async (serials: string[], current) => {
                  const crl = publishCrl(current, { out: resolve(ctx.cwd, opts.crlOut!), ...(opts.brokerPidFile ? { pidFile: resolve(ctx.cwd, opts.brokerPidFile) } : {}) });
                  emit({ event: 'crl', crlNumber: crl.crlNumber, revoked: serials, reloaded: crl.reloaded }, `CRL #${crl.crlNumber} written (${serials.join(', ')} revoked)${crl.reloaded ? `; broker ${crl.reloaded} reloaded` : ''}`);
                },
              }),
          // Test fault injection (agent/test/renewd-board.test.ts): die as a crash would, right after signing.
          ...(ctx.env.ESPFLEET_RENEWD_FAULT === 'kill-after-sign' ? { afterSign: () => process.kill(process.pid, 'SIGKILL') } : {}),
          log: (line) => (opts.json ? ctx.out(JSON.stringify({ event: 'decision', line })) : ctx.out(line)),
        });
        const pump = renewalPump(service, (line) => ctx.note(line));
        client = await connectBrokerClient(ctx, opts, { reconnect: true, extra: pump.connectOptions(identity) });
        try {
          const resent = await service.recover();
          if (resent > 0) ctx.note(`re-sent ${resent} journaled certificate(s)`);
          ctx.note(`renewd: serving as ${identity} (rate limit ${opts.rateLimit})`);
          emit({ event: 'ready', identity }, `ready: ${identity}`);
          await pump.serve(client, ctx.interrupt?.signal ?? new AbortController().signal);
        } finally {
          await client.endAsync().catch(() => undefined);
        }
        ctx.note('renewd: stopped');
      } finally {
        release?.();
        await registry.close();
      }
    });
}

/** The CN (role:name) of the client certificate: the MQTT client id under the broker profile. */
function clientCn(path: string): string {
  try {
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(new X509Certificate(readFileSync(path)).subject)?.[1];
    return cn ?? 'renewer';
  } catch {
    return 'renewer'; // connectBrokerClient names the unreadable file
  }
}
