// Expression half of the mJS parser (mongoose-os.md §5.3): JS precedence, but no `==`,
// `in`, `instanceof`, `new`, arrows, templates, spread or `**`.
import type { Expr, FunctionNode, Stmt } from './ast.ts';
import { MjsThrow, MSG } from './errors.ts';
import { parseError, type Token } from './lexer.ts';

/** Refused by the mJS parser (§5.3); `[kw] is not implemented` is measured for `try`. */
export const REFUSED_KEYWORDS = new Set(['case', 'catch', 'delete', 'do', 'instanceof', 'new', 'switch', 'throw', 'try', 'var', 'void', 'with']);
const RESERVED = new Set(['let', 'function', 'if', 'else', 'for', 'in', 'while', 'break', 'continue', 'return', 'typeof', 'this', 'true', 'false', 'null', 'undefined']);

const BINARY_PREC: Record<string, number> = {
  '||': 1, '&&': 2, '|': 3, '^': 4, '&': 5, '===': 6, '!==': 6, '==': 6, '!=': 6,
  '<': 7, '>': 7, '<=': 7, '>=': 7, '<<': 8, '>>': 8, '>>>': 8, '+': 9, '-': 9, '*': 10, '/': 10, '%': 10,
};
const ASSIGN_OPS = new Set(['=', '+=', '-=', '*=', '/=', '%=', '<<=', '>>=', '>>>=', '&=', '|=', '^=']);
export const MAX_DEPTH = 200;

export interface ParseOptions {
  /** When set, `==`/`!=` are reported here and read as `===`/`!==` (for `agent check`). */
  onLooseEquality?: (line: number, op: string) => void;
}

export abstract class ExprParser {
  protected pos = 0;
  protected depth = 0;

  constructor(
    protected readonly toks: Token[],
    protected readonly opts: ParseOptions,
  ) {}

  protected abstract parseFunctionBody(): Stmt[];

  protected get tok(): Token {
    return this.toks[this.pos] ?? (this.toks[this.toks.length - 1] as Token);
  }

  protected next(): Token {
    const t = this.tok;
    if (this.pos < this.toks.length - 1) this.pos++;
    return t;
  }

  protected is(s: string): boolean {
    return this.tok.t === 'p' && this.tok.s === s;
  }

  protected isId(s: string): boolean {
    return this.tok.t === 'id' && this.tok.s === s;
  }

  protected eat(s: string): boolean {
    if (!this.is(s)) return false;
    this.next();
    return true;
  }

  protected expect(s: string): void {
    if (!this.eat(s)) throw this.unexpected();
  }

  protected unexpected(): MjsThrow {
    const t = this.tok;
    if (t.t === 'id' && REFUSED_KEYWORDS.has(t.s)) return new MjsThrow(MSG.notImplemented(t.s), '', t.line);
    return parseError(t.line);
  }

  /** A name that may be bound (`let x`, parameters, `for (k in …)`). */
  protected bindingName(): string {
    const t = this.tok;
    if (t.t !== 'id' || RESERVED.has(t.s) || REFUSED_KEYWORDS.has(t.s)) throw this.unexpected();
    this.next();
    return t.s;
  }

  parseExpression(): Expr {
    const first = this.parseAssign();
    if (!this.is(',')) return first;
    const items = [first];
    while (this.eat(',')) items.push(this.parseAssign());
    return { k: 'seq', line: first.line, items };
  }

  protected parseAssign(): Expr {
    if (++this.depth > MAX_DEPTH) throw parseError(this.tok.line);
    try {
      const left = this.parseConditional();
      if (this.tok.t === 'p' && ASSIGN_OPS.has(this.tok.s)) {
        const op = this.next().s;
        if (left.k !== 'id' && left.k !== 'member' && left.k !== 'index') throw parseError(left.line);
        return { k: 'assign', line: left.line, op, target: left, value: this.parseAssign() };
      }
      return left;
    } finally {
      this.depth--;
    }
  }

  private parseConditional(): Expr {
    const test = this.parseBinary(1);
    if (!this.eat('?')) return test;
    const then = this.parseAssign();
    this.expect(':');
    return { k: 'cond', line: test.line, test, then, else: this.parseAssign() };
  }

