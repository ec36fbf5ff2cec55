// The factory provisioning pipeline for one board (DESIGN.md "provisioner/", invariants
// 1, 2 and 6): identify → identity → compose → plan → escrow+encrypt+write+burn → boot
// check → record. Every step is idempotent and recorded in a per-board journal, so a
// re-run after any interruption resumes: a board whose flash still holds a finished
// identity of ours goes on to the boot check; otherwise the identity is made anew (its
// key was only ever in the interrupted run's memory) and the unused certificate revoked.
import { randomUUID } from 'node:crypto';
import type { Ca, KeyEscrow } from '../../certs/index.ts';
import { verifyBundle, type Bundle } from '../../firmware-js/bundle/index.ts';
import { isEspfleetError } from '../../firmware-js/errors.ts';
import { checkBundleChip } from '../../firmware-js/flash-plan.ts';
import type { EncryptionMode } from '../encryption/index.ts';
import { connectBoard, type BoardSession, type ConnectOptions, type ResetMode } from '../session/index.ts';
import { writeJournal, type StepName } from './journal.ts';
import type { AuditLog, DeviceRecord, DeviceRegistry } from './records.ts';
import { bootCheck, type BootVerdict } from './steps/boot-check.ts';
import { composeDevice } from './steps/compose.ts';
import { planBoard } from './steps/plan.ts';
import { StationError } from './steps/errors.ts';
import { flashBoard, flashStillThere } from './steps/flash.ts';
import { identify } from './steps/identify.ts';
import { createIdentity } from './steps/identity.ts';
import { recordBoard, recordFor } from './steps/record.ts';
import { audit, completeStep, nowIso, say, type RunState } from './steps/run-state.ts';

export { StationError } from './steps/errors.ts';
export { deviceIdFor } from './device-id.ts';
export { consoleTap, BOOT_LOADED, BOOT_OK, BOOT_FAILED, type BootVerdict } from './steps/boot-check.ts';
export { composeConf9, deviceFiles } from './conf9.ts';
export { readJournal, journalPath, type BoardJournal, type StepName } from './journal.ts';

export interface PipelineContext {
  ca: Ca;
  keystore: KeyEscrow;
  /** The parsed firmware bundle (readBundle). */
  bundle: Bundle;
  /** PEM public keys of the bundle signers, written to update.key0… in order. */
  signingPublicKeys: string[];
  /** Refuse a bundle without valid signatures from every key, and make boards require them. */
  requireSignatures: boolean;
  /** e.g. `esp32_{mac6}`; see deviceIdFor. */
  deviceIdTemplate: string;
  /** host:port of the MQTT broker. */
  mqttServer: string;
  /** Free-form config merged into conf9.json (device.id, mqtt.*, update.keyN and sig_req_mask win). */
  agentSettings?: Record<string, unknown>;
  encryptionMode: 'off' | EncryptionMode;
  registry: DeviceRegistry;
  audit: AuditLog;
  journalDir: string;
  station: string;
  operator: string;
  reset?: ResetMode;
  baud?: number;
  /** Allow a board already provisioned to get a new identity and firmware. */
  reprovision?: boolean;
  /** Boot verdict after the hard reset; default: watch the console (steps/boot-check.ts). */
  bootCheck?: (portUrl: string) => Promise<BootVerdict>;
  bootTimeoutMs?: number;
  onProgress?: (line: string) => void;
  clock?: () => Date;
  /** Opens the board session; default connectBoard. A station may watch for vanished ports. */
  connect?: (portUrl: string, opts: ConnectOptions) => Promise<BoardSession>;
  /** Flash-encryption key generator; default node:crypto randomBytes. */
  randomKey?: (length: number) => Uint8Array;
}

export interface BoardOutcome {
  portUrl: string;
  ok: boolean;
  mac: string | null;
  deviceId: string | null;
  /** The registry record as written (provisioned, or failed with the reason). */
  record: DeviceRecord | null;
  /** The one error that stopped this run: stable code, message with the values, hint. */
  error: { code: string; message: string; hint?: string } | null;
  /** The thrown value behind `error` (a stack for bugs). */
  cause?: unknown;
  /** True when an earlier run's journal was continued. */
  resumed: boolean;
  /** Steps completed in this run, in order. */
  steps: StepName[];
  /** Certificate serials revoked (superseded) in this run. */
  revoked: string[];
  durationMs: number;
}

/** The sig_req_mask that requires every configured key. */
export function requiredMask(keys: number): number {
  return keys >= 31 ? -1 : (1 << keys) - 1;
}

