// mJS operators (mjs-engine.md "Values and operators"): numbers with numbers, `+` also
// string with string; anything mixed is `implicit type conversion is prohibited`.
import { fail, MSG } from './errors.ts';
import { typeOf, type Value } from './values.ts';

export function binaryOp(op: string, a: Value, b: Value, alloc: (n: number) => void): Value {
  if (op === '===') return a === b;
  if (op === '!==') return a !== b;
  if (typeof a === 'number' && typeof b === 'number') return numeric(op, a, b);
  if (typeof a === 'string' && typeof b === 'string') {
    if (op === '+') {
      alloc(8 + a.length + b.length);
      return a + b;
    }
    // Measured: `"b" > "a"` is false — `<`/`>` do not order strings.
    if (op === '<' || op === '>') return false;
    // [U] `<=`/`>=` on strings are not measured; the double refuses them.
    if (op === '<=' || op === '>=') fail(MSG.notReproduced(`${op} on strings`));
  }
  // [U] only `+` with a string is measured; other mixed operands stop the same way.
  return fail(MSG.implicit);
}

function numeric(op: string, a: number, b: number): Value {
  switch (op) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    case '/': return a / b;
    case '%': return a % b;
    case '<': return a < b;
    case '>': return a > b;
    case '<=': return a <= b;
    case '>=': return a >= b;
    case '&': return a & b;
    case '|': return a | b;
    case '^': return a ^ b;
    case '<<': return a << b;
    case '>>': return a >> b;
    case '>>>': return a >>> b;
  }
  return fail(MSG.implicit);
}

export function unaryOp(op: string, v: Value): Value {
  if (op === '!') return !truthyOf(v);
  if (op === 'typeof') return typeOf(v);
  if (typeof v !== 'number') return fail(MSG.implicit);
  if (op === '-') return -v;
  if (op === '~') return ~v;
  return v;
}

function truthyOf(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === '') return false;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  return true;
}
