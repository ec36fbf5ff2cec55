// `scripts/hil-faults`: runs the fault matrix on virtual boards and prints the table (or,
// with --json, the verdicts and the totals). Exit 0 when every point fired and no board was
// bricked and no record lost; 1 otherwise; 2 for bad arguments.
//   scripts/hil-faults [--flow provisioning|ota|renewal]… [--point <name part>]… [--json]
import { parseArgs } from 'node:util';
import { requireOracle, OracleMissing } from '../../scripts/lib/oracles.ts';
import { renderTable, summarize, type FaultFlow } from './fault-matrix.ts';
import { FAULT_FLOWS, runFaultMatrix } from './run-matrix.ts';

const USAGE = 'usage: scripts/hil-faults [--flow provisioning|ota|renewal]... [--point <part of a point name>]... [--json]';

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { flow: { type: 'string', multiple: true }, point: { type: 'string', multiple: true }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\nRuns every named fault point of provisioning, OTA and renewal on virtual boards (docs/hil.md "The fault matrix").\n`);
    return 0;
  }
  const flows = (parsed.values.flow ?? []).flatMap((f) => f.split(','));
  const bad = flows.find((f) => !(FAULT_FLOWS as readonly string[]).includes(f));
  if (bad !== undefined) {
    process.stderr.write(`error: unknown flow "${bad}" (one of ${FAULT_FLOWS.join(', ')})\n${USAGE}\n`);
    return 2;
  }
  const chosen = (flows.length > 0 ? flows : FAULT_FLOWS) as FaultFlow[];
  // OTA and renewal run against a real mosquitto: say so before minutes of provisioning.
  if (chosen.some((f) => f !== 'provisioning')) {
    try {
      requireOracle('mosquitto');
    } catch (e) {
      if (!(e instanceof OracleMissing)) throw e;
      process.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
  }
  const json = parsed.values.json === true;
  const verdicts = await runFaultMatrix({ flows: chosen, points: parsed.values.point ?? [], log: (l) => process.stderr.write(`${l}\n`) });
  const s = summarize(verdicts);
  if (json) process.stdout.write(`${JSON.stringify({ summary: s, points: verdicts }, null, 2)}\n`);
  else process.stdout.write(`${renderTable(verdicts)}\n`);
  return s.points > 0 && s.notFired === 0 && s.bricked === 0 && s.lost === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
