// `espfleet ota rotate-signing-key plan|start|status|resume` (issue 21, docs/fleet.md
// "Rotating the firmware signing key"): the fleet's update.key0..7 / sig_req_mask moved from
// the old signing key to a new one in another slot by signed cmd/keys, step by step
// (fleet/signing-key-plan.ts), each step only once every targeted board is at the one
// before; state in the registry, every step audited (actor: the --client-cert CN). Private
// keys come from files, their passphrases from files or the environment, never argv.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { loadPrivateKey, loadPublicKey, mgosPublicKeyConfig } from '../../../../firmware-js/bundle/index.ts';
import { readInputFile } from '../../../io/files.ts';
import { intArg } from '../../args.ts';
import { brokerClientOptions, connectBrokerClient, type BrokerClientOptions } from '../../broker-client.ts';
import type { CliContext } from '../../context.ts';
import { ExitCode, Interrupted } from '../../exit.ts';
import { progressFor, addProgressOptions, type ProgressCliOptions } from '../../progress.ts';
import { resolvePassphrase } from '../../secrets.ts';
import { FleetError } from '../../../fleet/errors.ts';
import { parseDuration } from '../../../fleet/rollout-policy.ts';
import { parseSelect } from '../../../fleet/select.ts';
import { checkRotationId, createRotationFromFleet, planLines, planRotation, retainedKeyFacts, rotationLines } from '../../../fleet/signing-key-create.ts';
import { driveRotation, type BehindBoard, type RotationEvent } from '../../../fleet/signing-key-driver.ts';
import { ROTATION_STEPS, rotationKeys, stepOf, type BoardKeys, type RotationKeys, type RotationStep } from '../../../fleet/signing-key-plan.ts';
import { listRotations, loadBoardKeys, loadRotation } from '../../../fleet/signing-key-store.ts';
import { findStation } from '../devices/station-paths.ts';
import { SIGNING_PASSPHRASE_ENV } from '../fw/keygen.ts';
import { actorFrom, openStores, storeOptions, type StoreCliOptions } from './rollout-common.ts';

interface KeyOptions {
  newPub: string;
  slot: number;
  oldSlot: number;
  oldPub?: string;
}

interface SignerOptions {
  oldKey?: string;
  oldPassphraseFile?: string;
  newKey?: string;
  newPassphraseFile?: string;
}

interface DriveOptions extends SignerOptions, BrokerClientOptions, ProgressCliOptions, StoreCliOptions {
  until?: RotationStep;
  deviceTimeout: string;
}

function stepArg(text: string): RotationStep {
  const i = (ROTATION_STEPS as readonly string[]).indexOf(text);
  if (i < 1) throw new InvalidArgumentError(`one of ${ROTATION_STEPS.slice(1).join(', ')}`);
  return i as RotationStep;
}

const readPem = (ctx: CliContext, path: string, what: string) => new TextDecoder().decode(readInputFile(resolve(ctx.cwd, path), what));

/** The old key: --old-pub, else the station's firmware.signing_keys[--old-slot] (the key its boards got). */
function keysFrom(ctx: CliContext, opts: KeyOptions & { station?: string }): RotationKeys {
  let oldPem: string;
  if (opts.oldPub !== undefined) oldPem = readPem(ctx, opts.oldPub, 'old public key');
  else {
    const path = findStation(ctx, opts.station)?.firmware.signingKeys[opts.oldSlot];
    if (path === undefined) throw new FleetError('fleet.keys.no_old_key', `no old public key: no --old-pub, and the station config has no firmware.signing_keys[${opts.oldSlot}]`, { hint: 'give --old-pub <pem> (the key the boards hold in --old-slot)' });
    oldPem = readPem(ctx, path, 'old public key (firmware.signing_keys)');
  }
  return rotationKeys(opts.oldSlot, mgosPublicKeyConfig(loadPublicKey(oldPem)), opts.slot, mgosPublicKeyConfig(loadPublicKey(readPem(ctx, opts.newPub, 'new public key'))));
}

