// More mJS snippets than the spec measures, one per construct the engine double covers
// (mjs-engine.md, mongoose-os.md §5.3), plus the host API: call(), ffi, fs, budgets.
import { describe, expect, it } from 'vitest';
import { createMjsEngine, MjsForeign, MjsFunction, type Value } from '../mjs/index.ts';
import { formatFixed6 } from '../mjs/number-format.ts';
import { memoryFs, runMjs } from './helpers/mjs.ts';

const err = (message: string) => `MJS error: ${message}\n`;

const SNIPPETS: Array<[string, string, string]> = [
  // numbers and their formatting
  ['integer literal', 'print(42, -7, 0)', '42 -7 0 \n'],
  ['hex literal', 'print(0x1F, 0xff)', '31 255 \n'],
  ['exponent literal', 'print(1e3, 2.5e-1)', '1000 0.250000 \n'],
  ['negative fraction', 'print(-0.5, -1/3)', '-0.500000 -0.333333 \n'],
  ['minus zero prints as 0', 'print(-0)', '0 \n'],
  ['big integer', 'print(1e15, 4294967296 * 2)', '1000000000000000 8589934592 \n'],
  ['beyond 64 bits prints %f', 'print(1e20)', '100000000000000000000.000000 \n'],
  ['%f rounds half to even on exact ties', 'print(1/128, 3/128)', '0.007812 0.023438 \n'],
  ['small fraction rounds to zero', 'print(0.0000001)', '0.000000 \n'],
  ['arithmetic', 'print(7 - 2 * 3, 7 / 2, 7 % 4, -7 % 4)', '1 3.500000 3 -3 \n'],
  ['bitwise', 'print(5 | 2, 6 ^ 3, ~0, 1 << 4, -16 >> 2, -1 >>> 28)', '7 5 -1 16 -4 15 \n'],
  ['precedence', 'print(1 + 2 * 3, (1 + 2) * 3, 2 * 3 % 4)', '7 9 2 \n'],
  ['comparison', 'print(1 < 2, 2 <= 2, 3 > 4, 4 >= 5)', 'true true false false \n'],
  ['strict equality', 'print(1 === 1, "a" === "a", null === undefined, 1 !== 2)', 'true true false true \n'],
  ['NaN is not equal to itself', 'print(NaN === NaN, isNaN(0/0), isNaN(1))', 'false true false \n'],
  ['compound assignment', 'let x = 10; x -= 3; x *= 2; x /= 7; x %= 3; x <<= 3; x |= 1; print(x)', '17 \n'],
  ['compound assignment evaluates its place once', 'let a = [0, 0]; let i = 0; a[i++] += 5; a[i]++; print(JSON.stringify(a), i)', '[5,1] 1 \n'],
  ['pre and post increment', 'let i = 1; let a = i++; let b = ++i; let c = i--; print(a, b, c, i)', '1 3 3 2 \n'],
  ['unary minus on a string', 'print(-"1")', err('implicit type conversion is prohibited')],
  ['arithmetic on booleans', 'print(true + 1)', err('implicit type conversion is prohibited')],
  ['string minus number', 'print("5" - 1)', err('implicit type conversion is prohibited')],
  ['increment of a string', 'let s = "a"; s++', err('implicit type conversion is prohibited')],
  ['<= on strings is refused, not guessed', 'print("a" <= "b")', err('[<= on strings] is not reproduced by the engine double')],
  ['string < string is false', 'print("a" < "b")', 'false \n'],
  // truthiness, logic, ternary
  ['logical operators return operands', 'print(0 || "x", 1 && 2, null || 0, "" && 1)', 'x 2 0  \n'],
  ['not', 'print(!0, !"", !"a", !null, !{})', 'true true false true false \n'],
  ['NaN is falsy', 'if (NaN) print("t"); else print("f")', 'f \n'],
  ['ternary', 'let a = 3; print(a > 2 ? "big" : "small", a < 2 ? 1 : 0)', 'big 0 \n'],
  ['comma operator', 'let a = (1, 2, 3); print(a)', '3 \n'],
  // strings
  ['concatenation', 'print("ab" + "cd", "" + "")', 'abcd  \n'],
  ['+= on strings', 'let s = "a"; s += "b"; s += "c"; print(s, s.length)', 'abc 3 \n'],
  ['byte length of UTF-8', 'print("é".length, "日本".length)', '2 6 \n'],
  ['bytes of UTF-8', 'let s = "é"; print(s.at(0), s.at(1))', '195 169 \n'],
  ['indexOf with from', 'print("abcabc".indexOf("c", 3), "abc".indexOf("z"))', '5 -1 \n'],
  ['slice forms', 'let s = "hello"; print(s.slice(2), s.slice(-3), s.slice(1, -1))', 'llo llo ell \n'],
  ['escapes', 'print("a\\tb" === "a" + chr(9) + "b", "\\x41\\x42")', 'true AB \n'],
  ['single-quoted string', "print('it' + \"'s\")", "it's \n"],
  ['chr out of range', 'print(chr(300))', 'null \n'],
  ['toString does not exist', 'let n = 5; n.toString()', err('type error')],
  ['trim does not exist', '" a ".trim()', err('type error')],
  ['string index past end', 'print("ab"[5])', 'undefined \n'],
  // JSON
  ['stringify nested', 'print(JSON.stringify([1, "a", null, true, [], {}]))', '[1,"a",null,true,[],{}] \n'],
  ['stringify control bytes', 'print(JSON.stringify("a\\tb\\\\"))', '"a\\tb\\\\" \n'],
  ['stringify undefined', 'print(typeof JSON.stringify(undefined))', 'undefined \n'],
  ['parse object keeps newest first', 'print(JSON.stringify(JSON.parse("{\\"a\\":1,\\"b\\":[1,2]}")))', '{"b":[1,2],"a":1} \n'],
  ['parse numbers', 'let v = JSON.parse("[1.5, -2, 1e2]"); print(v[0], v[1], v[2])', '1.500000 -2 100 \n'],
  ['parse trailing garbage', 'JSON.parse("1 2")', err('invalid JSON string')],
  ['parse of a non-string', 'JSON.parse(5)', err('invalid JSON string')],
  ['round trip of non-ASCII is not JSON', 'let s = JSON.stringify("é"); print(s.length)', '10 \n'],
  // objects, arrays
  ['update keeps the old place', 'let o = {a: 1, b: 2}; o.a = 3; print(JSON.stringify(o))', '{"b":2,"a":3} \n'],
  ['computed keys', 'let o = {}; o["x" + "y"] = 1; o[2] = 3; print(JSON.stringify(o), o.xy, o["2"])', '{"2":3,"xy":1} 1 3 \n'],
  ['missing property is undefined', 'let o = {}; print(o.nope)', 'undefined \n'],
  ['quoted keys', 'let o = {"a b": 1}; print(o["a b"])', '1 \n'],
  ['Object.create inherits', 'let p = {hi: function() { return this.n; }}; let o = Object.create(p); o.n = 4; print(o.hi(), JSON.stringify(o))', '4 {"n":4} \n'],
  ['Object.create of a number', 'Object.create(1)', err('proto should be a object, number given')],
  ['array index write extends', 'let a = []; a[2] = 1; print(a.length, JSON.stringify(a))', '3 [null,null,1] \n'],
  ['array for-in indexes work as keys', 'let a = [5, 6]; let t = 0; for (let i in a) t += a[i]; print(t)', '11 \n'],
  ['splice inserts', 'let a = [1, 4]; a.splice(1, 0, 2, 3); print(JSON.stringify(a))', '[1,2,3,4] \n'],
  ['push returns the length', 'let a = []; print(a.push(1, 2))', '2 \n'],
  ['map does not exist', '[1].map(function(x) { return x; })', err('calling non-callable')],
  ['property of undefined', 'let u; print(u.x)', err('type error')],
  ['write on a number', 'let n = 1; n.x = 2', err('unsupported object type')],
  ['calling a number', 'let n = 1; n()', err('calling non-callable')],
  ['global object', 'let g = 1; print(global.g, typeof global)', '1 object \n'],
  ['print of an object', 'print({a: 1}, [1, 2])', '{"a":1} [1,2] \n'],
  // control flow
  ['while with break', 'let i = 0; while (true) { i++; if (i > 3) break; } print(i)', '4 \n'],
  ['for with continue', 'let s = 0; for (let i = 0; i < 5; i++) { if (i === 2) continue; s += i; } print(s)', '8 \n'],
  ['for without parts', 'let i = 0; for (;;) { if (++i === 3) break; } print(i)', '3 \n'],
  ['for-in over a non-let name', 'let k; for (k in {a: 1}) {} print(k)', 'a \n'],
  ['else if chain', 'let x = 2; if (x === 1) print(1); else if (x === 2) print(2); else print(3)', '2 \n'],
  ['return from inside a loop', 'function f() { for (let i = 0; ; i++) if (i === 4) return i; } print(f())', '4 \n'],
  ['block scoping', 'let x = 1; { let x = 2; print(x); } print(x)', '2 \n1 \n'],
  ['semicolons are optional', 'let a = 1\nlet b = 2\nprint(a + b)\n', '3 \n'],
  ['two statements on one line need a semicolon', 'let a = 1 let b = 2', err('parse error at line 1')],
  ['comments', '// one\nlet a = /* two */ 1; print(a) // three\n', '1 \n'],
  // functions and scope
  ['recursion', 'function fact(n) { return n <= 1 ? 1 : n * fact(n - 1); } print(fact(10))', '3628800 \n'],
  ['function as a value', 'let f = function(a) { return a + 1; }; let g = f; print(g(1), typeof g)', '2 function \n'],
  ['callee sees caller locals (active frames)', 'function show() { return who; } function a() { let who = "a"; return show(); } print(a())', 'a \n'],
  ['after the caller returns they are gone', 'function show() { return who; } function a() { let who = "a"; return show(); } a(); show()', err('[who] is not defined')],
  ['function not hoisted', 'f(); function f() {}', err('[f] is not defined')],
  ['assignment to an undeclared name', 'y = 1', err('[y] is not defined')],
  ['extra arguments ignored', 'function f(a) { return a; } print(f(1, 2, 3))', '1 \n'],
  ['this in a plain call is undefined', 'function f() { return this; } print(f())', 'undefined \n'],
  ['userdata instead of closures', 'function mk(ud) { return {fn: function(u) { return u.v; }, ud: ud}; } let c = mk({v: 9}); print(c.fn(c.ud))', '9 \n'],
  ['die stops the script', 'print(1); die("stop here"); print(2)', '1 \n' + err('stop here')],
  // syntax refused
  ['const is not a keyword', 'const x = 1;', err('parse error at line 1')],
  ['class is refused', 'class A {}', err('parse error at line 1')],
  ['!= is refused', 'print(1 != 2)', err('Use ===, not ==')],
  ['spread is refused', 'let a = [...[1]];', err('parse error at line 1')],
  ['exponent operator is refused', 'print(2 ** 3)', err('parse error at line 1')],
  ['unterminated string', 'print("abc);', err('parse error at line 1')],
  ['for-of is refused', 'for (let x of [1]) {}', err('parse error at line 1')],
  ['new is refused', 'let d = new Date();', err('[new] is not implemented')],
  ['String.fromCharCode is not defined', 'String.fromCharCode(65)', err('[String] is not defined')],
];