  private parseBinary(minPrec: number): Expr {
    let left = this.parseUnary();
    for (;;) {
      const t = this.tok;
      const prec = t.t === 'p' ? BINARY_PREC[t.s] : undefined;
      if (prec === undefined || prec < minPrec) return left;
      this.next();
      let op = t.s;
      if (op === '==' || op === '!=') {
        if (!this.opts.onLooseEquality) throw new MjsThrow(MSG.useStrictEq, '', t.line);
        this.opts.onLooseEquality(t.line, op);
        op = op === '==' ? '===' : '!==';
      }
      const right = this.parseBinary(prec + 1);
      left = op === '&&' || op === '||' ? { k: 'logical', line: left.line, op, left, right } : { k: 'binary', line: t.line, op, left, right };
    }
  }

  private parseUnary(): Expr {
    const t = this.tok;
    if (t.t === 'p' && (t.s === '!' || t.s === '-' || t.s === '+' || t.s === '~')) {
      this.next();
      return { k: 'unary', line: t.line, op: t.s, arg: this.parseUnaryNested() };
    }
    if (t.t === 'p' && (t.s === '++' || t.s === '--')) {
      this.next();
      const target = this.parseUnaryNested();
      if (target.k !== 'id' && target.k !== 'member' && target.k !== 'index') throw parseError(t.line);
      return { k: 'update', line: t.line, op: t.s, prefix: true, target };
    }
    if (t.t === 'id' && t.s === 'typeof') {
      this.next();
      return { k: 'unary', line: t.line, op: 'typeof', arg: this.parseUnaryNested() };
    }
    const e = this.parsePostfix();
    if ((this.is('++') || this.is('--')) && (e.k === 'id' || e.k === 'member' || e.k === 'index')) {
      return { k: 'update', line: e.line, op: this.next().s as '++' | '--', prefix: false, target: e };
    }
    return e;
  }

  private parseUnaryNested(): Expr {
    if (++this.depth > MAX_DEPTH) throw parseError(this.tok.line);
    try {
      return this.parseUnary();
    } finally {
      this.depth--;
    }
  }

  private parsePostfix(): Expr {
    let e = this.parsePrimary();
    // Evaluating a chain recurses once per link, so it is bounded like nesting.
    for (let links = 0; ; links++) {
      if (links > MAX_DEPTH) throw parseError(this.tok.line);
      const t = this.tok;
      if (this.eat('.')) {
        const name = this.tok;
        if (name.t !== 'id') throw parseError(name.line);
        this.next();
        e = { k: 'member', line: t.line, obj: e, prop: name.s };
      } else if (this.eat('[')) {
        const key = this.parseExpression();
        this.expect(']');
        e = { k: 'index', line: t.line, obj: e, key };
      } else if (this.eat('(')) {
        const args: Expr[] = [];
        if (!this.is(')')) do args.push(this.parseAssign()); while (this.eat(','));
        this.expect(')');
        e = { k: 'call', line: t.line, callee: e, args };
      } else {
        return e;
      }
    }
  }

  private parsePrimary(): Expr {
    const t = this.tok;
    const line = t.line;
    if (t.t === 'num') return this.next(), { k: 'num', line, v: t.n };
    if (t.t === 'str') return this.next(), { k: 'str', line, v: t.s };
    if (t.t === 'id') {
      switch (t.s) {
        case 'true': case 'false': case 'null': case 'undefined':
          this.next();
          return { k: 'lit', line, v: t.s === 'true' ? true : t.s === 'false' ? false : t.s === 'null' ? null : undefined };
        case 'this':
          return this.next(), { k: 'this', line };
        case 'function':
          return this.parseFunction(false);
      }
      return { k: 'id', line, name: this.bindingName() };
    }
    if (this.eat('(')) {
      const e = this.parseExpression();
      this.expect(')');
      return e;
    }
    if (this.eat('[')) {
      const items: Expr[] = [];
      if (!this.is(']')) do items.push(this.parseAssign()); while (this.eat(','));
      this.expect(']');
      return { k: 'array', line, items };
    }
    if (this.eat('{')) {
      const props: Array<[string, Expr]> = [];
      while (!this.is('}')) {
        const key = this.tok;
        if (key.t === 'id' || key.t === 'str') props.push([key.s, (this.next(), this.expect(':'), this.parseAssign())]);
        else throw this.unexpected();
        if (!this.eat(',')) break;
      }
      this.expect('}');
      return { k: 'object', line, props };
    }
    throw this.unexpected();
  }

  protected parseFunction(declaration: boolean): FunctionNode {
    const line = this.next().line; // `function`
    const name = this.tok.t === 'id' ? this.bindingName() : undefined;
    if (declaration && name === undefined) throw this.unexpected();
    this.expect('(');
    const params: string[] = [];
    if (!this.is(')')) do params.push(this.bindingName()); while (this.eat(','));
    this.expect(')');
    return { k: 'function', line, name, params, body: this.parseFunctionBody() };
  }
}
