// `config set a.b=1 c=str` the way mos does it (spec mongoose-os.md §3.3 "mos config-set"):
// every path must exist in the device's config and the value must parse as the type the
// device has there (string, number, bool); the result is the partial tree Config.Set takes.
import { FieldError } from './errors.ts';

export type ConfigObject = { [key: string]: unknown };

export interface Assignment {
  path: string;
  value: string | number | boolean;
}

export function parseAssignments(args: readonly string[], current: unknown): Assignment[] {
  if (args.length === 0) throw new FieldError('field.config.no_assignment', 'nothing to set', { hint: 'give key=value pairs, e.g. `mqtt.server=broker:8883 mqtt.enable=true`' });
  return args.map((arg) => {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new FieldError('field.config.bad_assignment', `"${arg}" is not key=value`, { hint: 'e.g. mqtt.server=broker.example.net:8883' });
    const path = arg.slice(0, eq);
    const text = arg.slice(eq + 1);
    const have = lookupPath(current, path);
    if (have.missing) {
      throw new FieldError('field.config.unknown_key', `the board's config has no key ${path}`, { hint: `see the keys with \`espfleet device config get${have.parent ? ` ${have.parent}` : ''}\`` });
    }
    return { path, value: coerce(path, text, have.value) };
  });
}

/** The partial config tree for Config.Set {config}. */
export function assignmentTree(assignments: readonly Assignment[]): ConfigObject {
  const tree: ConfigObject = {};
  for (const { path, value } of assignments) {
    const parts = path.split('.');
    let cur = tree;
    for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as ConfigObject;
    cur[parts.at(-1) as string] = value;
  }
  return tree;
}

function coerce(path: string, text: string, have: unknown): string | number | boolean {
  if (typeof have === 'string') return text;
  if (typeof have === 'boolean') {
    if (text === 'true' || text === 'false') return text === 'true';
    throw new FieldError('field.config.bad_value', `${path} is a boolean on the board; "${text}" is not true or false`);
  }
  if (typeof have === 'number') {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n)) throw new FieldError('field.config.bad_value', `${path} is a number on the board; "${text}" is not a number`);
    return n;
  }
  throw new FieldError('field.config.bad_value', `${path} is a section, not a value`, { hint: `set one of its keys, e.g. ${path}.<key>=…` });
}

function lookupPath(tree: unknown, path: string): { missing: boolean; value?: unknown; parent: string } {
  const parts = path.split('.');
  let cur: unknown = tree;
  let walked = '';
  for (const p of parts) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur) || !Object.hasOwn(cur, p)) return { missing: true, parent: walked };
    cur = (cur as ConfigObject)[p];
    walked = walked ? `${walked}.${p}` : p;
  }
  return { missing: false, value: cur, parent: walked };
}
