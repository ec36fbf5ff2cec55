// A seeded generator of mJS programs for fuzzing the engine double: mostly valid mJS from
// a small grammar, with a few constructs the board refuses mixed in.
import type { SeededRandom } from '../../../firmware-js/test/seeded-random.ts';

const NAMES = ['a', 'b', 'i', 'k', 'obj', 'arr', 's', 'f', 'g', 'ud', 'undefinedName'];
const STRINGS = ['""', '"x"', '"hello"', '"a,b"', "'q'", '"é"', '"\\n\\t\\x41"', '"{\\"a\\":1}"', '"[1,2"'];
const NUMBERS = ['0', '1', '2', '-1', '0.5', '1e10', '0x10', '2147483647', '3.25', '1e400'];
const BINOPS = ['+', '-', '*', '/', '%', '<', '>', '<=', '>=', '===', '!==', '&&', '||', '&', '|', '^', '<<', '>>', '>>>'];
const MEMBERS = ['length', 'push', 'splice', 'at', 'slice', 'indexOf', 'charCodeAt', 'split', 'v', 'get', 'forEach'];
const REFUSED = ['a == b', 'a != 1', '`t`', '(x) => x', 'new Foo()', 'try {} catch (e) {}', 'var q = 1', 'switch (a) {}', 'delete obj.v', 'a ** 2', '...arr'];

export class MjsProgramGenerator {
  constructor(private readonly rnd: SeededRandom) {}

  program(): string {
    const lines = ['let a = 1; let b = "b"; let i = 0; let k = "k"; let obj = {v: 1, get: function() { return this.v; }};', 'let arr = [1, 2, 3]; let s = "str"; let ud = {n: 1};', 'function f(x, y) { return x; }', 'function g(n) { if (n > 3) return n; return g(n + 1); }'];
    const n = this.rnd.int(1, 8);
    for (let j = 0; j < n; j++) lines.push(this.stmt(0));
    return `${lines.join('\n')}\n`;
  }

  private chance(percent: number): boolean {
    return this.rnd.int(1, 100) <= percent;
  }

  private stmt(depth: number): string {
    if (this.chance(3)) return `${this.rnd.pick(REFUSED)};`;
    const e = () => this.expr(depth + 1);
    const block = () => (depth > 2 ? `{ ${e()}; }` : `{ ${this.stmt(depth + 1)} ${this.stmt(depth + 1)} }`);
    switch (this.rnd.int(0, 11)) {
      case 0: return `let ${this.rnd.pick(NAMES)} = ${e()};`;
      case 1: return `if (${e()}) ${block()} else ${block()}`;
      case 2: return `for (let j = 0; j < ${this.rnd.int(0, 5)}; j++) ${block()}`;
      case 3: return `for (let key in ${this.rnd.pick(['obj', 'arr', '{x: 1, y: 2}', 's', 'null'])}) ${block()}`;
      case 4: return `while (${this.chance(20) ? 'true' : `i++ < ${this.rnd.int(0, 4)}`}) ${block()}`;
      case 5: return `function ${this.rnd.pick(['h', 'f', 'cb'])}(${this.rnd.pick(['', 'p', 'p, q'])}) { ${this.stmt(depth + 1)} return ${e()}; }`;
      case 6: return `print(${e()}, ${e()});`;
      case 7: return `${this.rnd.pick(NAMES)} ${this.rnd.pick(['=', '+=', '-=', '|='])} ${e()};`;
      case 8: return `${this.rnd.pick(['obj', 'arr', 's'])}[${e()}] = ${e()};`;
      case 9: return depth > 0 ? this.rnd.pick(['break;', 'continue;', 'return;']) : `${e()};`;
      case 10: return `{ let a = ${e()}; ${this.stmt(depth + 1)} }`;
      default: return `${e()};`;
    }
  }

  expr(depth: number): string {
    if (depth > 3) return this.atom();
    const e = () => this.expr(depth + 1);
    switch (this.rnd.int(0, 12)) {
      case 0: return `(${e()} ${this.rnd.pick(BINOPS)} ${e()})`;
      case 1: return `${this.rnd.pick(['!', '-', '~', 'typeof '])}${e()}`;
      case 2: return `${e()} ? ${e()} : ${e()}`;
      case 3: return `${this.rnd.pick(['obj', 'arr', 's', 'b'])}.${this.rnd.pick(MEMBERS)}`;
      case 4: return `${this.rnd.pick(['s', 'b', 'arr', 'obj'])}.${this.rnd.pick(MEMBERS)}(${e()})`;
      case 5: return `${this.rnd.pick(['f', 'g', 'print', 'chr', 'isNaN', 'JSON.stringify', 'JSON.parse', 'Object.create', 'h', 'a'])}(${e()}, ${e()})`;
      case 6: return `[${e()}, ${e()}]`;
      case 7: return `{${this.rnd.pick(['x', 'y', '"q"'])}: ${e()}, z: ${e()}}`;
      case 8: return `function(${this.rnd.pick(['', 'u'])}) { return ${e()}; }`;
      case 9: return `${this.rnd.pick(['arr', 's', 'obj'])}[${e()}]`;
      case 10: return `${this.rnd.pick(['i', 'a'])}${this.rnd.pick(['++', '--'])}`;
      default: return this.atom();
    }
  }

  private atom(): string {
    switch (this.rnd.int(0, 3)) {
      case 0: return this.rnd.pick(NUMBERS);
      case 1: return this.rnd.pick(STRINGS);
      case 2: return this.rnd.pick(['true', 'false', 'null', 'undefined', 'this', 'NaN', 'global']);
      default: return this.rnd.pick(NAMES);
    }
  }
}
