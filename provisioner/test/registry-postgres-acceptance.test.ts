// Issue 18 acceptance: four `espfleet provision` station processes, each with its own
// station name (and its own keystore and copy of the CA directory), provision 32 virtual
// boards at once into one PostgreSQL registry: 32 records, 32 distinct certificates, one
// unbroken audit chain with exactly one entry of each provisioning step per board. Then
// the same on a fresh database with the server restarted in the middle of the run: the
// stations retry, nothing is lost and nothing doubled.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeystore, initCa } from '../../certs/index.ts';
import { generateSigningKey, signBundle } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { oracleAvailable } from '../../scripts/lib/oracles.ts';
import { auditLines, verifyRegistryAudit } from '../station/audit-sql.ts';
import { openRegistryAt } from '../station/open-registry.ts';
import type { AuditEntry } from '../station/records.ts';
import { startPostgresCluster, type PostgresCluster } from './postgres-cluster.ts';
import { stationToml as station } from './station-toml.ts';

const STATIONS = 4;
const BOARDS_PER_STATION = 8;
const STEPS = ['provision.start', 'provision.identity', 'provision.escrow', 'provision.efuse', 'provision.flash', 'provision.done'];

const child = fileURLToPath(new URL('./station-child.ts', import.meta.url));
const run = promisify(execFile);
const available = oracleAvailable('initdb');
const dir = mkdtempSync(join(tmpdir(), 'espfleet-pg-stations-'));
let cluster: PostgresCluster | undefined;

afterAll(() => {
  cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function stationToml(i: number, registry: string, run: string): string {
  return station({ id: `line${i}`, operator: `operator${i}`, caDir: `ca-${i}`, keystore: `keys-${run}-${i}.json`, registry, audit: `unused-${run}-${i}.jsonl`, journalDir: `journal-${run}-${i}` });
}

beforeAll(async () => {
  if (!available) return;
  cluster = await startPostgresCluster();
  const passphrase = randomBytes(24).toString('base64');
  await initCa({ dir: join(dir, 'ca'), passphrase });
  // Each station holds its own copy of the fleet CA (its issuance index is a local file).
  for (let i = 0; i < STATIONS; i++) cpSync(join(dir, 'ca'), join(dir, `ca-${i}`), { recursive: true });
  writeFileSync(join(dir, 'ca.pass'), `${passphrase}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'keystore.key'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const signer = generateSigningKey();
  writeFileSync(join(dir, 'sign0.pub.pem'), signer.publicKeyPem);
  const demo = makeDemoFirmware({ version: '2.1.0', appSize: 0x18000 });
  writeFileSync(join(dir, 'fw.zip'), signBundle(demo.bundle, signer.privateKeyPem, 0));
}, 120_000);

interface ChildResult {
  code: number;
  outcomes: Array<{ result: string; deviceId: string | null }> | string;
  stderr: string;
}

/** Four station processes at once on `runName`'s database; `during` runs while they work. */
async function provisionAll(runName: string, during?: (url: string) => Promise<void>): Promise<{ url: string; results: ChildResult[] }> {
  const url = cluster!.createDatabase(`stations_${runName}`);
  for (let i = 0; i < STATIONS; i++) {
    await createKeystore(join(dir, `keys-${runName}-${i}.json`), { keyFile: join(dir, 'keystore.key') });
    writeFileSync(join(dir, `station-${runName}-${i}.toml`), stationToml(i, url, runName));
  }
  // The schema exists before the stations start, so `during` can watch the audit table.
  await (await openRegistryAt(url)).close();
  const children = Array.from({ length: STATIONS }, (_, i) =>
    run(process.execPath, ['--import', 'tsx', child, join(dir, `station-${runName}-${i}.toml`), `${runName}-s${i}`, String(BOARDS_PER_STATION)], { timeout: 1_500_000, maxBuffer: 16 << 20 }),
  );
  const watching = during?.(url);
  const outs = await Promise.all(children);
  await watching;
  return { url, results: outs.map((o) => JSON.parse(o.stdout.trim().split('\n').at(-1)!) as ChildResult) };
}

async function expectOneUnbrokenHistory(url: string, results: ChildResult[]): Promise<void> {
  for (const r of results) {
    expect(r.code, r.stderr).toBe(0);
    expect(Array.isArray(r.outcomes) && r.outcomes.every((o) => o.result === 'provisioned'), r.stderr).toBe(true);
  }
  const reg = await openRegistryAt(url, { readOnly: true });
  try {
    const records = await reg.list();
    expect(records).toHaveLength(STATIONS * BOARDS_PER_STATION);
    expect(records.every((r) => r.status === 'provisioned')).toBe(true);
    expect(new Set(records.map((r) => r.mac)).size).toBe(STATIONS * BOARDS_PER_STATION);
    expect(new Set(records.map((r) => r.certSerial)).size).toBe(STATIONS * BOARDS_PER_STATION);
    for (let i = 0; i < STATIONS; i++) expect(records.filter((r) => r.station === `line${i}`)).toHaveLength(BOARDS_PER_STATION);

    const verdict = await verifyRegistryAudit(reg);
    expect(verdict, JSON.stringify(verdict.problem)).toMatchObject({ ok: true });
    const entries = (await auditLines(reg)).map((l) => JSON.parse(l) as AuditEntry);
    expect(verdict.entries).toBe(entries.length);
    expect(verdict.anchor?.entries).toBe(entries.length);
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i));
    // Exactly one entry of each step per board: none lost, none doubled by a retry.
    for (const rec of records) {
      const mine = entries.filter((e) => e.subject.deviceId === rec.deviceId).map((e) => e.action);
      expect(mine.sort(), rec.deviceId).toEqual([...STEPS].sort());
    }
    expect(entries).toHaveLength(STATIONS * BOARDS_PER_STATION * STEPS.length);
    const done = entries.filter((e) => e.action === 'provision.done');
    expect(new Set(done.map((e) => (e.details as { certSerial: string }).certSerial))).toEqual(new Set(records.map((r) => r.certSerial)));
  } finally {
    await reg.close();
  }
}

describe.skipIf(!available)('four stations provisioning into one PostgreSQL registry', () => {
  it('32 boards at once: 32 records, 32 certificates, one unbroken audit chain', { timeout: 1_800_000 }, async () => {
    const { url, results } = await provisionAll('plain');
    await expectOneUnbrokenHistory(url, results);
  });

  it('the same with the database restarted mid-run: the stations retry, nothing lost, nothing doubled', { timeout: 1_800_000 }, async () => {
    let doneAtRestart = -1;
    const { url, results } = await provisionAll('restart', async (url) => {
      const watcher = await openRegistryAt(url, { readOnly: true });
      try {
        // Restart once a few boards are finished and the rest are in flight.
        for (;;) {
          const done = (await auditLines(watcher)).filter((l) => l.includes('"action":"provision.done"')).length;
          if (done >= 4) {
            doneAtRestart = done;
            break;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        cluster!.restart();
      } finally {
        await watcher.close();
      }
    });
    expect(doneAtRestart).toBeGreaterThanOrEqual(4);
    expect(doneAtRestart).toBeLessThan(STATIONS * BOARDS_PER_STATION);
    await expectOneUnbrokenHistory(url, results);
  });
});
