// JSON text the way Go's encoding/json writes it, since mos serialises manifests and the
// signature extra block with it (spec mongoose-os.md §1.3, §1.5): map keys sorted by byte,
// HTML characters escaped, MarshalIndent layout. A Map keeps its insertion order (a struct).
import { FirmwareError } from '../errors.ts';

const MAX_DEPTH = 64;

/**
 * Encodes `value`: plain objects with keys sorted as Go sorts map keys, Maps in insertion
 * order (Go struct fields), `undefined` members dropped. `indent` gives MarshalIndent layout.
 */
export function encodeGoJson(value: unknown, indent?: string): string {
  return encode(value, indent, 0);
}

function encode(value: unknown, indent: string | undefined, depth: number): string {
  if (depth > MAX_DEPTH) {
    throw new FirmwareError('firmware.manifest.not_json', `the value nests deeper than ${MAX_DEPTH} levels (a cycle?)`);
  }
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new FirmwareError('firmware.manifest.not_json', `${value} has no JSON form`);
      return String(value); // same shortest round-trip digits and exponent rule as Go's float64
    case 'string':
      return goJsonString(value);
    case 'object':
      break;
    default:
      throw new FirmwareError('firmware.manifest.not_json', `a ${typeof value} has no JSON form`);
  }
  if (Array.isArray(value)) {
    return layout('[', ']', value.map((item: unknown) => encode(item ?? null, indent, depth + 1)), indent, depth);
  }
  const members: [string, unknown][] =
    value instanceof Map
      ? [...(value as Map<string, unknown>).entries()]
      : Object.entries(value as Record<string, unknown>).sort(([a], [b]) => compareUtf8(a, b));
  const parts = members
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${goJsonString(k)}:${indent === undefined ? '' : ' '}${encode(v, indent, depth + 1)}`);
  return layout('{', '}', parts, indent, depth);
}

function layout(open: string, close: string, parts: string[], indent: string | undefined, depth: number): string {
  if (parts.length === 0) return open + close;
  if (indent === undefined) return open + parts.join(',') + close;
  const inner = '\n' + indent.repeat(depth + 1);
  return open + inner + parts.join(',' + inner) + '\n' + indent.repeat(depth) + close;
}

/** Go orders map keys by their UTF-8 bytes, which differs from UTF-16 order above U+D7FF. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

/** A JSON string literal with Go's escaping: <, >, &, U+2028/9 as \u, lone surrogates as U+FFFD. */
export function goJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i] ?? '';
    const short = SHORT_ESCAPES[ch];
    if (short !== undefined) out += short;
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else if (c >= 0xd800 && c <= 0xdbff && isLowSurrogate(s.charCodeAt(i + 1))) {
      out += s.slice(i, i + 2);
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) out += '\ufffd'; // Go writes invalid UTF-8 as U+FFFD
    else out += ch;
  }
  return out + '"';
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}
