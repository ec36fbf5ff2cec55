// `espfleet ca rollover start|status|migrate|retire`: move the fleet onto a new issuing CA
// under the same root (certs/issuing-ca.ts, docs/pki.md "Rolling over the issuing CA").
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { openCa, retireIssuing, rolloverStatus, startRollover, type IssuingCaRecord, type RolloverStatus } from '../../../../certs/index.ts';
import { FleetError } from '../../../fleet/errors.ts';
import { publishBrokerTrust, type BrokerTrustTarget } from '../../../renewal/broker-crl.ts';
import { prepareCaEventRecord } from '../../../station/revocation.ts';
import { brokerClientOptions, connectBrokerClient, type BrokerClientOptions } from '../../broker-client.ts';
import { durationArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { resolvePassphrase } from '../../secrets.ts';
import { findStation, STATION_ENV } from '../devices/station-paths.ts';
import { CA_PASSPHRASE_ENV, caDirOption, caOptions, type CaDirOptions } from './unlock.ts';

interface BrokerFileOptions {
  cafileOut?: string;
  crlOut?: string;
  brokerPidFile?: string;
  station?: string;
}

function brokerFileOptions(cmd: Command): Command {
  return cmd
    .option('--cafile-out <ca-chain.pem>', "write the chain the broker must now trust here (the broker's cafile, atomically)")
    .option('--crl-out <crl.pem>', "write the CRLs of every trusted issuing CA here (the broker's crlfile)")
    .option('--broker-pid-file <file>', 'then send SIGHUP to the mosquitto whose pid this file holds, so new handshakes see both')
    .option('--station <station.toml>', `record the step in this station's audit log (else $${STATION_ENV}, else ./station.toml when present)`);
}

function trustTarget(ctx: CliContext, opts: BrokerFileOptions): BrokerTrustTarget {
  return {
    ...(opts.cafileOut ? { cafile: resolve(ctx.cwd, opts.cafileOut) } : {}),
    ...(opts.crlOut ? { crlfile: resolve(ctx.cwd, opts.crlOut) } : {}),
    ...(opts.brokerPidFile ? { pidFile: resolve(ctx.cwd, opts.brokerPidFile) } : {}),
  };
}

const describe = (r: IssuingCaRecord) => `issuing CA ${r.label} (${r.cn}, until ${r.notAfter.slice(0, 10)})`;

export function register(caCmd: Command, ctx: CliContext): void {
  const rollover = caCmd
    .command('rollover')
    .description('move the fleet onto a new issuing CA under the same root: start, migrate, status, retire')
    .addHelpText(
      'after',
      `
A rollover runs in four steps; both issuing CAs are trusted by the broker in between:
  1. start    the root signs a new issuing CA, which signs every certificate from now on
              (renewd picks it up by itself); the broker's cafile gets both CAs, crlfile
              a CRL from each
  2. migrate  ask every board still on the old CA to renew now (cmd/renew); renewd signs
              with the new CA and revokes the old certificate once the board is back on
              the new one. Boards that are offline renew when they come back, or before
              expiry as usual
  3. status   which live certificates still depend on the old CA (boards, the broker's own
              server certificate, operators and renewers)
  4. retire   once none does: the old CA leaves the chain and the CRLs; mosquitto then
              refuses any leaf it signed

Example:
  espfleet ca rollover start --ca-dir ./fleet-ca --root-key /media/offline/root.key.pem \\
    --cafile-out /etc/mosquitto/espfleet/ca-chain.pem --crl-out /etc/mosquitto/espfleet/crl.pem \\
    --broker-pid-file /run/mosquitto/mosquitto.pid
  espfleet ca rollover migrate --ca-dir ./fleet-ca --broker mqtts://mqtt.example.net:8883 \\
    --client-cert alice.pem --client-key alice.key --broker-ca fleet-ca/chain.pem --wait 10m
  espfleet ca rollover status --ca-dir ./fleet-ca
  espfleet ca rollover retire --ca-dir ./fleet-ca --cafile-out … --crl-out … --broker-pid-file …`,
    );

  brokerFileOptions(caOptions(rollover.command('start')))
    .description('make a new issuing CA, signed by the root, the one that signs; keep trusting the old one')
    .option('--root-key <root.key.pem>', 'the root key file, when it is kept offline (default: root.key.pem beside ca.json)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: CaDirOptions & BrokerFileOptions & { rootKey?: string }) => {
      const passphrase = await resolvePassphrase(ctx, { what: 'CA key', envVar: CA_PASSPHRASE_ENV, file: opts.passphraseFile });
      const audit = await prepareCaEventRecord(findStation(ctx, opts.station));
      let data;
      try {
        const { ca, from, to } = await startRollover(resolve(ctx.cwd, opts.caDir), passphrase, opts.rootKey ? { rootKeyPath: resolve(ctx.cwd, opts.rootKey) } : {});
        await audit.record('ca.rollover.start', { from: String(from.label), to: String(to.label) }, { fromCn: from.cn, toCn: to.cn, toKeyId: to.keyIdHex });
        data = { from, to, ...publishBrokerTrust(ca, trustTarget(ctx, opts)) };
      } finally {
        await audit.close();
      }
      const { from, to, ...published } = data;
      if (opts.json) return ctx.json(data);
      ctx.out(`${describe(to)} now signs; ${describe(from)} is retiring and still trusted`);
      printPublished(ctx, published);
      ctx.out('next: `espfleet ca rollover migrate` (boards renew onto the new CA), then `espfleet ca rollover status`');
    });

  caDirOption(rollover.command('status'))
    .description('which live certificates still depend on each issuing CA (needs no passphrase)')
    .option('--json', 'print the status as JSON')
    .action((opts: CaDirOptions) => {
      const status = rolloverStatus(resolve(ctx.cwd, opts.caDir));
      if (opts.json) return ctx.json(status);
      printStatus(ctx, status);
    });

  brokerClientOptions(caDirOption(rollover.command('migrate')))
    .description('ask the boards still on the retiring CA to renew now (cmd/renew); renewd does the rest')
    .option('--device <id...>', 'only these devices (default: every device with a live certificate from the retiring CA)')
    .option('--answer-timeout <duration>', 'how long to wait for each board to accept the command', durationArg, 30_000)
    .option('--wait <duration>', 'then wait until no board depends on the retiring CA, at most this long', durationArg)
    .option('--json', 'print the result as JSON')
    .action(async (opts: CaDirOptions & BrokerClientOptions & { device?: string[]; answerTimeout: number; wait?: number }) => {
      const dir = resolve(ctx.cwd, opts.caDir);
      const status = rolloverStatus(dir);
      const retiring = status.issuing.find((i) => i.state === 'retiring');
      if (!retiring) throw new FleetError('fleet.rollover.none', 'no issuing CA is retiring: nothing to migrate', { hint: 'start a rollover with `espfleet ca rollover start`' });
      const targets = opts.device ?? retiring.devices;
      const answers = await askToRenew(ctx, opts, targets, `renew-ca${retiring.label + 1}-${Date.now().toString(36)}`, opts.answerTimeout);
      let left = retiring.devices;
      if (opts.wait !== undefined) left = await waitForMigration(ctx, dir, retiring.label, opts.wait);
      const data = { retiring: retiring.label, asked: targets.length, answers, left };
      if (opts.json) return ctx.json(data);
      for (const [id, a] of Object.entries(answers)) ctx.out(`${id.padEnd(24)} ${a}`);
      ctx.out(`${targets.length} asked; ${Object.values(answers).filter((a) => a === 'renewing').length} renewing`);
      if (opts.wait !== undefined) ctx.out(left.length === 0 ? `no board depends on issuing CA ${retiring.label} any more` : `still on issuing CA ${retiring.label}: ${left.join(', ')}`);
    });

  brokerFileOptions(caOptions(rollover.command('retire')))
    .description('stop trusting the retiring CA; refused while a live certificate depends on it')
    .option('--json', 'print the result as JSON')
    .action(async (opts: CaDirOptions & BrokerFileOptions) => {
      const passphrase = await resolvePassphrase(ctx, { what: 'CA key', envVar: CA_PASSPHRASE_ENV, file: opts.passphraseFile });
      const audit = await prepareCaEventRecord(findStation(ctx, opts.station));
      let data;
      try {
        const { ca, retired } = retireIssuing(openCa(resolve(ctx.cwd, opts.caDir), passphrase));
        await audit.record('ca.rollover.retire', { retired: String(retired.label) }, { cn: retired.cn, keyId: retired.keyIdHex });
        data = { retired, ...publishBrokerTrust(ca, trustTarget(ctx, opts)) };
      } finally {
        await audit.close();
      }
      const { retired, ...published } = data;
      if (opts.json) return ctx.json(data);
      ctx.out(`${describe(retired)} is retired: no longer in the chain or the CRLs`);
      printPublished(ctx, published);
    });
}

