// Statement half of the mJS parser (mongoose-os.md §5.3): `let`, blocks, if/else, for,
// for-in, while, break, continue, return, function declarations; refused keywords stop it.
import type { Program, Stmt } from './ast.ts';
import { MjsError, MjsThrow } from './errors.ts';
import { tokenize } from './lexer.ts';
import { parseError } from './lexer.ts';
import { ExprParser, MAX_DEPTH, type ParseOptions } from './parse-expr.ts';

export type ParseResult = { ok: true; program: Program } | { ok: false; error: MjsError };

/** Parses a byte-string source; a refusal comes back as the error mJS prints. */
export function parseProgram(src: string, file: string, opts: ParseOptions = {}): ParseResult {
  try {
    const p = new Parser(tokenize(src), opts);
    return { ok: true, program: { body: p.parseAll() } };
  } catch (e) {
    if (e instanceof MjsThrow) return { ok: false, error: new MjsError(e.message, file, e.line) };
    throw e;
  }
}

class Parser extends ExprParser {
  parseAll(): Stmt[] {
    const body: Stmt[] = [];
    while (this.tok.t !== 'eof') body.push(this.parseStatement());
    return body;
  }

  protected parseFunctionBody(): Stmt[] {
    return this.parseBlock().body;
  }

  private parseBlock(): { k: 'block'; line: number; body: Stmt[] } {
    const line = this.tok.line;
    this.expect('{');
    const body: Stmt[] = [];
    while (!this.is('}')) {
      if (this.tok.t === 'eof') throw this.unexpected();
      body.push(this.parseStatement());
    }
    this.next();
    return { k: 'block', line, body };
  }

  // [U] A statement ends at `;`, a line break, `}` or the end of the file (ASI-like);
  // not measured. Two statements on one line need the `;` (so `const x = 1` is refused).
  private end(): void {
    if (this.eat(';') || this.is('}') || this.tok.t === 'eof') return;
    const prev = this.toks[this.pos - 1];
    if (prev && prev.line < this.tok.line) return;
    throw this.unexpected();
  }

  private parseStatement(): Stmt {
    if (++this.depth > MAX_DEPTH) throw parseError(this.tok.line);
    try {
      return this.parseStatementInner();
    } finally {
      this.depth--;
    }
  }

  private parseStatementInner(): Stmt {
    const t = this.tok;
    const line = t.line;
    if (this.eat(';')) return { k: 'empty', line };
    if (this.is('{')) return this.parseBlock();
    if (t.t !== 'id') return this.expressionStatement();
    switch (t.s) {
      case 'let': {
        const s = this.parseLet();
        this.end();
        return s;
      }
      case 'function':
        return { k: 'fundecl', line, fn: this.parseFunction(true) };
      case 'if': {
        this.next();
        this.expect('(');
        const test = this.parseExpression();
        this.expect(')');
        const then = this.parseStatement();
        const otherwise = this.isId('else') ? (this.next(), this.parseStatement()) : undefined;
        return { k: 'if', line, test, then, else: otherwise };
      }
      case 'while': {
        this.next();
        this.expect('(');
        const test = this.parseExpression();
        this.expect(')');
        return { k: 'while', line, test, body: this.parseStatement() };
      }
      case 'for':
        return this.parseFor();
      case 'break':
      case 'continue':
        this.next();
        this.end();
        return { k: t.s, line };
      case 'return': {
        this.next();
        const arg = this.is(';') || this.is('}') || this.tok.t === 'eof' ? undefined : this.parseExpression();
        this.end();
        return { k: 'return', line, arg };
      }
    }
    return this.expressionStatement();
  }

  private expressionStatement(): Stmt {
    const expr = this.parseExpression();
    this.end();
    return { k: 'expr', line: expr.line, expr };
  }

  private parseLet(): Stmt & { k: 'let' } {
    const line = this.next().line;
    const decls: Array<[string, ReturnType<ExprParser['parseExpression']> | undefined]> = [];
    do {
      const name = this.bindingName();
      decls.push([name, this.eat('=') ? this.parseAssign() : undefined]);
    } while (this.eat(','));
    return { k: 'let', line, decls };
  }

  private parseFor(): Stmt {
    const line = this.next().line;
    this.expect('(');
    const save = this.pos;
    const isLet = this.isId('let');
    if (isLet) this.next();
    if (this.tok.t === 'id' && this.toks[this.pos + 1]?.t === 'id' && this.toks[this.pos + 1]?.s === 'in') {
      const name = this.bindingName();
      this.next(); // in
      const obj = this.parseExpression();
      this.expect(')');
      return { k: 'forin', line, name, isLet, obj, body: this.parseStatement() };
    }
    this.pos = save;
    let init: Stmt | undefined;
    if (this.isId('let')) init = this.parseLet();
    else if (!this.is(';')) init = { k: 'expr', line, expr: this.parseExpression() };
    this.expect(';');
    const test = this.is(';') ? undefined : this.parseExpression();
    this.expect(';');
    const update = this.is(')') ? undefined : this.parseExpression();
    this.expect(')');
    return { k: 'for', line, init, test, update, body: this.parseStatement() };
  }
}