async function signer(ctx: CliContext, path: string | undefined, passphraseFile: string | undefined, what: string, expectB64: string): Promise<KeyObject | undefined> {
  if (path === undefined) return undefined;
  const pem = readPem(ctx, path, what);
  const passphrase = pem.includes('ENCRYPTED') ? await resolvePassphrase(ctx, { what, envVar: SIGNING_PASSPHRASE_ENV, ...(passphraseFile !== undefined ? { file: passphraseFile } : {}) }) : undefined;
  const key = loadPrivateKey(pem, passphrase);
  if (mgosPublicKeyConfig(createPublicKey(key)) !== expectB64) {
    throw new FleetError('fleet.keys.wrong_private_key', `${path} is not the private key of the rotation's ${what.replace(' signing key', '')} public key`, { hint: 'check --old-key / --new-key' });
  }
  return key;
}

async function signers(ctx: CliContext, opts: SignerOptions, k: RotationKeys): Promise<{ old?: KeyObject; new?: KeyObject }> {
  const old = await signer(ctx, opts.oldKey, opts.oldPassphraseFile, 'old signing key', k.oldKey);
  const neu = await signer(ctx, opts.newKey, opts.newPassphraseFile, 'new signing key', k.newKey);
  return { ...(old ? { old } : {}), ...(neu ? { new: neu } : {}) };
}

function keyOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--new-pub <pem>', 'the new public key (from `espfleet fw keygen --pub`)')
    .requiredOption('--slot <n>', 'the free update.key<n> slot it goes into (0..7)', intArg(0, 7))
    .option('--old-slot <n>', "the old key's slot (0..7)", intArg(0, 7), 0)
    .option('--old-pub <pem>', "the old public key (default: the station config's firmware.signing_keys[--old-slot])");
}

function driveOptions(cmd: Command): Command {
  return addProgressOptions(brokerClientOptions(storeOptions(cmd)))
    .option('--old-key <pem>', 'the old private signing key (signs every step)')
    .option('--old-passphrase-file <file>', `its passphrase (else $${SIGNING_PASSPHRASE_ENV}, else a prompt)`)
    .option('--new-key <pem>', 'the new private signing key (needed for the last step, retired)')
    .option('--new-passphrase-file <file>', `its passphrase (else $${SIGNING_PASSPHRASE_ENV}, else a prompt)`)
    .option('--until <step>', `stop after this step: ${ROTATION_STEPS.slice(1).join(', ')} (default retired)`, stepArg)
    .option('--device-timeout <duration>', 'how long a commanded online board has to report the new step', '2m')
    .option('--json', 'print the rotation record and the boards behind as JSON');
}

function describe(e: RotationEvent): string {
  if (e.type === 'commanded') return `${ROTATION_STEPS[e.step]}: commanded ${e.ids.length} board${e.ids.length === 1 ? '' : 's'}`;
  if (e.type === 'applied') return `${e.id}: ${ROTATION_STEPS[e.step]}`;
  if (e.type === 'refused') return `${e.id}: refused: ${e.reason}`;
  return `step ${ROTATION_STEPS[e.step]} passed: every targeted board is at it`;
}

