// The eFuse burn plan file (`espfleet efuse burn … --plan-out FILE`, then `--plan FILE
// --confirm`): the board's MAC, the chip's eFuse state when the plan was made, the fields
// asked for and the exact BLK0 words each PGM will write (spec esp32-rom-efuse-crypto.md
// §3.3). Burning a plan refuses a board with another MAC or whose eFuses changed since, and
// a file whose words are not what the request yields on that state — the operator burns
// what they reviewed or nothing. Key blocks are recorded as SHA-256 digests only: BLK1 may
// hold a flash-encryption key, and a plan file is not a secret.
import { createHash } from 'node:crypto';
import { efuseError, hex } from './efuse-errors.ts';
import type { CheckedBurn, EfuseBurnPlan, FieldChange } from './efuse-programmer.ts';
import { fieldValue, type EfuseSnapshot } from './efuse-state.ts';
import { EFUSE_FIELDS, findField } from './targets/esp32-efuses.ts';

export const EFUSE_PLAN_FORMAT = 'espfleet-efuse-plan';

export interface EfusePlanStep {
  block: number;
  pass: string;
  /** The raw words written to the block's WDATA registers, hex. */
  words: string[];
  what: string[];
}

export interface EfusePlanFile {
  format: typeof EFUSE_PLAN_FORMAT;
  version: 1;
  createdAt: string;
  /** The board the plan is for (factory MAC, read from its eFuses). */
  mac: string;
  chip: string;
  /** FIELD → value asked for (what the field must read afterwards). */
  request: Record<string, number>;
  /** True when the plan touches fields encrypt-flash owns (made with --allow-encryption-fuses). */
  encryptionFuses: boolean;
  /** The escrow checked for a plan that turns encryption on or hides BLK1; never the key. */
  escrow: { deviceId: string; keystore: string; proof: string } | null;
  /** What the chip read when the plan was made. */
  state: { blk0: string[]; keyBlocksSha256: string[]; decStatus: number };
  changes: Array<FieldChange & { fromHex: string; toHex: string }>;
  steps: EfusePlanStep[];
}

const wordHex = (w: number) => `0x${(w >>> 0).toString(16).padStart(8, '0')}`;

function blockDigest(words: readonly number[]): string {
  const b = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => b.writeUInt32LE(w >>> 0, i * 4));
  return createHash('sha256').update(b).digest('hex');
}

function stateOf(snap: EfuseSnapshot): EfusePlanFile['state'] {
  return {
    blk0: (snap.blocks[0] ?? []).map(wordHex),
    keyBlocksSha256: [1, 2, 3].map((b) => blockDigest(snap.blocks[b] ?? [])),
    decStatus: snap.decStatus,
  };
}

export function makePlanFile(
  board: { mac: string; chip: string },
  snap: EfuseSnapshot,
  request: Readonly<Record<string, number>>,
  checked: CheckedBurn,
  opts: { createdAt: Date; encryptionFuses: boolean; escrow: EfusePlanFile['escrow'] },
): EfusePlanFile {
  return {
    format: EFUSE_PLAN_FORMAT,
    version: 1,
    createdAt: opts.createdAt.toISOString(),
    mac: board.mac,
    chip: board.chip,
    request: { ...request },
    encryptionFuses: opts.encryptionFuses,
    escrow: opts.escrow,
    state: stateOf(snap),
    changes: checked.fields.map((c) => ({ ...c, fromHex: hex(c.from), toHex: hex(c.to) })),
    steps: checked.steps.map((s) => ({ block: s.block, pass: s.pass, words: s.raw.map(wordHex), what: [...s.what] })),
  };
}

function bad(path: string, why: string): never {
  throw efuseError('efuse.bad_plan', `${path} is not a usable eFuse plan: ${why}; nothing was burned`, {
    hint: 'make a new plan with a dry run: espfleet efuse burn -p PORT FIELD VALUE … --plan-out plan.json',
  });
}