describe('mJS snippets (engine double)', () => {
  it.each(SNIPPETS)('%s', (_name, snippet, expected) => {
    expect(runMjs(snippet).stdout).toBe(expected);
  });

  it('%f matches printf for extreme values', () => {
    expect(formatFixed6(2 ** -1074)).toBe('0.000000');
    expect(formatFixed6(0.0000005)).toBe('0.000000'); // just below the tie in binary
    expect(formatFixed6(123456.1234565)).toBe('123456.123457');
    expect(formatFixed6(2.5e-6)).toBe('0.000003');
    expect(formatFixed6(1.5e300).length).toBe(301 + 7);
  });
});

describe('engine host API', () => {
  it('reports file and line of an uncaught error, also inside a loaded file', () => {
    const fs = memoryFs({ 'lib.js': 'function bad() {\n  return nope;\n}\n' });
    expect(runMjs('print(1);\n\nx.y;\n').error).toEqual({ message: '[x] is not defined', file: 'snippet.js', line: 3 });
    expect(runMjs('load("lib.js");\nbad();\n', { fs }).error).toEqual({ message: '[nope] is not defined', file: 'lib.js', line: 2 });
    expect(runMjs('load("missing.js")', { fs }).error?.message).toBe('failed to load missing.js');
  });

  it('calls a handler later with userdata, and the handler sees globals but not dead locals', () => {
    const lines: string[] = [];
    const engine = createMjsEngine({ print: (l) => lines.push(l) });
    expect(engine.run('let count = 0;\nfunction onTimer(ud) { count++; print(ud.name, count); return count; }\n').ok).toBe(true);
    const fn = engine.getGlobal('onTimer');
    expect(fn).toBeInstanceOf(MjsFunction);
    const ud = engine.call(engine.getGlobal('JSON'), []);
    expect(ud.ok).toBe(false); // JSON is an object: not callable
    engine.run('let UD = {name: "t1"};');
    expect(engine.call(fn, [engine.getGlobal('UD')])).toEqual({ ok: true, value: 1 });
    expect(engine.call(fn, [engine.getGlobal('UD')])).toEqual({ ok: true, value: 2 });
    expect(lines).toEqual(['t1 1 ', 't1 2 ']);
  });

  it('ffi: resolves host functions, converts arguments by the signature, refuses unknown names', () => {
    const calls: Value[][] = [];
    let out = '';
    const e2 = createMjsEngine({
      print: (l) => (out += `${l}\n`),
      ffi: { mgos_x: (...args) => (calls.push(args), 7), mgos_name: () => 'dev-1', mgos_ptr: () => ({}) },
    });
    e2.registerFfi('mgos_flag', (b) => !b);
    expect(e2.run('let f = ffi("int mgos_x(int, char *)"); print(f(3.9, "a"), typeof f);').ok).toBe(true);
    expect(calls).toEqual([[3, 'a']]);
    expect(e2.run('print(ffi("char *mgos_name(void)")(), ffi("bool mgos_flag(bool)")(false), typeof ffi("void *mgos_ptr()")())').ok).toBe(true);
    expect(out).toBe('7 foreign_ptr \ndev-1 true foreign_ptr \n');
    expect(e2.run('ffi("int mgos_x(int, char *)")("no", "a")')).toMatchObject({ ok: false, error: { message: 'type error' } });
    expect(e2.run('ffi("int mgos_nope(int)")')).toMatchObject({ ok: false, error: { message: 'failed to resolve symbol "mgos_nope"' } });
    expect(e2.run('ffi("int f(int, int, int, int, int, int, int)")')).toMatchObject({ ok: false, error: { message: expect.stringMatching(/^invalid ffi signature/) } });
  });

  it('ffi callbacks: the host keeps the mJS function and calls it with userdata', () => {
    let saved: { fn: Value; ud: Value } | undefined;
    const lines: string[] = [];
    const engine = createMjsEngine({
      print: (l) => lines.push(l),
      ffi: { mgos_set_timer: (_ms, _flags, fn, ud) => ((saved = { fn: fn as Value, ud: ud as Value }), 1) },
    });
    const r = engine.run('let set = ffi("int mgos_set_timer(int, int, void (*)(userdata), userdata)");\nset(100, 0, function(ud) { print("tick", ud.n); }, {n: 5});');
    expect(r.ok).toBe(true);
    expect(engine.call(saved?.fn, [saved?.ud])).toEqual({ ok: true, value: undefined });
    expect(lines).toEqual(['tick 5 ']);
  });

  it('mkstr copies bytes from a host pointer', () => {
    const engine = createMjsEngine();
    engine.setGlobal('P', new MjsForeign('buf', undefined, new TextEncoder().encode('hello world')));
    expect(engine.run('let a = mkstr(P, 5); let b = mkstr(P, 6, 5, true); if (a !== "hello" || b !== "world") die("bad");').ok).toBe(true);
  });

  it('stops a runaway loop with the step budget, in run and in call, and stays usable', () => {
    const engine = createMjsEngine({ stepBudget: 10_000 });
    expect(engine.run('while (true) {}')).toMatchObject({ ok: false, error: { message: expect.stringMatching(/^step budget exhausted/) } });
    engine.run('function spin() { for (;;) {} }');
    expect(engine.call(engine.getGlobal('spin'), [])).toMatchObject({ ok: false, error: { message: expect.stringMatching(/^step budget/) } });
    expect(engine.run('let ok = 1;')).toEqual({ ok: true });
  });

  it('stops unbounded recursion with the stack depth limit', () => {
    expect(runMjs('function f(n) { return f(n + 1); } f(0)', { stackDepth: 50 }).error?.message).toMatch(/^stack overflow/);
    expect(runMjs('load("self.js")', { fs: memoryFs({ 'self.js': 'load("self.js")' }) }).error?.message).toMatch(/^stack overflow/);
  });

  it('stops a script that holds more than the memory budget, but not one that only churns', () => {
    expect(runMjs('let a = []; for (let i = 0; i < 100000; i++) a.push("xxxxxxxxxxxxxxxxxxxxxxxx");', { memoryBudget: 64 * 1024 }).error?.message).toMatch(/^out of memory/);
    expect(runMjs('let a = []; a[100000000] = 1;', { memoryBudget: 64 * 1024 }).error?.message).toMatch(/^out of memory/);
    expect(runMjs('for (let i = 0; i < 20000; i++) { let s = JSON.stringify({i: i, pad: "xxxxxxxxxxxxxxxx"}); }', { memoryBudget: 64 * 1024 }).error).toBeUndefined();
  });

  it('takes source as bytes too (strings are bytes)', () => {
    expect(runMjs(new TextEncoder().encode('print("é".length)')).stdout).toBe('2 \n');
  });

  it('reports refused helpers rather than running them differently', () => {
    expect(runMjs('s2o(null, null)').error?.message).toBe('[s2o] is not reproduced by the engine double');
    expect(runMjs('print(print)').error?.message).toBe('[print of a function] is not reproduced by the engine double');
  });
});