async function drive(ctx: CliContext, opts: DriveOptions, id: string, actor: string, stores: Awaited<ReturnType<typeof openStores>>): Promise<void> {
  const rec = (await loadRotation(stores.registry, id))!;
  const keys = await signers(ctx, opts, rec.spec.keys);
  const client = await connectBrokerClient(ctx, opts);
  const progress = progressFor(ctx, opts);
  const release = ctx.interrupt?.hold();
  let result;
  try {
    progress.note(`rotation ${id}: driving as ${actor}`);
    result = await driveRotation({
      registry: stores.registry,
      audit: stores.audit,
      client,
      id,
      actor,
      signers: keys,
      ...(opts.until !== undefined ? { until: opts.until } : {}),
      deviceTimeoutMs: parseDuration(opts.deviceTimeout, '--device-timeout'),
      ...(ctx.interrupt ? { signal: ctx.interrupt.signal } : {}),
      onEvent: (e) => progress.note(describe(e)),
    });
  } finally {
    progress.done();
    release?.();
    await client.endAsync().catch(() => undefined);
  }
  if (result.ended === 'stopped') {
    throw new Interrupted('cli.interrupted', `rotation ${id} stopped (Ctrl-C) at ${ROTATION_STEPS[result.record.step]}; its state is in the registry`, { hint: `espfleet ota rotate-signing-key resume --id ${id} continues it` });
  }
  if (opts.json) ctx.json({ ...result.record, behind: result.behind, ended: result.ended });
  else for (const line of rotationLines(result.record, (await loadBoardKeys(stores.registry)))) ctx.out(line);
  if (result.ended === 'waiting') {
    ctx.note(`rotation ${id} waits at ${ROTATION_STEPS[result.record.step]}: ${result.behind.length} board(s) not at the next step: ${behindText(result.behind)}`);
    ctx.note(`keep signing bundles with both keys; \`espfleet ota rotate-signing-key resume --id ${id}\` continues once they are back`);
    throw new ExitCode(1);
  }
  ctx.note(result.ended === 'done' ? `rotation ${id} done: every board trusts only the new key (slot ${rec.spec.keys.newSlot})` : `rotation ${id} at ${ROTATION_STEPS[result.record.step]} (--until)`);
}

const behindText = (b: readonly BehindBoard[]) => b.map((x) => `${x.id} (${x.why}${x.step !== undefined ? `, at ${ROTATION_STEPS[x.step]}` : ''}${x.reason ? `: ${x.reason}` : ''})`).join(', ');

