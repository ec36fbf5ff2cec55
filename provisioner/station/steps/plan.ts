// Step 4, plan: the device files put into the bundle's fs part and the flash plan
// (firmware-js/flash-plan.ts). Pure work on the host; the journal records the plan's
// shape, never the fs bytes (they hold the device key).
import { planFlash } from '../../../firmware-js/flash-plan.ts';
import { completeStep, type RunState } from './run-state.ts';

export function planBoard(run: RunState): void {
  if (!run.files) throw new Error('bug: plan before compose');
  const size = run.facts.flash.sizeBytes;
  // chip: a bundle for another chip is refused here, before the flash step escrows, burns or writes.
  run.plan = planFlash(run.ctx.bundle, { deviceFiles: run.files, chip: run.facts.chip, ...(size ? { flashSize: size } : {}) });
  run.journal.regions = run.plan.map((r) => ({ part: r.part, address: r.address, length: r.bytes.length, encrypt: r.encrypt }));
  completeStep(run, 'plan', `${run.plan.length} regions: ${run.plan.map((r) => `${r.part}@0x${r.address.toString(16)}`).join(', ')}`);
}
