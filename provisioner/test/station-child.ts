// One provisioning station as its own process, for the shared-registry acceptance test:
// makes `count` virtual boards (unthrottled: the sim's fastest line), registers them as
// sim://<prefix>-<i> in this process, runs `espfleet provision --station <toml> --json`
// on them, and prints one JSON line: exit code, the outcomes, the end of stderr.
// usage: node --import tsx station-child.ts <station.toml> <board prefix> <count>
import { VirtualEsp32, registerSimBoard } from '../../hil-tests/index.ts';
import { espfleet } from './cli-harness.ts';

const [toml, prefix, countText] = process.argv.slice(2);
if (!toml || !prefix || !countText) throw new Error('usage: station-child.ts <station.toml> <board prefix> <count>');
const ports: string[] = [];
for (let i = 0; i < Number(countText); i++) {
  const chip = new VirtualEsp32({ name: `${prefix}-${i}` });
  chip.powerOn();
  registerSimBoard(chip.options.name, chip);
  ports.push(`sim://${chip.options.name}`);
}
const r = await espfleet(['provision', '--station', toml, '--json', ...ports.flatMap((p) => ['--port', p])], { env: { ...process.env } });
let outcomes: unknown = null;
try {
  outcomes = JSON.parse(r.stdout);
} catch {
  outcomes = r.stdout;
}
process.stdout.write(`${JSON.stringify({ code: r.code, outcomes, stderr: r.stderr.slice(-3000) })}\n`);
process.exit(0);
