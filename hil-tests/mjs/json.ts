// JSON.stringify / JSON.parse as mJS does them (mjs-engine.md "Strings", "Objects"):
// properties newest first, undefined members dropped, non-ASCII bytes escaped as `\xNN`
// (not JSON), and `\uXXXX` parsed to one byte.
import { fail, MSG } from './errors.ts';
import { formatNumber } from './number-format.ts';
import { MjsArray, MjsFunction, MjsForeign, MjsObject, type Value } from './values.ts';

const NAMED: Record<number, string> = { 0x22: '\\"', 0x5c: '\\\\', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t', 0x08: '\\b', 0x0c: '\\f' };

export function quoteString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const named = NAMED[c];
    // [U] only `\n`, `\"` and bytes >= 0x80 are measured; other control bytes follow the same `\xNN`.
    if (named) out += named;
    else if (c < 0x20 || c >= 0x80) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += s[i];
  }
  return `${out}"`;
}

/** JSON text of a value, or undefined for undefined (JSON.stringify(undefined)). */
export function stringify(v: Value, depth = 0): string | undefined {
  if (depth > 64) fail(MSG.stackDepth);
  if (v === undefined) return undefined;
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'string') return quoteString(v);
  if (v instanceof MjsArray) {
    // [U] undefined array elements: the double writes them as null, as JS does.
    return `[${v.items.map((x) => stringify(x, depth + 1) ?? 'null').join(',')}]`;
  }
  if (v instanceof MjsObject) {
    const parts: string[] = [];
    for (const [k, x] of [...v.props].reverse()) {
      const s = stringify(x, depth + 1);
      if (s !== undefined) parts.push(`${quoteString(k)}:${s}`);
    }
    return `{${parts.join(',')}}`;
  }
  // [U] functions and foreign pointers: not measured, so the double refuses them.
  if (v instanceof MjsFunction || v instanceof MjsForeign) fail(MSG.notReproduced('JSON.stringify of a function'));
  return undefined;
}

/** Allocation hook so parsed values count against the engine's memory budget. */
export type Alloc = (bytes: number) => void;

export function parse(text: string, alloc: Alloc): Value {
  const p = new JsonReader(text, alloc);
  p.ws();
  const v = p.value(0);
  p.ws();
  if (p.i !== text.length) fail(MSG.badJson);
  return v;
}

class JsonReader {
  i = 0;
  constructor(
    private readonly s: string,
    private readonly alloc: Alloc,
  ) {}

  ws(): void {
    while (this.i < this.s.length && ' \t\n\r'.includes(this.s[this.i] as string)) this.i++;
  }

  value(depth: number): Value {
    if (depth > 64) fail(MSG.badJson);
    const c = this.s[this.i];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.s.startsWith(word, this.i)) return (this.i += word.length), v;
    }
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.s.slice(this.i, this.i + 400));
    if (!m) fail(MSG.badJson);
    this.i += m[0].length;
    return Number(m[0]);
  }

  private object(depth: number): MjsObject {
    this.i++;
    const o = new MjsObject();
    this.alloc(32);
    this.ws();
    if (this.s[this.i] === '}') return this.i++, o;
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') fail(MSG.badJson);
      const key = this.string();
      this.ws();
      if (this.s[this.i++] !== ':') fail(MSG.badJson);
      this.ws();
      o.props.delete(key); // a repeated key becomes the newest
      o.props.set(key, this.value(depth + 1));
      this.alloc(16 + key.length);
      this.ws();
      const sep = this.s[this.i++];
      if (sep === '}') return o;
      if (sep !== ',') fail(MSG.badJson);
    }
  }

  private array(depth: number): MjsArray {
    this.i++;
    const a = new MjsArray();
    this.alloc(32);
    this.ws();
    if (this.s[this.i] === ']') return this.i++, a;
    for (;;) {
      this.ws();
      a.items.push(this.value(depth + 1));
      this.alloc(8);
      this.ws();
      const sep = this.s[this.i++];
      if (sep === ']') return a;
      if (sep !== ',') fail(MSG.badJson);
    }
  }

  private string(): string {
    this.i++;
    let out = '';
    for (;;) {
      const c = this.s[this.i++];
      if (c === undefined || c.charCodeAt(0) < 0x20) fail(MSG.badJson);
      if (c === '"') break;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.s[this.i++];
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (e !== undefined && simple[e] !== undefined) out += simple[e];
      else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(this.s.slice(this.i, this.i + 4))) {
        // Measured: "\u00e9" parses to ONE byte. [U] above 0xff the double keeps the low byte.
        out += String.fromCharCode(parseInt(this.s.slice(this.i, this.i + 4), 16) & 0xff);
        this.i += 4;
      } else fail(MSG.badJson);
    }
    this.alloc(out.length);
    return out;
  }
}