/** Before any board is touched: with requireSignatures, the bundle must verify with every key. */
export function checkBundle(ctx: Pick<PipelineContext, 'bundle' | 'signingPublicKeys' | 'requireSignatures'>): void {
  if (!ctx.requireSignatures) return;
  const version = `${ctx.bundle.manifest.name ?? 'bundle'} ${ctx.bundle.manifest.version}`;
  if (ctx.signingPublicKeys.length === 0) {
    throw new StationError('station.no_signing_keys', `signatures are required but no signing public key was given to check ${version}`, { hint: 'pass the public key(s) the bundles are signed with' });
  }
  const verdict = verifyBundle(ctx.bundle, ctx.signingPublicKeys, requiredMask(ctx.signingPublicKeys.length));
  if (!verdict.accepted) {
    throw new StationError('station.unsigned_bundle', `${version} is not signed as required: ${verdict.reason}; no board was touched`, {
      hint: 'sign it with `espfleet fw sign` using the key(s) whose public halves the station is given',
    });
  }
}

export async function provisionBoard(ctx: PipelineContext, portUrl: string): Promise<BoardOutcome> {
  const t0 = Date.now();
  const outcome: BoardOutcome = { portUrl, ok: false, mac: null, deviceId: null, record: null, error: null, resumed: false, steps: [], revoked: [], durationMs: 0 };
  let session: BoardSession | undefined;
  let run: RunState | undefined;
  let createdAt = nowIso(ctx);
  try {
    checkBundle(ctx);
    say({ ctx, portUrl }, 'connecting');
    session = await (ctx.connect ?? connectBoard)(portUrl, { ...(ctx.reset ? { reset: ctx.reset } : {}), ...(ctx.baud ? { baud: ctx.baud } : {}) });
    const facts = await session.chipFacts();
    outcome.mac = facts.mac;
    checkBundleChip(ctx.bundle.manifest.platform, facts.chip); // before any identity, record or write (the plan step checks again)
    const found = await identify(ctx, portUrl, facts);
    outcome.deviceId = found.deviceId;
    outcome.resumed = found.resumed;
    createdAt = found.existing?.createdAt ?? found.journal.startedAt;
    run = { ctx, portUrl, runId: randomUUID(), session, facts, mac: facts.mac, deviceId: found.deviceId, journal: found.journal, done: outcome.steps, revoked: outcome.revoked };
    writeJournal(ctx.journalDir, run.journal);
    await ctx.registry.upsert(recordFor(run, 'provisioning', null, createdAt));
    await audit(run, found.journal.previous ? 'reprovision' : 'provision.start', {
      runs: run.journal.runs,
      resumed: found.resumed,
      chipRevision: run.journal.chipRevision,
      ...(found.journal.previous ? { previousCertSerial: found.journal.previous.certSerial } : {}),
    });
    completeStep(run, 'identify', `ESP32 rev ${run.journal.chipRevision}, MAC ${run.mac}, ${facts.flash.sizeBytes ?? '?'} bytes flash, flash encryption ${facts.efuse.encryptionEnabled ? 'on' : 'off'} → ${run.deviceId}${found.resumed ? ` (resuming, run ${run.journal.runs})` : ''}`);

    if (found.resumed && (await flashStillThere(run))) {
      say(run, `flash still holds certificate ${run.journal.cert?.serial ?? '?'} from an earlier run: resuming at the boot check`);
    } else {
      await createIdentity(run);
      composeDevice(run);
      planBoard(run);
      await flashBoard(run);
    }
    // Drop the key from memory as soon as it is on the board.
    delete run.identity;
    delete run.files;
    delete run.plan;
    await bootCheck(run);
    outcome.record = await recordBoard(run, createdAt);
    outcome.ok = true;
  } catch (e) {
    outcome.cause = e;
    outcome.error = isEspfleetError(e)
      ? { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) }
      : { code: 'station.bug', message: e instanceof Error ? e.message : String(e) };
    say({ ctx, portUrl }, `FAILED: ${outcome.error.message}`);
    await recordFailure(ctx, portUrl, run, outcome, createdAt);
  } finally {
    if (run) {
      delete run.identity;
      delete run.files;
      delete run.plan;
    }
    await session?.close().catch(() => {});
    outcome.durationMs = Date.now() - t0;
  }
  return outcome;
}

/** Best effort: the journal, the registry (only for a board this run took on) and the audit log learn of the failure. */
async function recordFailure(ctx: PipelineContext, portUrl: string, run: RunState | undefined, outcome: BoardOutcome, createdAt: string): Promise<void> {
  const error = outcome.error ?? { code: 'station.bug', message: 'unknown' };
  if (run) {
    try {
      run.journal.status = 'failed';
      run.journal.lastError = { code: error.code, message: error.message, at: nowIso(ctx) };
      writeJournal(ctx.journalDir, run.journal);
    } catch {
      // the journal on disk still says where the board got to
    }
    try {
      outcome.record = recordFor(run, 'failed', `${error.code}: ${error.message}`, createdAt);
      await ctx.registry.upsert(outcome.record);
    } catch {
      outcome.record = null;
    }
  }
  try {
    await ctx.audit.append({
      action: 'provision.failed',
      actor: ctx.operator,
      subject: { port: portUrl, ...(outcome.mac ? { mac: outcome.mac } : {}), ...(outcome.deviceId ? { deviceId: outcome.deviceId } : {}) },
      details: { station: ctx.station, code: error.code, message: error.message, steps: outcome.steps },
    });
  } catch {
    // the outcome still carries the error
  }
}
