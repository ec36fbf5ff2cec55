// Bench: boards per hour for a factory station with 1, 4 and 8 ports — virtual ESP32s
// throttled to the line rate (921600 baud after the stub), a demo bundle with a 1.5 MB
// app, development-mode flash encryption (escrow, eFuse burns, pre-encrypted writes),
// identity, boot check and records: the whole pipeline. Prints figures; asserts nothing.
// Host CPU per board includes the simulated boards, which run in this process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtualEsp32, registerSimBoard } from '../../hil-tests/index.ts';
import { loadStationConfig } from '../../provisioner/station/config.ts';
import { openStation } from '../../provisioner/station/open-station.ts';
import { runStation } from '../../provisioner/station/runner.ts';
import { createDemoStation } from '../lib/demo-station.ts';

const APP_SIZE = 1_500_000;
const PORT_COUNTS = (process.env.STATION_BENCH_PORTS ?? '1,4,8').split(',').map(Number);

console.log(`station: demo bundle with a ${(APP_SIZE / 1e6).toFixed(1)} MB app, development encryption, boards throttled to the baud rate`);
for (const ports of PORT_COUNTS) {
  const workdir = mkdtempSync(join(tmpdir(), `espfleet-station-bench-${ports}-`));
  const names = Array.from({ length: ports }, (_, i) => `bench${ports}-${i + 1}`);
  const unregister = names.map((name) => {
    const chip = new VirtualEsp32({ name, throttle: true });
    chip.powerOn();
    return registerSimBoard(name, chip);
  });
  const { stationPath, env } = await createDemoStation({ workdir, ports: names.map((n) => `sim://${n}`), appSize: APP_SIZE });
  const config = loadStationConfig(stationPath);
  const station = await openStation(config, { env });
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const outcomes = await runStation(station.ctx, config.ports.urls);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  await station.close();
  unregister.forEach((off) => off());
  rmSync(workdir, { recursive: true, force: true });
  const ok = outcomes.filter((o) => o.ok).length;
  const perBoard = outcomes.map((o) => o.durationMs / 1000);
  console.log(
    `${String(ports).padStart(2)} port(s): ${ok}/${ports} provisioned in ${seconds.toFixed(1)} s → ${((ok / seconds) * 3600).toFixed(0).padStart(5)} boards/hour; ` +
      `per board ${Math.min(...perBoard).toFixed(1)}–${Math.max(...perBoard).toFixed(1)} s; host CPU ${((cpu.user + cpu.system) / 1e6 / ports).toFixed(2)} s per board (incl. the simulated boards)`,
  );
}
