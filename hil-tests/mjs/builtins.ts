// The globals mJS defines (mongoose-os.md §5.3 "Globals"): print, load, die, chr, JSON,
// Object.create, isNaN, NaN, global, mkstr, ffi, gc. No Math, String, Number or Date.
import { fail, MjsThrow, MSG } from './errors.ts';
import { bindFfi, type FfiTable } from './ffi.ts';
import type { Interpreter } from './interpreter.ts';
import { parse as parseJson, stringify } from './json.ts';
import { SIZE } from './memory.ts';
import { formatNumber } from './number-format.ts';
import { bytesToBinary, MjsForeign, MjsFunction, MjsObject, typeOf, type Value } from './values.ts';

export interface BuiltinHost {
  ffi: FfiTable;
  /** One printed line as mJS writes it (byte string, newline included). */
  print(line: string): void;
  /** Runs another file in the global scope (`load`). */
  load(path: string): void;
}

/** How `print` shows one argument. */
export function printForm(v: Value): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return formatNumber(v);
  if (v instanceof MjsFunction || v instanceof MjsForeign) return fail(MSG.notReproduced('print of a function'));
  // [U] objects and arrays: the double prints their JSON.
  return v === undefined ? 'undefined' : (stringify(v) as string);
}

/** Thrown by `die(msg)`: stops the script with msg as its error. */
export class MjsDie extends MjsThrow {}

export function installBuiltins(interp: Interpreter, host: BuiltinHost): void {
  const g = interp.global.props;
  const def = (name: string, fn: (args: Value[], self: Value) => Value) => g.set(name, new MjsForeign(name, fn));
  const alloc = (n: number) => interp.alloc(n);

  def('print', (args) => {
    let line = '';
    for (const a of args) line += `${printForm(a)} `;
    host.print(`${line}\n`);
    return undefined;
  });
  def('load', (args) => {
    if (typeof args[0] !== 'string') return fail(MSG.typeError);
    if (args[1] !== undefined) fail(MSG.notReproduced('load with a scope object'));
    host.load(args[0]);
    return undefined;
  });
  def('die', (args) => {
    // [U] a board prints the message and stops the script; the double makes it the error.
    throw new MjsDie(typeof args[0] === 'string' ? args[0] : printForm(args[0]));
  });
  def('chr', (args) => {
    const n = args[0];
    // [U] out of 0..255: the double returns null.
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 255) return null;
    alloc(SIZE.string + 1);
    return String.fromCharCode(n);
  });
  def('isNaN', (args) => typeof args[0] === 'number' && Number.isNaN(args[0]));
  def('gc', () => (interp.collect(), undefined));
  def('ffi', (args) => (typeof args[0] === 'string' ? bindFfi(args[0], host.ffi) : fail(MSG.typeError)));
  def('mkstr', (args) => {
    // mkstr(ptr, len) or mkstr(ptr, offset, len, copy); ptr is a foreign pointer over host bytes.
    const [ptr, a, b] = args;
    const bytes = ptr instanceof MjsForeign && ptr.data instanceof Uint8Array ? ptr.data : undefined;
    const off = args.length >= 3 ? a : 0;
    const len = args.length >= 3 ? b : a;
    if (!bytes || typeof off !== 'number' || typeof len !== 'number') return fail(MSG.typeError);
    const s = bytesToBinary(bytes.subarray(off, off + len));
    alloc(SIZE.string + s.length);
    return s;
  });
  for (const name of ['s2o', 'ffi_cb_free', 'getMJS']) def(name, () => fail(MSG.notReproduced(name)));
  g.set('NaN', NaN);
  g.set('global', interp.global);

  const json = new MjsObject();
  json.props.set('parse', new MjsForeign('parse', (args) => {
    if (typeof args[0] !== 'string') return fail(MSG.badJson);
    return parseJson(args[0], alloc);
  }));
  json.props.set('stringify', new MjsForeign('stringify', (args) => {
    const s = stringify(args[0]);
    if (s !== undefined) alloc(SIZE.string + s.length);
    return s;
  }));
  g.set('JSON', json);

  const object = new MjsObject();
  object.props.set('create', new MjsForeign('create', (args) => {
    const proto = args[0];
    if (!(proto instanceof MjsObject)) return fail(MSG.protoNotObject(typeOf(proto)));
    alloc(SIZE.object);
    return new MjsObject(proto);
  }));
  g.set('Object', object);
  interp.alloc(SIZE.object * 3 + SIZE.function * 16);
}
