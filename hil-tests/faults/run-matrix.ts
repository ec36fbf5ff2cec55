// Runs the fault matrix's flows in order (provisioning, OTA, renewal) and returns every
// point's verdict: what the test (hil-tests/test/fault-matrix.test.ts) asserts and
// `scripts/hil-faults` prints.
import type { FaultFlow, FaultPoint, PointVerdict } from './fault-matrix.ts';
import { runOtaFaults } from './ota-faults.ts';
import { runProvisioningFaults } from './provisioning-faults.ts';
import { runRenewalFaults } from './renewal-faults.ts';

export const FAULT_FLOWS: readonly FaultFlow[] = ['provisioning', 'ota', 'renewal'];

export interface MatrixOptions {
  flows?: readonly FaultFlow[];
  /** Only the points whose name contains one of these. */
  points?: readonly string[];
  log?: (line: string) => void;
}

export function runFlow(flow: FaultFlow, opts: { only?: (p: FaultPoint) => boolean; log?: (line: string) => void }): Promise<PointVerdict[]> {
  if (flow === 'provisioning') return runProvisioningFaults(opts);
  if (flow === 'ota') return runOtaFaults(opts);
  return runRenewalFaults(opts);
}

export async function runFaultMatrix(opts: MatrixOptions = {}): Promise<PointVerdict[]> {
  const names = opts.points ?? [];
  const only = names.length > 0 ? (p: FaultPoint) => names.some((n) => p.name.includes(n)) : undefined;
  const verdicts: PointVerdict[] = [];
  for (const flow of opts.flows ?? FAULT_FLOWS) verdicts.push(...(await runFlow(flow, { ...(only ? { only } : {}), ...(opts.log ? { log: opts.log } : {}) })));
  return verdicts;
}
