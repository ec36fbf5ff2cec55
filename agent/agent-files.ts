// The agent as the toolkit ships it: agent/fs/*.js (the firmware fs part) and the
// config_schema of agent/mos.yml as a config tree (the level-0 defaults a `mos build` makes),
// for the Mongoose OS double and the bundle builder. Per-device files never come from here.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPerDeviceFile as firmwareRefuses } from '../firmware-js/testgen/demo-firmware.ts';

/** agent/ in the sources; compiled into dist/agent/, the sources' agent/ beside dist/. */
export const AGENT_DIR = ((here: string) => [here, join(here, '..', '..', 'agent')].find((d) => existsSync(join(d, 'mos.yml'))) ?? here)(dirname(fileURLToPath(import.meta.url)));
export const AGENT_FS_DIR = join(AGENT_DIR, 'fs');

/** Files that belong to one board (written by the station), never to a firmware fs (§2.5). */
export function isPerDeviceFile(name: string): boolean {
  return firmwareRefuses(name) || name === 'espfleet_ids.json' || name === 'espfleet_renew.json' || name === 'espfleet_ota.json' || /^espfleet_[ab]\.(key|crt|csr)$/.test(name);
}

/** agent/fs/ files for the firmware's root filesystem (flat: §2.5 merges the root only). */
export function agentFsFiles(dir = AGENT_FS_DIR): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const name of readdirSync(dir).sort()) {
    if (isPerDeviceFile(name)) continue;
    out[name] = new Uint8Array(readFileSync(join(dir, name)));
  }
  return out;
}

type Tree = { [k: string]: unknown };

/**
 * mos.yml's config_schema: `["a.b", "type", default, {…}]` declares a key, `["a.b", value]`
 * overrides a library default, `["a", "o", {…}]` declares an object. Only the one-line flow
 * form the agent's mos.yml uses is read; anything else is an error, not a guess.
 */
export function agentConfigSchema(mosYml = readFileSync(join(AGENT_DIR, 'mos.yml'), 'utf8')): Tree {
  const lines = mosYml.split('\n');
  const start = lines.findIndex((l) => /^config_schema:\s*$/.test(l));
  if (start < 0) return {};
  const tree: Tree = {};
  for (const line of lines.slice(start + 1)) {
    if (/^\S/.test(line)) break;
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const m = /^- \[("[^"]+")\s*,\s*(.*)\]$/.exec(t);
    if (!m) throw new Error(`mos.yml config_schema: cannot read ${JSON.stringify(t)}`);
    const key = JSON.parse(m[1] as string) as string;
    const rest = (m[2] as string).replace(/,\s*\{[^{}]*\}\s*$/, '').replace(/^("o")\s*,\s*\{[^{}]*\}$/, '$1');
    const typed = /^"([sibdo])"\s*(?:,\s*(.*))?$/.exec(rest);
    let value: unknown;
    if (typed) {
      if (typed[1] === 'o') value = {};
      else value = JSON.parse(typed[2] as string);
    } else {
      value = JSON.parse(rest);
    }
    const parts = key.split('.');
    let node = tree;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Tree;
    const last = parts[parts.length - 1] as string;
    if (typeof value === 'object' && value !== null) node[last] ??= {};
    else node[last] = value;
  }
  return tree;
}