export function register(ota: Command, ctx: CliContext): void {
  const cmd = ota
    .command('rotate-signing-key')
    .description("move the fleet's firmware signing key to a new one: add it, require it, retire the old one (signed cmd/keys, step by step)");

  keyOptions(brokerClientOptions(storeOptions(cmd.command('plan').description('show each selected board and the step it is at; writes nothing'))))
    .option('--select <filter>', 'the boards (as `ota rollout`)', 'status=provisioned')
    .option('--json', 'print the plan as JSON')
    .action(async (opts: KeyOptions & BrokerClientOptions & StoreCliOptions & { select: string; json?: boolean }) => {
      const keys = keysFrom(ctx, opts);
      const select = parseSelect(opts.select);
      const stores = await openStores(ctx, opts);
      try {
        const client = await connectBrokerClient(ctx, opts);
        try {
          const boards = planRotation(keys, (await stores.registry.list()).filter(select), await retainedKeyFacts(client), (await loadBoardKeys(stores.registry)));
          if (opts.json) ctx.json({ keys: { oldSlot: keys.oldSlot, oldFp: keys.oldFp, newSlot: keys.newSlot, newFp: keys.newFp }, boards });
          else for (const line of planLines(keys, boards)) ctx.out(line);
        } finally {
          await client.endAsync().catch(() => undefined);
        }
      } finally {
        await stores.close();
      }
    });

  driveOptions(keyOptions(cmd.command('start').description('record a rotation in the registry and drive it')))
    .option('--select <filter>', 'the boards (as `ota rollout`)', 'status=provisioned')
    .option('--id <rotation>', 'the rotation id (1..48 of A-Z a-z 0-9 - _ . :; default k-<UTC time>)')
    .addHelpText(
      'after',
      `
Steps: added (the new key in --slot; mask unchanged), required (mask = both slots), retired
(old slot cleared, mask = the new slot). Each command is signed by the keys the board's
current mask requires: --old-key for every step, --new-key too for retired. A step starts
only when every targeted board reports the previous one; boards offline or refusing are
listed and the rotation waits (exit status 1) — sign bundles with both keys until it is
done. Exit status 0 when done (or at --until), 1 when waiting, 130 on Ctrl-C.

Example:
  espfleet ota rotate-signing-key start --station station.toml --new-pub release-2027.pub --slot 1 \\
    --old-key release-2024.pem --new-key release-2027.pem --old-passphrase-file old.pass --new-passphrase-file new.pass \\
    --broker mqtts://mqtt.example.net:8883 --client-cert alice.pem --client-key alice.key --broker-ca fleet-ca/chain.pem`,
    )
    .action(async (opts: DriveOptions & KeyOptions & { select: string; id?: string }) => {
      const keys = keysFrom(ctx, opts);
      const select = parseSelect(opts.select);
      const now = new Date();
      const id = checkRotationId(opts.id ?? `k-${now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`);
      await signers(ctx, opts, keys); // a wrong key file fails before anything is written
      const actor = actorFrom(ctx, opts.clientCert);
      const stores = await openStores(ctx, opts);
      try {
        const client = await connectBrokerClient(ctx, opts);
        try {
          const { boards } = await createRotationFromFleet({ registry: stores.registry, audit: stores.audit, id, actor, keys, select: opts.select, records: (await stores.registry.list()).filter(select), facts: await retainedKeyFacts(client), now });
          ctx.note(`rotation ${id}: ${boards.length} boards, slot ${keys.oldSlot} → slot ${keys.newSlot}`);
        } finally {
          await client.endAsync().catch(() => undefined);
        }
        await drive(ctx, opts, id, actor, stores);
      } finally {
        await stores.close();
      }
    });

  driveOptions(cmd.command('resume').description('continue a rotation from the registry (boards that came back catch up first)'))
    .requiredOption('--id <rotation>', 'the rotation')
    .action(async (opts: DriveOptions & { id: string }) => {
      const actor = actorFrom(ctx, opts.clientCert);
      const stores = await openStores(ctx, opts);
      try {
        if (!(await loadRotation(stores.registry, opts.id))) throw new FleetError('fleet.keys.not_found', `no signing-key rotation ${opts.id} in the registry`, { hint: 'list them with `espfleet ota rotate-signing-key status`' });
        await drive(ctx, opts, opts.id, actor, stores);
      } finally {
        await stores.close();
      }
    });

  storeOptions(cmd.command('status').description('the rotations in the registry; with --id each board and the step it is at (by its last report)'))
    .option('--id <rotation>', 'one rotation')
    .option('--json', 'print as JSON')
    .action(async (opts: StoreCliOptions & { id?: string; json?: boolean }) => {
      const stores = await openStores(ctx, opts);
      try {
        const boardKeys = (await loadBoardKeys(stores.registry));
        const recs = opts.id !== undefined ? [(await loadRotation(stores.registry, opts.id))] : (await listRotations(stores.registry));
        if (recs[0] === undefined && opts.id !== undefined) throw new FleetError('fleet.keys.not_found', `no signing-key rotation ${opts.id} in the registry`);
        const withSteps = (recs as NonNullable<(typeof recs)[number]>[]).map((r) => ({ ...r, boardSteps: Object.fromEntries(Object.keys(r.boards).map((d) => [d, ((k) => (k ? stepName(r.spec.keys, k) : 'unknown'))(boardKeys.get(d))])) }));
        if (opts.json) return ctx.json(opts.id !== undefined ? withSteps[0] : withSteps);
        for (const r of recs) for (const line of rotationLines(r!, boardKeys)) ctx.out(line);
        if (recs.length === 0) ctx.out('no signing-key rotation recorded');
      } finally {
        await stores.close();
      }
    });
}

/** A board's step by its last report, as a word. */
function stepName(k: RotationKeys, b: BoardKeys): string {
  const s = stepOf(k, b);
  return s === undefined ? 'unexpected-keys' : ROTATION_STEPS[s];
}