export function parsePlanFile(text: string, path: string): EfusePlanFile {
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch (e) {
    bad(path, `not JSON (${(e as Error).message})`);
  }
  const o = p as Partial<EfusePlanFile> | null;
  if (!o || typeof o !== 'object' || o.format !== EFUSE_PLAN_FORMAT || o.version !== 1) bad(path, `"format" is not "${EFUSE_PLAN_FORMAT}" version 1`);
  if (typeof o.mac !== 'string') bad(path, 'no "mac"');
  if (!o.request || typeof o.request !== 'object' || Object.values(o.request).some((v) => !Number.isInteger(v))) bad(path, '"request" is not FIELD → integer');
  const s = o.state;
  if (!s || !Array.isArray(s.blk0) || s.blk0.length !== 7 || !Array.isArray(s.keyBlocksSha256) || s.keyBlocksSha256.length !== 3 || typeof s.decStatus !== 'number') {
    bad(path, '"state" does not record BLK0 (7 words), the three key-block digests and DEC_STATUS');
  }
  if (!Array.isArray(o.steps) || o.steps.some((x) => !Array.isArray(x?.words))) bad(path, 'no "steps" with words');
  for (const name of Object.keys(o.request)) if (!findField(name)) bad(path, `"request" names no BLK0 field ${JSON.stringify(name)}`);
  return o as EfusePlanFile;
}

/**
 * Refuses a board that is not the one the plan was made for, or whose eFuses changed since;
 * returns the burn plan (targets and the prior values it expects).
 */
export function planForBoard(plan: EfusePlanFile, mac: string, snap: EfuseSnapshot, path: string): EfuseBurnPlan {
  if (plan.mac.toLowerCase() !== mac.toLowerCase()) {
    throw efuseError('efuse.plan_wrong_board', `${path} was made for the board ${plan.mac}, but this board is ${mac}; nothing was burned`, {
      hint: 'a plan burns only the board it was made on; make one for this board with a dry run and --plan-out',
    });
  }
  const diffs: string[] = [];
  const then: EfuseSnapshot = { blocks: [plan.state.blk0.map((w) => Number(w) >>> 0)], decStatus: plan.state.decStatus };
  for (const f of EFUSE_FIELDS) {
    const was = fieldValue(then, f);
    const now = fieldValue(snap, f);
    if (was !== now) diffs.push(`${f.name} read ${hex(was)} when planned, reads ${hex(now)} now`);
  }
  const digests = stateOf(snap).keyBlocksSha256;
  digests.forEach((d, i) => {
    if (d !== plan.state.keyBlocksSha256[i]) diffs.push(`BLOCK${i + 1} changed`);
  });
  if (snap.decStatus !== plan.state.decStatus) diffs.push(`DEC_STATUS read ${hex(plan.state.decStatus)} when planned, reads ${hex(snap.decStatus)} now`);
  if (diffs.length > 0) {
    throw efuseError('efuse.plan_stale', `the eFuses of ${mac} changed since ${path} was made: ${diffs.join('; ')}; nothing was burned`, {
      hint: 'something else burned this board; read it (`espfleet efuse summary`), then make and review a new plan',
    });
  }
  const expect: Record<string, number> = {};
  for (const name of Object.keys(plan.request)) {
    const f = findField(name);
    if (f) expect[f.name] = fieldValue(snap, f);
  }
  return { fields: { ...plan.request }, expect: { fields: expect } };
}

/** The words this board would get must be the words the operator reviewed in the file. */
export function checkPlanSteps(plan: EfusePlanFile, checked: CheckedBurn, path: string): void {
  const now = checked.steps.map((s) => `${s.block}:${s.pass}:${s.raw.map(wordHex).join(',')}`);
  const then = plan.steps.map((s) => `${s.block}:${s.pass}:${s.words.map((w) => wordHex(Number(w))).join(',')}`);
  if (now.length !== then.length || now.some((x, i) => x !== then[i])) {
    bad(path, 'its "steps" are not the words its "request" yields on this board (was the file edited?)');
  }
}