function printPublished(ctx: CliContext, p: ReturnType<typeof publishBrokerTrust>): void {
  if (p.cafile) ctx.out(`chain (${p.trusted} issuing CA${p.trusted === 1 ? '' : 's'} + root) → ${p.cafile}`);
  if (p.crlfile) ctx.out(`CRLs #${p.crlNumber} → ${p.crlfile}`);
  if (p.reloaded) ctx.out(`broker ${p.reloaded} reloaded (SIGHUP)`);
  if (!p.reloaded) ctx.note("the broker sees the change only after its cafile and crlfile are rewritten and it reloads (--cafile-out, --crl-out, --broker-pid-file)");
}

function printStatus(ctx: CliContext, s: RolloverStatus): void {
  for (const i of s.issuing) {
    const live = Object.entries(i.live).filter(([, n]) => n > 0).map(([role, n]) => `${n} ${role}`).join(', ') || 'none';
    ctx.out(`${describe(i)}: ${i.state}; live certificates: ${live}`);
    if (i.state === 'retiring' && i.devices.length > 0) ctx.out(`  boards still on it: ${i.devices.slice(0, 20).join(', ')}${i.devices.length > 20 ? ` … (${i.devices.length})` : ''}`);
  }
  if (s.retiring === undefined) ctx.out('no rollover running');
  else ctx.out(s.ready ? `ready: \`espfleet ca rollover retire\` may retire issuing CA ${s.retiring}` : `not ready: issuing CA ${s.retiring} still signs live certificates`);
}

