// Step 7, record: the registry record (status provisioned, certificate, firmware,
// encryption mode, where the key is escrowed) and the audit entry that closes the
// provisioning (DESIGN.md invariant 6). Leftover certificates for the CN are revoked first.
import type { DeviceRecord, DeviceStatus } from '../records.ts';
import { settleRevocations } from './identity.ts';
import { audit, completeStep, nowIso, type RunState } from './run-state.ts';

export function keystoreRef(run: Pick<RunState, 'ctx' | 'mac'>): string | null {
  return run.ctx.encryptionMode === 'off' ? null : `${run.ctx.keystore.path}#mac=${run.mac}`;
}

export function recordFor(run: Pick<RunState, 'ctx' | 'mac' | 'deviceId' | 'journal'>, status: DeviceStatus, reason: string | null, createdAt: string): DeviceRecord {
  const { ctx, journal } = run;
  return {
    deviceId: run.deviceId,
    mac: run.mac,
    chipRevision: journal.chipRevision,
    certSerial: journal.cert?.serial ?? null,
    certFingerprintSha256: journal.cert?.fingerprintSha256 ?? null,
    certNotAfter: journal.cert?.notAfter ?? null,
    firmwareVersion: journal.firmwareVersion,
    encryptionMode: ctx.encryptionMode,
    keystoreRef: keystoreRef(run),
    station: ctx.station,
    operator: ctx.operator,
    status,
    reason,
    createdAt,
    updatedAt: nowIso(ctx),
  };
}

export async function recordBoard(run: RunState, createdAt: string): Promise<DeviceRecord> {
  await settleRevocations(run, run.journal.cert?.serial);
  const record = recordFor(run, 'provisioned', null, createdAt);
  // Registry, then audit, then the journal: until the journal says done, a re-run finishes
  // the record (identify treats a provisioned record with an unfinished journal as resumable).
  await run.ctx.registry.upsert(record);
  await audit(run, 'provision.done', { certSerial: record.certSerial, firmwareVersion: record.firmwareVersion, encryptionMode: record.encryptionMode, runs: run.journal.runs });
  run.journal.status = 'done';
  run.journal.lastError = null;
  completeStep(run, 'record', `registry: ${run.deviceId} provisioned, certificate ${record.certSerial ?? 'none'}`);
  return record;
}
