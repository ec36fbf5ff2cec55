// Bench: provisioning records per second into the registry, on each backend (the SQLite
// file; PostgreSQL on a throw-away local cluster), with 1 and 4 writer processes. One
// record = what the station writes per board at the end: a device upsert plus an audit
// append (on SQLite the file log anchored in the registry; on PostgreSQL the chain's
// table). Writers start together; the rate is all records over the time from the start to
// the last writer's end. Run: npx tsx scripts/benchmarks/registry.ts [records]
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startPostgresCluster } from '../../provisioner/test/postgres-cluster.ts';
import { deviceRecord } from '../../provisioner/test/device-record.ts';
import { openStationAudit, verifyStationAudit } from '../../provisioner/station/audit-sql.ts';
import { openRegistryAt } from '../../provisioner/station/open-registry.ts';

const hex = (n: number) => n.toString(16).padStart(2, '0');

async function writer(location: string, audit: string, tag: number, count: number, startAt: number): Promise<void> {
  const registry = await openRegistryAt(location);
  const log = await openStationAudit(registry, audit);
  while (Date.now() < startAt) await new Promise((r) => setTimeout(r, 2));
  for (let i = 0; i < count; i++) {
    const id = `esp32_${hex(tag)}${hex(i >> 8)}${hex(i & 0xff)}`.toUpperCase().replace('ESP32', 'esp32');
    await registry.upsert(deviceRecord({ deviceId: id, mac: `24:0a:c4:${hex(tag)}:${hex(i >> 8)}:${hex(i & 0xff)}`, station: `line${tag}` }));
    await log.append({ action: 'provision.done', actor: `operator${tag}`, subject: { deviceId: id }, details: { station: `line${tag}` } });
  }
  await registry.close();
  process.stdout.write(`${Date.now()}\n`);
}

const self = fileURLToPath(import.meta.url);
const run = promisify(execFile);

async function measure(label: string, location: string, audit: string, writers: number, total: number): Promise<void> {
  await (await openRegistryAt(location)).close();
  const each = Math.ceil(total / writers);
  const startAt = Date.now() + 3000;
  const outs = await Promise.all(
    Array.from({ length: writers }, (_, w) => run(process.execPath, ['--import', 'tsx', self, '--writer', location, audit, String(w + 1), String(each), String(startAt)], { maxBuffer: 1 << 20 })),
  );
  const end = Math.max(...outs.map((o) => Number(o.stdout.trim().split('\n').at(-1))));
  const reg = await openRegistryAt(location, { readOnly: true });
  const records = (await reg.list()).length;
  const chain = await verifyStationAudit(reg, audit);
  await reg.close();
  if (records !== each * writers || !chain.ok || chain.entries !== each * writers) throw new Error(`${label}: ${records} records, audit ${JSON.stringify(chain)}`);
  const seconds = (end - startAt) / 1000;
  console.log(`${label.padEnd(34)} ${String(records).padStart(5)} records in ${seconds.toFixed(2).padStart(6)} s  ${(records / seconds).toFixed(1).padStart(7)} records/s`);
}

if (process.argv[2] === '--writer') {
  const [, , , location, audit, tag, count, startAt] = process.argv;
  await writer(location!, audit!, Number(tag), Number(count), Number(startAt));
} else {
  const total = Number(process.argv[2] ?? 400);
  const cluster = await startPostgresCluster();
  try {
    console.log(`registry bench: ${total} provisioning records (upsert + audit append) per run; PostgreSQL ${cluster.url} (fsync off, local)`);
    for (const writers of [1, 4]) {
      const dir = mkdtempSync(join(tmpdir(), 'espfleet-bench-registry-'));
      await measure(`sqlite file, ${writers} writer${writers === 1 ? '' : 's'}`, join(dir, 'registry.sqlite'), join(dir, 'audit.jsonl'), writers, total);
      await measure(`postgresql, ${writers} writer${writers === 1 ? '' : 's'}`, cluster.createDatabase(`bench_${writers}`), join(dir, 'unused.jsonl'), writers, total);
    }
  } finally {
    cluster.stop();
  }
}