/** Publishes cmd/renew to each board and collects its cmd_result: renewing, refused: <why>, or no answer. */
async function askToRenew(ctx: CliContext, opts: BrokerClientOptions, devices: readonly string[], commandId: string, timeoutMs: number): Promise<Record<string, string>> {
  const answers: Record<string, string> = {};
  if (devices.length === 0) return answers;
  const client = await connectBrokerClient(ctx, opts);
  try {
    client.on('message', (topic, payload) => {
      const id = /^devices\/([^/]+)\/events$/.exec(topic)?.[1];
      if (id === undefined || !devices.includes(id)) return;
      let m: { event?: string; id?: string; ok?: boolean; error?: string; reason?: string };
      try {
        m = JSON.parse(payload.toString('utf8')) as typeof m;
      } catch {
        return;
      }
      if (m.event !== 'cmd_result' || m.id !== commandId) return;
      answers[id] = m.ok ? 'renewing' : `refused: ${String(m.error ?? m.reason ?? 'no reason given')}`;
    });
    await client.subscribeAsync('devices/+/events', { qos: 1 });
    for (const id of devices) await client.publishAsync(`devices/${id}/cmd/renew`, JSON.stringify({ id: commandId }), { qos: 1 });
    const until = Date.now() + timeoutMs;
    while (Object.keys(answers).length < devices.length && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  } finally {
    await client.endAsync().catch(() => undefined);
  }
  for (const id of devices) answers[id] ??= 'no answer (offline? it renews when it is back, or before expiry)';
  return answers;
}

async function waitForMigration(ctx: CliContext, dir: string, label: number, waitMs: number): Promise<string[]> {
  const until = Date.now() + waitMs;
  let left = rolloverStatus(dir).issuing.find((i) => i.label === label)?.devices ?? [];
  while (left.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 500));
    const now = rolloverStatus(dir).issuing.find((i) => i.label === label)?.devices ?? [];
    if (now.length !== left.length) ctx.note(`${now.length} board(s) still on issuing CA ${label}`);
    left = now;
  }
  return left;
}
