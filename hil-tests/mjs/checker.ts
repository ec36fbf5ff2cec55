// `agent check`: what the mJS parser refuses, plus the mistakes that only show on a board
// (mjs-engine.md "What follows for the agent"): closures used after return, "…" + number,
// members mJS lacks, non-ASCII literals that JSON.stringify turns into `\xNN`.
import type { Expr, FunctionNode, Stmt } from './ast.ts';
import { MSG } from './errors.ts';
import { parseProgram } from './parser.ts';

export type FindingRule = 'parse' | 'loose-equality' | 'closure' | 'string-plus-number' | 'missing-member' | 'non-ascii';

export interface Finding {
  file: string;
  line: number;
  rule: FindingRule;
  message: string;
  /** True when the board's parser rejects the file outright. */
  refused: boolean;
}

// Members real code reaches for that mJS does not have (mongoose-os.md §5.3).
const LACKING = new Set([
  'split', 'forEach', 'map', 'filter', 'reduce', 'some', 'every', 'find', 'findIndex', 'includes', 'join', 'concat',
  'pop', 'shift', 'unshift', 'sort', 'reverse', 'toString', 'toFixed', 'trim', 'trimStart', 'trimEnd', 'replace',
  'replaceAll', 'substr', 'substring', 'charAt', 'toUpperCase', 'toLowerCase', 'startsWith', 'endsWith', 'padStart',
  'padEnd', 'lastIndexOf', 'repeat', 'match', 'search', 'hasOwnProperty',
]);
const LACKING_STATIC: Record<string, Set<string>> = {
  Object: new Set(['keys', 'values', 'entries', 'assign', 'freeze', 'defineProperty', 'getPrototypeOf']),
  String: new Set(['fromCharCode']),
  Array: new Set(['isArray', 'from']),
};
const NUMERIC_OPS = new Set(['-', '*', '/', '%', '&', '|', '^', '<<', '>>', '>>>']);

export function checkSource(src: string, file: string): Finding[] {
  const findings: Finding[] = [];
  const add = (line: number, rule: FindingRule, message: string, refused = false) => findings.push({ file, line, rule, message, refused });
  const parsed = parseProgram(src, file, {
    onLooseEquality: (line, op) => add(line, 'loose-equality', `${MSG.useStrictEq} (found ${op}); the board refuses the whole file`, true),
  });
  if (!parsed.ok) {
    add(parsed.error.line, 'parse', `${parsed.error.message}; the board refuses the whole file`, true);
    return sortFindings(findings);
  }
  new Walker(add).stmts(parsed.program.body, []);
  return sortFindings(findings);
}

function sortFindings(f: Finding[]): Finding[] {
  return f.sort((a, b) => a.line - b.line);
}

type Add = (line: number, rule: FindingRule, message: string) => void;

interface FnScope {
  name: string;
  locals: Set<string>;
  /** Names the body uses other than as a callee: a nested declaration named here outlives its call. */
  escaping: Set<string>;
}

class Walker {
  constructor(private readonly add: Add) {}

  stmts(body: Stmt[], fns: FnScope[]): void {
    for (const s of body) this.stmt(s, fns);
  }

  private stmt(s: Stmt, fns: FnScope[]): void {
    switch (s.k) {
      case 'expr': return this.expr(s.expr, fns);
      case 'let': for (const [, init] of s.decls) if (init) this.expr(init, fns); return;
      case 'fundecl': return this.fn(s.fn, fns, fns[fns.length - 1]?.escaping.has(s.fn.name as string) ?? false);
      case 'block': return this.stmts(s.body, fns);
      case 'if': this.expr(s.test, fns); this.stmt(s.then, fns); if (s.else) this.stmt(s.else, fns); return;
      case 'while': this.expr(s.test, fns); return this.stmt(s.body, fns);
      case 'for':
        if (s.init) this.stmt(s.init, fns);
        for (const e of [s.test, s.update]) if (e) this.expr(e, fns);
        return this.stmt(s.body, fns);
      case 'forin': this.expr(s.obj, fns); return this.stmt(s.body, fns);
      case 'return': if (s.arg) this.expr(s.arg, fns); return;
      default: return;
    }
  }

  private fn(f: FunctionNode, fns: FnScope[], outlives: boolean): void {
    const locals = localsOf(f);
    if (outlives && fns.length > 0) {
      for (const [name, line] of freeNames(f, locals)) {
        const owner = [...fns].reverse().find((s) => s.locals.has(name));
        if (owner) {
          this.add(line, 'closure', `[${name}] is a local of ${owner.name}; mJS has no closures, so once ${owner.name} returns this function fails with "${MSG.notDefined(name)}" — pass it as userdata`);
        }
      }
    }
    this.stmts(f.body, [...fns, { name: f.name ? `function ${f.name}` : `the function at line ${f.line}`, locals, escaping: escapingOf(f) }]);
  }

