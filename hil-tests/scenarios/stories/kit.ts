// What the stories share: the board's topics and what the watcher saw on them, the CLI with
// its usual flags, the pair read off the board, and cmd/ota for a published bundle.
import { X509Certificate } from 'node:crypto';
import { expect } from 'vitest';
import { waitUntil } from '../../../certs/test/mosquitto-harness.ts';
import type { Message, Rig } from '../rig.ts';

export const json = (m: Message) => JSON.parse(m.payload) as Record<string, unknown>;
export const id = (r: Rig) => r.facts.deviceId;
export const topic = (r: Rig, t: string) => `devices/${id(r)}/${t}`;
export const since = (r: Rig, n: number, t: string) => r.seen.slice(n).filter((m) => m.topic === topic(r, t));
export const online = (r: Rig, n: number) => since(r, n, 'status').map(json).filter((s) => s.online === true);
export const ota = (r: Rig, n: number) => since(r, n, 'ota/status').map(json);

export async function ok(r: Rig, args: string[]): Promise<string> {
  const run = await r.cli(args);
  expect(run.code, `espfleet ${args.slice(0, 3).join(' ')}: ${run.stderr}`).toBe(0);
  return run.stdout;
}
export const port = (r: Rig) => ['--port', r.board.portUrl];
export const caArgs = (r: Rig) => ['--ca-dir', r.station.caDir, '--passphrase-file', r.station.passFile];
export const cfg = async (r: Rig, key: string) => (await ok(r, ['device', 'config', 'get', key, ...port(r)])).trim();
export const boardFile = (r: Rig, name: string) => ok(r, ['device', 'fs', 'get', name, ...port(r)]);
/** The pair the board connects with, read off the board (kept in memory only). */
export async function boardPair(r: Rig): Promise<{ cert: string; key: string; serial: string }> {
  const cert = await boardFile(r, await cfg(r, 'mqtt.ssl_cert'));
  const key = await boardFile(r, await cfg(r, 'mqtt.ssl_key'));
  return { cert, key, serial: new X509Certificate(cert).serialNumber.toLowerCase() };
}

/** Sends cmd/ota for a published bundle and waits for the board's final ota/status. */
export async function update(r: Rig, kind: 'update' | 'crash' | 'unsigned', final: string, waitMs: number): Promise<{ version: string; statuses: Array<Record<string, unknown>> }> {
  const b = r.publish(kind);
  const n = r.seen.length;
  const rollout = `hil-${kind}`;
  await r.watcher.publishAsync(topic(r, 'cmd/ota'), JSON.stringify({ id: `ota-${rollout}`, rollout, url: b.url, version: b.version }), { qos: 1 });
  await waitUntil(() => ota(r, n).some((s) => s.state === final), `ota/status ${final} for ${b.version} (got ${JSON.stringify(ota(r, n))})`, waitMs);
  return { version: b.version, statuses: ota(r, n) };
}
