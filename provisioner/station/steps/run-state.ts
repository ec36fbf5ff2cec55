// What one run of the pipeline carries from step to step: the context, the open session,
// the board's facts, its journal, and — in memory only — the device key and the plan.
import type { IssuedWithKey } from '../../../certs/index.ts';
import type { FlashRegion } from '../../../firmware-js/flash-plan.ts';
import type { BoardSession, ChipFacts } from '../../session/index.ts';
import type { BoardJournal, StepName } from '../journal.ts';
import { writeJournal } from '../journal.ts';
import type { PipelineContext } from '../pipeline.ts';
import type { AuditAction } from '../records.ts';

export interface RunState {
  ctx: PipelineContext;
  portUrl: string;
  /** Random per run: a certificate issued in another run has its key nowhere any more. */
  runId: string;
  session: BoardSession;
  facts: ChipFacts;
  mac: string;
  deviceId: string;
  journal: BoardJournal;
  /** Steps completed in this run, in order. */
  done: StepName[];
  /** Serials revoked in this run. */
  revoked: string[];
  identity?: IssuedWithKey;
  files?: Record<string, Uint8Array>;
  plan?: FlashRegion[];
}

export function nowIso(ctx: PipelineContext): string {
  return (ctx.clock?.() ?? new Date()).toISOString();
}

export function say(run: Pick<RunState, 'ctx' | 'portUrl'>, line: string): void {
  run.ctx.onProgress?.(`${run.portUrl}: ${line}`);
}

/** Marks a step done in the journal and writes it durably. */
export function completeStep(run: RunState, step: StepName, summary: string): void {
  const at = nowIso(run.ctx);
  run.journal.steps[step] = { at, runId: run.runId, summary };
  run.journal.updatedAt = at;
  writeJournal(run.ctx.journalDir, run.journal);
  run.done.push(step);
  say(run, `${step}: ${summary}`);
}

export function saveJournal(run: RunState): void {
  run.journal.updatedAt = nowIso(run.ctx);
  writeJournal(run.ctx.journalDir, run.journal);
}

export async function audit(run: Pick<RunState, 'ctx' | 'mac' | 'deviceId' | 'portUrl'>, action: AuditAction, details: Record<string, unknown> = {}, subject: Record<string, string> = {}): Promise<void> {
  await run.ctx.audit.append({
    action,
    actor: run.ctx.operator,
    subject: { deviceId: run.deviceId, mac: run.mac, ...subject },
    details: { station: run.ctx.station, port: run.portUrl, ...details },
  });
}
