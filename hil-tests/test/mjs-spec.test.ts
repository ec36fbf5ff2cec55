// Every row of shared/spec/mjs-engine.md (measured on Cesanta's mJS @ cf375c4), byte for
// byte: what `mjs FILE` prints, or the error it stops with.
import { describe, expect, it } from 'vitest';
import { API_MATH_JS, memoryFs, runMjs } from './helpers/mjs.ts';

const err = (message: string) => `MJS error: ${message}\n`;

// [section, snippet, what real mJS prints]
const ROWS: Array<[string, string, string]> = [
  ['values', 'print("a" + 1)', err('implicit type conversion is prohibited')],
  ['values', 'print(1 + "a")', err('implicit type conversion is prohibited')],
  ['values', 'print(JSON.stringify(42), typeof JSON.stringify(42))', '42 string \n'],
  ['values', 'print(1 == 1)', err('Use ===, not ==')],
  ['values', 'print("b" > "a")', 'false \n'],
  ['values', 'print(0.1 + 0.2, 2147483647 + 1)', '0.300000 2147483648 \n'],
  ['values', 'print(JSON.stringify(0.5), JSON.stringify(1/3), JSON.stringify(1e10))', '0.500000 0.333333 10000000000 \n'],
  ['values', 'print(1/0, 0/0)', '-nan -nan \n'],
  ['values', 'let n = 5; n += 2; n++; print(n, n % 3, n >> 1, n & 1)', '8 2 4 0 \n'],
  ['values', 'print(typeof null, typeof undefined, typeof {}, typeof [], typeof print)', 'null undefined object array foreign_ptr \n'],
  ['values', 'if ("") print("t"); else print("f"); if (0) print("t"); else print("f");', 'f \nf \n'],
  ['values', 'print(isNaN(NaN), chr(65))', 'true A \n'],
  ['values', 'print(Math)', err('[Math] is not defined')],
  ['strings', 'let s = "hello"; print(s.indexOf("l"), s.slice(1,3), s.at(0), s.charCodeAt(1), s.length)', '2 el 104 101 5 \n'],
  ['strings', 'let s = "abc"; print(s[1])', 'b \n'],
  ['strings', '"a,b".split(",")', err('type error')],
  ['strings', 'print(JSON.stringify({s: "é\\n\\"q"}))', '{"s":"\\xc3\\xa9\\n\\"q"} \n'],
  ['strings', 'print(JSON.parse("\\"\\\\u00e9\\"").length)', '1 \n'],
  ['strings', 'let s = "abc"; s.length = 1', err('unsupported object type')],
  ['objects', 'let o = {a:1}; o.b = 2; o.c = "x"; print(JSON.stringify(o))', '{"c":"x","b":2,"a":1} \n'],
  ['objects', 'for (let k in {a:1, b:2}) print(k)', 'b \na \n'],
  ['objects', 'for (let i in [3,4]) print(i, typeof i)', '1 string \n0 string \n'],
  ['objects', 'print(JSON.stringify({a: [1, {b: true}], c: null, d: undefined}))', '{"c":null,"a":[1,{"b":true}]} \n'],
  ['objects', 'let a = [1,2]; a.push(3); print(a.length, JSON.stringify(a))', '3 [1,2,3] \n'],
  ['objects', 'let a = [1,2,3]; a.splice(1,1); print(JSON.stringify(a))', '[1,3] \n'],
  ['objects', '[1,2].forEach(function(x) { print(x); })', err('calling non-callable')],
  ['objects', 'let o = null; print(o.a)', err('type error')],
  ['objects', 'Object.create(null)', err('proto should be a object, null given')],
  ['objects', 'let o = {v: 3, get: function() { return this.v; }}; print(o.get())', '3 \n'],
  ['objects', 'JSON.parse("{bad")', err('invalid JSON string')],
  ['scope', 'function mk() { let v = 7; return function() { return v; }; } print(mk()())', err('[v] is not defined')],
  ['scope', 'function outer() { let v = 5; function inner() { return v; } return inner(); } print(outer())', '5 \n'],
  ['scope', 'print(undefinedVar)', err('[undefinedVar] is not defined')],
  ['scope', 'let x = 1; let x = 2; print(x)', '2 \n'],
  ['scope', 'function f(a, b) { return b; } print(f(1))', 'undefined \n'],
  ['syntax', 'let t = `template`;', err('parse error at line 1')],
  ['syntax', 'let f = (a) => a;', err('parse error at line 1')],
  ['syntax', 'try { } catch (e) { }', err('[try] is not implemented')],
];

describe('mJS as the board runs it (mjs-engine.md)', () => {
  it.each(ROWS)('%s: %s', (_section, snippet, expected) => {
    expect(runMjs(snippet).stdout).toBe(expected);
  });

  it('Math exists only after load("api_math.js")', () => {
    const fs = memoryFs({ 'api_math.js': API_MATH_JS });
    expect(runMjs('load("api_math.js"); print(Math.floor(2.7), Math.pow(2, 10))', { fs }).stdout).toBe('2 1024 \n');
  });

  it('a parse error names the line it is on', () => {
    expect(runMjs('print(1);\nprint(2);\nlet f = (a) => a;\n').stdout).toBe(err('parse error at line 3'));
  });

  it.each(['case', 'catch', 'delete', 'do', 'instanceof', 'new', 'switch', 'throw', 'try', 'var', 'void', 'with'])(
    'the parser refuses %s (mongoose-os.md §5.3)',
    (kw) => {
      const r = runMjs(`let o = {};\n${kw} o;\n`);
      expect(r.error).toEqual({ message: `[${kw}] is not implemented`, file: 'snippet.js', line: 2 });
    },
  );
});
