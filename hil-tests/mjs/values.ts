// mJS values as the engine double holds them (shared/spec/mjs-engine.md "Values"):
// strings are byte strings, kept as JS strings whose char codes are the bytes 0..255.
import type { FunctionNode } from './ast.ts';

export type Value = undefined | null | boolean | number | string | MjsObject | MjsArray | MjsFunction | MjsForeign;

/** An mJS object; `for..in` and JSON list properties newest first, so iterate the Map reversed. */
export class MjsObject {
  readonly props = new Map<string, Value>();
  constructor(public proto: MjsObject | null = null) {}
}

export class MjsArray {
  constructor(public items: Value[] = []) {}
}

/** A script function: no captured scope — mJS has no closures (mongoose-os.md §5.3). */
export class MjsFunction {
  constructor(
    readonly node: FunctionNode,
    readonly file: string,
  ) {}
}

/** A host function called from mJS: gets `this` and the arguments as mJS values. */
export type HostFn = (args: Value[], self: Value) => Value;

/** `foreign_ptr`: built-ins, ffi functions, and opaque host pointers (`fn` absent). */
export class MjsForeign {
  constructor(
    readonly name: string,
    readonly fn?: HostFn,
    /** Host data behind an opaque pointer (e.g. bytes for `mkstr`). */
    readonly data?: unknown,
  ) {}
}

export function typeOf(v: Value): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return 'boolean';
    case 'number':
      return 'number';
    case 'string':
      return 'string';
    default:
      if (v instanceof MjsArray) return 'array';
      if (v instanceof MjsFunction) return 'function';
      if (v instanceof MjsForeign) return 'foreign_ptr';
      return 'object';
  }
}

export function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === '') return false;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  return true;
}

export function strictEquals(a: Value, b: Value): boolean {
  return a === b;
}

const encoder = new TextEncoder();

/** UTF-8 text to an mJS byte string. */
export function textToBytes(text: string): string {
  return bytesToBinary(encoder.encode(text));
}

export function bytesToBinary(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return out;
}

export function binaryToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** An mJS byte string shown as text (UTF-8 decoded; invalid bytes become U+FFFD). */
const decoder = new TextDecoder();

export function binaryToText(s: string): string {
  return decoder.decode(binaryToBytes(s));
}
