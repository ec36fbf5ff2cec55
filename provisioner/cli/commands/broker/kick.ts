// `espfleet broker kick`: close a board's open session on the broker (renewal/broker-kick.ts).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { assertDeviceId } from '../../../../certs/index.ts';
import { FleetError } from '../../../fleet/errors.ts';
import { parseBrokerUrl } from '../../../fleet/fleet-mqtt.ts';
import { publishCrl } from '../../../renewal/broker-crl.ts';
import { kickSession } from '../../../renewal/broker-kick.ts';
import { BROKER_ENV } from '../../broker-client.ts';
import type { CliContext } from '../../context.ts';
import { caOptions, unlockCa, type CaDirOptions } from '../ca/unlock.ts';

interface Options extends CaDirOptions {
  device: string;
  broker?: string;
  brokerCa?: string;
  crlOut?: string;
  brokerPidFile?: string;
}

export function register(broker: Command, ctx: CliContext): void {
  caOptions(broker.command('kick'))
    .description("close a board's open MQTT session (e.g. after revoking its certificate) without restarting the broker")
    .requiredOption('--device <id>', 'device id (certificate CN) whose session to close')
    .option('--broker <mqtts://host:port>', `broker URL (else $${BROKER_ENV})`)
    .requiredOption('--broker-ca <ca.pem>', "CA chain the broker's certificate is issued under (the fleet CA's chain)")
    .option('--crl-out <crl.pem>', "write the CRL here afterwards (the broker's crlfile), so the one-use certificate is listed too")
    .option('--broker-pid-file <file>', 'and send SIGHUP to the mosquitto whose pid this file holds')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
mosquitto keeps a revoked board's open session after a CRL reload. This takes the
session over: the CA issues the board's CN a certificate valid for 10 minutes,
connects with it (the CN is the client id, so mosquitto closes the board's
connection and publishes its last will), disconnects and revokes it. A board whose
certificate is revoked (and in the broker's reloaded CRL) cannot come back; any
other board simply reconnects.

Example:
  espfleet ca revoke --ca-dir ./fleet-ca --serial 4d72… --reason keyCompromise \\
    --crl-out /etc/mosquitto/espfleet/crl.pem --broker-pid-file /run/mosquitto/mosquitto.pid
  espfleet broker kick --ca-dir ./fleet-ca --device esp32_123456 \\
    --broker mqtts://mqtt.example.com:8883 --broker-ca fleet-ca/chain.pem`,
    )
    .action(async (opts: Options) => {
      assertDeviceId(opts.device);
      const url = opts.broker ?? ctx.env[BROKER_ENV];
      if (url === undefined) throw new FleetError('fleet.mqtt.missing_option', 'kicking a session needs --broker', { hint: 'e.g. --broker mqtts://mqtt.example.net:8883' });
      const address = parseBrokerUrl(url);
      let caPem: string;
      try {
        caPem = readFileSync(resolve(ctx.cwd, opts.brokerCa!), 'utf8');
      } catch (e) {
        throw new FleetError('fleet.mqtt.no_file', `cannot read the broker CA chain ${opts.brokerCa}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: 'check --broker-ca' });
      }
      const ca = await unlockCa(ctx, opts);
      const kicked = await kickSession(ca, opts.device, address, caPem);
      const crl = opts.crlOut ? publishCrl(ca, { out: resolve(ctx.cwd, opts.crlOut), ...(opts.brokerPidFile ? { pidFile: resolve(ctx.cwd, opts.brokerPidFile) } : {}) }) : undefined;
      const data = { ...kicked, crlNumber: crl?.crlNumber ?? null, reloaded: crl?.reloaded ?? null };
      if (opts.json) return ctx.json(data);
      ctx.out(`session of ${opts.device} closed (one-use certificate ${kicked.kickSerial}, revoked)`);
      if (crl) ctx.out(`CRL #${crl.crlNumber} → ${opts.crlOut}${crl.reloaded ? `; broker ${crl.reloaded} reloaded` : ''}`);
    });
}
