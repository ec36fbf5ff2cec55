// Property access as mJS does it (mjs-engine.md "Strings", "Objects and arrays"): strings
// have only length/at/charCodeAt/indexOf/slice (any other name is `type error`), arrays
// only length/push/splice (others read undefined), and only objects and arrays take writes.
import { fail, MSG } from './errors.ts';
import { formatNumber } from './number-format.ts';
import { SIZE } from './memory.ts';
import { MjsArray, MjsForeign, MjsObject, type Value } from './values.ts';

export type Alloc = (bytes: number) => void;

export function toKey(key: Value): string {
  if (typeof key === 'string') return key;
  if (typeof key === 'number') return formatNumber(key);
  return fail(MSG.typeError); // [U] keys that are neither strings nor numbers
}

function toIndex(key: string): number | undefined {
  return /^(0|[1-9][0-9]{0,8})$/.test(key) ? Number(key) : undefined;
}

function num(v: Value): number {
  if (typeof v !== 'number') fail(MSG.typeError);
  return v;
}

function relIndex(v: Value, len: number, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Math.trunc(num(v));
  return n < 0 ? Math.max(0, len + n) : Math.min(n, len);
}

/** The built-in members, made once per engine so `slice` can count its allocation. */
export function makeMembers(alloc: Alloc): { string: Map<string, MjsForeign>; array: Map<string, MjsForeign> } {
  const str = (self: Value): string => (typeof self === 'string' ? self : fail(MSG.typeError));
  const arr = (self: Value): MjsArray => (self instanceof MjsArray ? self : fail(MSG.typeError));
  // [U] out-of-range at/charCodeAt: the double answers NaN, as JS charCodeAt does.
  const byteAt = (args: Value[], self: Value): Value => {
    const s = str(self);
    const i = num(args[0] ?? 0);
    return i >= 0 && i < s.length && Number.isInteger(i) ? s.charCodeAt(i) : NaN;
  };
  const string = new Map<string, MjsForeign>([
    ['at', new MjsForeign('at', byteAt)],
    ['charCodeAt', new MjsForeign('charCodeAt', byteAt)],
    ['indexOf', new MjsForeign('indexOf', (args, self) => {
      const s = str(self);
      const sub = args[0];
      if (typeof sub !== 'string') fail(MSG.typeError);
      return s.indexOf(sub, args[1] === undefined ? 0 : num(args[1]));
    })],
    ['slice', new MjsForeign('slice', (args, self) => {
      const s = str(self);
      const out = s.slice(relIndex(args[0], s.length, 0), relIndex(args[1], s.length, s.length));
      alloc(SIZE.string + out.length);
      return out;
    })],
  ]);
  // [U] push/splice results follow JS (new length / removed items); the spec measures effects only.
  const array = new Map<string, MjsForeign>([
    ['push', new MjsForeign('push', (args, self) => {
      const a = arr(self);
      a.items.push(...args);
      alloc(SIZE.item * args.length);
      return a.items.length;
    })],
    ['splice', new MjsForeign('splice', (args, self) => {
      const a = arr(self);
      const start = relIndex(args[0], a.items.length, 0);
      const count = args[1] === undefined ? a.items.length - start : Math.max(0, Math.trunc(num(args[1])));
      alloc(SIZE.array + SIZE.item * args.length);
      return new MjsArray(a.items.splice(start, count, ...args.slice(2)));
    })],
  ]);
  return { string, array };
}

export function getMember(members: ReturnType<typeof makeMembers>, obj: Value, keyValue: Value): Value {
  if (obj instanceof MjsObject) {
    const key = toKey(keyValue);
    for (let o: MjsObject | null = obj; o; o = o.proto) if (o.props.has(key)) return o.props.get(key);
    return undefined;
  }
  if (obj instanceof MjsArray) {
    const key = toKey(keyValue);
    if (key === 'length') return obj.items.length;
    const i = toIndex(key);
    if (i !== undefined) return obj.items[i];
    return members.array.get(key);
  }
  if (typeof obj === 'string') {
    const key = toKey(keyValue);
    if (key === 'length') return obj.length;
    const i = toIndex(key);
    // [U] an index past the end: the double reads undefined.
    if (i !== undefined) return i < obj.length ? obj.charAt(i) : undefined;
    const m = members.string.get(key);
    if (m) return m;
  }
  // Measured: `null.a` and `"a,b".split` are `type error`.
  return fail(MSG.typeError);
}

export function setMember(obj: Value, keyValue: Value, value: Value, alloc: Alloc): void {
  if (obj instanceof MjsObject) {
    const key = toKey(keyValue);
    if (!obj.props.has(key)) alloc(SIZE.prop + key.length);
    obj.props.set(key, value); // an existing key keeps its place
    return;
  }
  if (obj instanceof MjsArray) {
    const i = toIndex(toKey(keyValue));
    if (i !== undefined) {
      if (i >= obj.items.length) alloc(SIZE.item * (i + 1 - obj.items.length));
      while (obj.items.length < i) obj.items.push(undefined);
      obj.items[i] = value;
      return;
    }
  }
  // Measured: `s.length = 1` on a string; [U] the same for other non-objects.
  fail(MSG.unsupported);
}
