// Step 2, identity: a fresh EC P-256 key and device certificate (CN = device id), made in
// memory (DESIGN.md invariant 1). The journal keeps the serial only. An identity from an
// earlier run is unusable — its key existed only in that run's memory — so it is
// abandoned and revoked as superseded, as is any other valid device certificate for this
// CN (a crash between the CA's durable issue and our journal write leaves one behind).
import { issueDeviceCert, listIssued, revoke, CertsError } from '../../../certs/index.ts';
import { audit, completeStep, nowIso, saveJournal, say, type RunState } from './run-state.ts';

export async function createIdentity(run: RunState): Promise<void> {
  const { ctx, journal } = run;
  if (journal.cert && journal.cert.runId !== run.runId) {
    journal.abandoned.push({ serial: journal.cert.serial, revokedAt: null, why: 'key lost with an interrupted run' });
    journal.cert = null;
    // The board no longer holds a finished identity of ours.
    for (const s of ['identity', 'compose', 'plan', 'flash', 'boot'] as const) delete journal.steps[s];
    journal.regions = [];
    journal.boot = null;
    saveJournal(run);
  }
  await settleRevocations(run, undefined);
  const issued = await issueDeviceCert(ctx.ca, { cn: run.deviceId });
  run.identity = issued;
  journal.cert = { serial: issued.serialHex, fingerprintSha256: issued.fingerprintSha256, notAfter: issued.notAfter.toISOString(), runId: run.runId };
  completeStep(run, 'identity', `certificate ${issued.serialHex} for ${run.deviceId}, key in memory only`);
  await audit(run, 'provision.identity', { serial: issued.serialHex, fingerprintSha256: issued.fingerprintSha256, notAfter: issued.notAfter.toISOString() });
}

/**
 * Revokes (reason superseded) every abandoned certificate of this board and every other
 * valid device certificate with its CN except `keep`; records each in the journal and the
 * audit log. Safe to repeat: one already revoked is just noted.
 */
export async function settleRevocations(run: RunState, keep: string | undefined): Promise<void> {
  const { ctx, journal } = run;
  const owed = new Set(journal.abandoned.filter((a) => a.revokedAt === null).map((a) => a.serial));
  for (const r of listIssued(ctx.ca)) {
    if (r.role === 'device' && r.cn === run.deviceId && r.status === 'valid' && r.serialHex !== keep && !owed.has(r.serialHex)) {
      journal.abandoned.push({ serial: r.serialHex, revokedAt: null, why: 'issued for this device but never recorded' });
      owed.add(r.serialHex);
    }
  }
  for (const a of journal.abandoned) {
    if (a.revokedAt !== null || a.serial === keep) continue;
    try {
      await revoke(ctx.ca, a.serial, 'superseded');
      run.revoked.push(a.serial);
      await audit(run, 'certificate.revoke', { reason: 'superseded', why: a.why }, { serial: a.serial });
      say(run, `certificate ${a.serial} revoked (superseded: ${a.why})`);
    } catch (e) {
      if (!(e instanceof CertsError && e.code === 'certs.revoke.already_revoked')) throw e;
    }
    a.revokedAt = nowIso(ctx);
    saveJournal(run);
  }
}
