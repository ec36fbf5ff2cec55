// Step 5, escrow + encrypt + write + burn: for development/release, enableFlashEncryption
// escrows a new key durably before any eFuse is burned (invariant 2), burns it, writes the
// plan pre-encrypted and burns the counter last; it is idempotent, so a re-run after any
// cut finishes with the escrowed key. For mode off the plan is written in plaintext.
import { randomBytes } from 'node:crypto';
import { checkRegionsChip } from '../../../firmware-js/flash-plan.ts';
import { enableFlashEncryption } from '../../encryption/index.ts';
import type { RegionResult } from '../../session/index.ts';
import { StationError } from './errors.ts';
import { audit, completeStep, type RunState } from './run-state.ts';

export async function flashBoard(run: RunState): Promise<void> {
  const { ctx, session, facts } = run;
  if (!run.plan) throw new Error('bug: flash before plan');
  const regions = run.plan.map((r) => ({ address: r.address, bytes: r.bytes, encrypt: r.encrypt, name: r.part, platform: r.platform }));
  checkRegionsChip(regions, facts.chip);
  let results: RegionResult[];
  if (ctx.encryptionMode === 'off') {
    if (facts.efuse.encryptionEnabled) {
      throw new StationError('station.encryption_on', `${run.mac} already has flash encryption on (FLASH_CRYPT_CNT 0x${facts.efuse.flashCryptCnt.toString(16)}); writing plaintext would leave it unbootable; nothing was written`, {
        hint: 'provision it with encryption mode development or release (its key must be in the keystore)',
      });
    }
    results = await session.writeRegions(regions.map(({ address, bytes, name, platform }) => ({ address, bytes, name, platform })));
    run.journal.flash = { key: 'none', programs: 0, flashCryptCnt: facts.efuse.flashCryptCnt };
  } else {
    const enabled = await enableFlashEncryption(session, {
      mode: ctx.encryptionMode,
      keystore: ctx.keystore,
      deviceId: run.deviceId,
      regions,
      confirm: true,
      randomKey: ctx.randomKey ?? ((n) => new Uint8Array(randomBytes(n))),
      onStep: (line) => ctx.onProgress?.(`${run.portUrl}: ${line}`),
    });
    results = enabled.regions;
    run.journal.flash = { key: enabled.key, programs: enabled.programs, flashCryptCnt: enabled.final.flashCryptCnt };
    await audit(run, 'provision.escrow', { key: enabled.key, keystore: ctx.keystore.path });
    await audit(run, 'provision.efuse', { mode: ctx.encryptionMode, programs: enabled.programs, flashCryptCnt: enabled.final.flashCryptCnt, releaseMode: enabled.final.releaseMode });
  }
  for (const r of results) {
    const j = run.journal.regions.find((x) => x.address === r.address);
    if (j) Object.assign(j, { md5: r.md5, sectorsWritten: r.sectorsWritten, sectorsSkipped: r.sectorsSkipped });
  }
  const written = results.reduce((n, r) => n + r.sectorsWritten, 0);
  const skipped = results.reduce((n, r) => n + r.sectorsSkipped, 0);
  completeStep(run, 'flash', `${results.length} regions${ctx.encryptionMode === 'off' ? '' : ' encrypted'}, ${written} sectors written, ${skipped} already there`);
  await audit(run, 'provision.flash', { regions: results.length, sectorsWritten: written, sectorsSkipped: skipped, firmwareVersion: ctx.bundle.manifest.version });
}

/** True when every journaled region still reads back with the MD5 written: the board holds that run's identity. */
export async function flashStillThere(run: RunState): Promise<boolean> {
  const regions = run.journal.regions;
  if (!run.journal.steps.flash || !run.journal.cert || regions.length === 0 || regions.some((r) => !r.md5)) return false;
  for (const r of regions) {
    if ((await run.session.md5(r.address, r.length)) !== r.md5) return false;
  }
  return true;
}