  private expr(e: Expr, fns: FnScope[]): void {
    if (e.k === 'function') return this.fn(e, fns, true);
    if (e.k === 'str' && /[\x80-\xff]/.test(e.v)) {
      this.add(e.line, 'non-ascii', 'non-ASCII string literal: mJS counts and indexes its bytes, and JSON.stringify writes them as \\xNN, which is not JSON');
    }
    if ((e.k === 'binary' && e.op === '+') || (e.k === 'assign' && e.op === '+=')) {
      const [l, r] = e.k === 'binary' ? [e.left, e.right] : [e.target, e.value];
      if ((isString(l) && isNumeric(r)) || (isNumeric(l) && isString(r))) {
        this.add(e.line, 'string-plus-number', `string + number: ${MSG.implicit} on a board; use JSON.stringify(n)`);
      }
    }
    if (e.k === 'call' && e.callee.k === 'member') {
      const { obj, prop } = e.callee;
      const statics = obj.k === 'id' ? LACKING_STATIC[obj.name] : undefined;
      if (statics?.has(prop) || (!statics && LACKING.has(prop))) {
        this.add(e.line, 'missing-member', `${statics && obj.k === 'id' ? obj.name : ''}.${prop}() does not exist in mJS (strings have length/at/charCodeAt/indexOf/slice, arrays length/push/splice)`);
      }
    }
    for (const c of exprChildren(e)) this.expr(c, fns);
  }
}

function isString(e: Expr): boolean {
  return e.k === 'str' || (e.k === 'binary' && e.op === '+' && (isString(e.left) || isString(e.right)));
}

function isNumeric(e: Expr): boolean {
  if (e.k === 'num' || e.k === 'update') return true;
  if (e.k === 'unary') return e.op !== '!' && e.op !== 'typeof';
  if (e.k === 'binary') return NUMERIC_OPS.has(e.op) || (e.op === '+' && isNumeric(e.left) && isNumeric(e.right));
  return e.k === 'member' && e.prop === 'length';
}

function localsOf(f: FunctionNode): Set<string> {
  const locals = new Set(f.params);
  const visit = (s: Stmt): void => {
    if (s.k === 'let') for (const [n] of s.decls) locals.add(n);
    if (s.k === 'fundecl') return void locals.add(s.fn.name as string);
    if (s.k === 'forin') locals.add(s.name);
    for (const c of stmtChildren(s)) visit(c);
  };
  f.body.forEach(visit);
  return locals;
}

function escapingOf(f: FunctionNode): Set<string> {
  const escapingNames = new Set<string>();
  const walk = (e: Expr, callee: boolean): void => {
    if (e.k === 'id' && !callee) escapingNames.add(e.name);
    if (e.k === 'function') return;
    if (e.k === 'call') {
      walk(e.callee, true);
      return e.args.forEach((a) => walk(a, false));
    }
    for (const c of exprChildren(e)) walk(c, false);
  };
  const visitStmt = (s: Stmt): void => {
    if (s.k === 'fundecl') return;
    for (const e of stmtExprs(s)) walk(e, false);
    for (const c of stmtChildren(s)) visitStmt(c);
  };
  f.body.forEach(visitStmt);
  return escapingNames;
}

/** Identifiers a function reads that it does not declare itself (nested functions included). */
function freeNames(f: FunctionNode, own: Set<string>): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  const walkExpr = (e: Expr, bound: Set<string>): void => {
    if (e.k === 'id' && !bound.has(e.name)) out.push([e.name, e.line]);
    if (e.k === 'function') return walkFn(e, bound);
    for (const c of exprChildren(e)) walkExpr(c, bound);
  };
  const walkStmt = (s: Stmt, bound: Set<string>): void => {
    if (s.k === 'fundecl') return walkFn(s.fn, bound);
    for (const e of stmtExprs(s)) walkExpr(e, bound);
    for (const c of stmtChildren(s)) walkStmt(c, bound);
  };
  const walkFn = (g: FunctionNode, bound: Set<string>): void => {
    const inner = new Set([...bound, ...localsOf(g)]);
    g.body.forEach((s) => walkStmt(s, inner));
  };
  f.body.forEach((s) => walkStmt(s, own));
  return out;
}

function stmtChildren(s: Stmt): Stmt[] {
  switch (s.k) {
    case 'block': return s.body;
    case 'if': return s.else ? [s.then, s.else] : [s.then];
    case 'while': case 'forin': return [s.body];
    case 'for': return s.init ? [s.init, s.body] : [s.body];
    default: return [];
  }
}

function stmtExprs(s: Stmt): Expr[] {
  switch (s.k) {
    case 'expr': return [s.expr];
    case 'let': return s.decls.flatMap(([, e]) => (e ? [e] : []));
    case 'if': case 'while': return [s.test];
    case 'for': return [s.test, s.update].filter((e): e is Expr => e !== undefined);
    case 'forin': return [s.obj];
    case 'return': return s.arg ? [s.arg] : [];
    default: return [];
  }
}

export function exprChildren(e: Expr): Expr[] {
  switch (e.k) {
    case 'array': return e.items;
    case 'object': return e.props.map(([, v]) => v);
    case 'unary': return [e.arg];
    case 'update': return [e.target];
    case 'binary': case 'logical': return [e.left, e.right];
    case 'assign': return [e.target, e.value];
    case 'cond': return [e.test, e.then, e.else];
    case 'call': return [e.callee, ...e.args];
    case 'member': return [e.obj];
    case 'index': return [e.obj, e.key];
    case 'seq': return e.items;
    default: return [];
  }
}
