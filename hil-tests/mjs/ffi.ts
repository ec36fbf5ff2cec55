// `ffi('int mgos_x(int, char *)')` (mongoose-os.md §5.3): parse the C signature, resolve
// the name in the host's table, and convert arguments and the result as the signature says.
import { fail, MSG } from './errors.ts';
import { MjsForeign, MjsFunction, type Value } from './values.ts';

export type FfiType = 'void' | 'int' | 'double' | 'float' | 'bool' | 'char*' | 'void*' | 'userdata' | 'callback';

export interface FfiSignature {
  ret: FfiType;
  name: string;
  args: FfiType[];
}

/**
 * A host function behind an ffi name. Arguments arrive converted: int/double/float as
 * numbers, bool as boolean, `char *` as a byte string (or null), callbacks as the mJS
 * function value, userdata and `void *` as they were passed. A `void *` result may be any
 * host data: mJS sees it as an opaque foreign pointer.
 */
export type FfiHostFn = (...args: Value[]) => unknown;
export type FfiTable = Record<string, FfiHostFn>;

function parseType(text: string): FfiType | undefined {
  const t = text.replace(/\bconst\b/g, '').replace(/\s+/g, '').replace(/^unsigned/, '');
  if (/^void\(\*\)\(.*\)$/.test(t)) return 'callback';
  const map: Record<string, FfiType> = {
    void: 'void', int: 'int', long: 'int', short: 'int', char: 'int', int32_t: 'int', uint32_t: 'int', uint8_t: 'int',
    double: 'double', float: 'float', bool: 'bool', 'char*': 'char*', 'void*': 'void*', userdata: 'userdata',
  };
  return map[t];
}

/** Parses `ret name(args)`; undefined when the signature is not one mJS accepts. */
export function parseSignature(sig: string): FfiSignature | undefined {
  const m = /^\s*([A-Za-z_][\w\s*]*?)\s*\**\s*\b([A-Za-z_]\w*)\s*\((.*)\)\s*;?\s*$/.exec(sig);
  if (!m) return undefined;
  const retText = sig.slice(0, sig.indexOf(m[2] as string)).trim();
  const ret = parseType(retText);
  if (!ret || ret === 'userdata' || ret === 'callback') return undefined;
  const args: FfiType[] = [];
  const inner = (m[3] as string).trim();
  if (inner !== '' && inner !== 'void') {
    for (const part of splitArgs(inner)) {
      const t = parseType(part);
      if (!t || t === 'void') return undefined;
      args.push(t);
    }
  }
  // mongoose-os.md §5.3: up to 6 32-bit args (or 2 64-bit).
  const wide = args.filter((a) => a === 'double').length;
  if (args.length > 6 || (wide > 0 && args.length + wide > 6)) return undefined;
  return { ret, name: m[2] as string, args };
}

function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function convertArg(t: FfiType, v: Value): Value {
  switch (t) {
    case 'int':
      if (typeof v === 'boolean') return v ? 1 : 0;
      return typeof v === 'number' ? v | 0 : fail(MSG.typeError);
    case 'double':
      return typeof v === 'number' ? v : fail(MSG.typeError);
    case 'float':
      return typeof v === 'number' ? Math.fround(v) : fail(MSG.typeError);
    case 'bool':
      return typeof v === 'boolean' ? v : typeof v === 'number' ? v !== 0 : fail(MSG.typeError);
    case 'char*':
      return typeof v === 'string' || v === null ? v : fail(MSG.typeError);
    case 'callback':
      return v instanceof MjsFunction || v instanceof MjsForeign ? v : fail(MSG.typeError);
    default:
      return v; // void *, userdata: passed through
  }
}

function convertResult(t: FfiType, v: unknown, name: string): Value {
  switch (t) {
    case 'void':
      return undefined;
    case 'int':
      return typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'number' ? v | 0 : 0;
    case 'double':
    case 'float':
      return typeof v === 'number' ? (t === 'float' ? Math.fround(v) : v) : 0;
    case 'bool':
      return Boolean(v);
    case 'char*':
      return typeof v === 'string' ? v : null;
    default:
      if (v === undefined || v === null) return null;
      return v instanceof MjsForeign ? v : new MjsForeign(`${name}()`, undefined, v);
  }
}

/** The foreign function `ffi(sig)` returns. */
export function bindFfi(sig: string, table: FfiTable): MjsForeign {
  const parsed = parseSignature(sig);
  if (!parsed) return fail(MSG.ffiBadSig(sig));
  const host = Object.hasOwn(table, parsed.name) ? table[parsed.name] : undefined;
  // [U] the board's message for an unknown symbol is not measured (mos builds the
  // symbol table from the ffi() calls it finds, so there it is usually a link error).
  if (!host) return fail(MSG.ffiUnresolved(parsed.name));
  return new MjsForeign(parsed.name, (args) => {
    const converted = parsed.args.map((t, i) => convertArg(t, args[i]));
    return convertResult(parsed.ret, host(...converted), parsed.name);
  });
}

/** libm functions a host usually exports, so `load('api_math.js')` can bind them. */
export const LIBM_FFI: FfiTable = {
  ceil: (x) => Math.ceil(x as number),
  floor: (x) => Math.floor(x as number),
  round: (x) => Math.sign(x as number) * Math.round(Math.abs(x as number)),
  fabs: (x) => Math.abs(x as number),
  sqrt: (x) => Math.sqrt(x as number),
  pow: (x, y) => (x as number) ** (y as number),
  exp: (x) => Math.exp(x as number),
  log: (x) => Math.log(x as number),
  sin: (x) => Math.sin(x as number),
  cos: (x) => Math.cos(x as number),
  fmin: (x, y) => Math.min(x as number, y as number),
  fmax: (x, y) => Math.max(x as number, y as number),
};
