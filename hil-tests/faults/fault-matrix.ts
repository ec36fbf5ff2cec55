// The fault matrix (issue 17; docs/hil.md "The fault matrix"): named fault points of the
// three flows that put a board at risk — provisioning, OTA and certificate renewal — each
// tried on its own virtual board, and the verdict for each: was the board bricked, was data
// lost. The flows live in provisioning-faults.ts, ota-faults.ts and renewal-faults.ts; this
// file holds the vocabulary, the verdicts and the table.

export type FaultFlow = 'provisioning' | 'ota' | 'renewal';

/**
 * power-loss: the chip's power is cut (a USB-powered board takes its serial port with it).
 * line-fault: the wire misbehaves while the board keeps power — UART bytes dropped or
 * corrupted for provisioning; the board's TCP connection to the broker or the firmware
 * server reset mid-flow for OTA and renewal.
 * process-kill: a host process (the station's espfleet, the rollout driver, renewd) dies
 * with SIGKILL, as a crash or a pulled mains plug does.
 */
export type FaultKind = 'power-loss' | 'line-fault' | 'process-kill';

export interface FaultPoint {
  /** `<flow>/<step>/<where>`, e.g. `provisioning/efuse-burn/FLASH_CRYPT_CNT`. */
  name: string;
  kind: FaultKind;
  /** One sentence: what is cut, where, and what state the board is left in. */
  what: string;
}

/**
 * Bricked: after power (or the line, or the process) comes back and the recovery the product
 * prescribes has run, the board cannot reach a good state: its boot check accepts no
 * firmware, or it can never be provisioned / updated / renewed again.
 * Lost: a record that must exist is missing or wrong (an eFuse key without its escrow, a
 * certificate issued but absent from the registry, an audit chain that does not verify, a
 * registry record that disagrees with the board, a renewal the fleet forgot).
 */
export interface PointVerdict {
  point: FaultPoint;
  flow: FaultFlow;
  /** Did the fault fire where it was armed (a point that never fired proves nothing). */
  fired: boolean;
  /** How the flow ended after the fault and the recovery, in a few words. */
  ending: string;
  /** Why the board counts as bricked; empty when it was proven usable. */
  bricked: string[];
  /** Each record lost or wrong; empty when every record agrees. */
  lost: string[];
  /** A product bug this point is known to hit (reported, not hidden): counted apart. */
  knownFailure?: string;
}

export interface MatrixSummary {
  points: number;
  /** Points whose fault did not fire: counted as failures of the matrix itself. */
  notFired: number;
  bricked: number;
  lost: number;
  knownFailures: number;
  byFlow: Record<FaultFlow, { points: number; bricked: number; lost: number }>;
}

export function summarize(verdicts: readonly PointVerdict[]): MatrixSummary {
  const byFlow = { provisioning: { points: 0, bricked: 0, lost: 0 }, ota: { points: 0, bricked: 0, lost: 0 }, renewal: { points: 0, bricked: 0, lost: 0 } };
  for (const v of verdicts) {
    const f = byFlow[v.flow];
    f.points++;
    if (v.bricked.length > 0) f.bricked++;
    if (v.lost.length > 0) f.lost++;
  }
  return {
    points: verdicts.length,
    notFired: verdicts.filter((v) => !v.fired).length,
    bricked: verdicts.filter((v) => v.bricked.length > 0).length,
    lost: verdicts.filter((v) => v.lost.length > 0).length,
    knownFailures: verdicts.filter((v) => v.knownFailure).length,
    byFlow,
  };
}

/** One line per point, then the totals: what `scripts/hil-faults` prints and the test logs. */
export function renderTable(verdicts: readonly PointVerdict[]): string {
  const rows = verdicts.map((v) => [v.point.name, v.point.kind, v.fired ? 'yes' : 'NO', v.bricked.length > 0 ? 'BRICKED' : '-', v.lost.length > 0 ? 'LOST' : '-', v.knownFailure ? `known: ${v.knownFailure}` : v.ending]);
  const head = ['point', 'kind', 'fired', 'bricked', 'lost', 'ending'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const details = verdicts.flatMap((v) => [...v.bricked.map((b) => `  ${v.point.name}: bricked: ${b}`), ...v.lost.map((l) => `  ${v.point.name}: lost: ${l}`)]);
  const s = summarize(verdicts);
  const flows = (Object.keys(s.byFlow) as FaultFlow[]).filter((f) => s.byFlow[f].points > 0).map((f) => `${f} ${s.byFlow[f].points}`);
  return [
    line(head),
    ...rows.map(line),
    ...(details.length > 0 ? ['', ...details] : []),
    '',
    `points tried: ${s.points} (${flows.join(', ')}); boards bricked: ${s.bricked}; data lost: ${s.lost}${s.notFired > 0 ? `; NOT FIRED: ${s.notFired}` : ''}${s.knownFailures > 0 ? `; known failures: ${s.knownFailures}` : ''}`,
  ].join('\n');
}

/** A verdict being built up while a point's checks run. */
export function verdictFor(flow: FaultFlow, point: FaultPoint): PointVerdict {
  return { point, flow, fired: false, ending: '', bricked: [], lost: [] };
}

/** Runs a check that may throw; a throw is recorded under `into` instead of stopping the others. */
export async function check(into: string[], what: string, f: () => Promise<string | undefined | void> | string | undefined | void): Promise<void> {
  try {
    const problem = await f();
    if (problem) into.push(`${what}: ${problem}`);
  } catch (e) {
    into.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
