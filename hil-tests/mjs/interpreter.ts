// The evaluator of the mJS double (mjs-engine.md, mongoose-os.md §5.3). Scope is a stack
// of active frames: a call pushes its frame on top of its caller's, so a nested function
// sees the caller's locals only while that call runs, and a returned closure does not.
import type { Expr, Stmt } from './ast.ts';
import { fail, MjsThrow, MSG } from './errors.ts';
import { liveBytes, SIZE } from './memory.ts';
import { getMember, makeMembers, setMember, toKey } from './members.ts';
import { binaryOp, unaryOp } from './operators.ts';
import { MjsArray, MjsForeign, MjsFunction, MjsObject, truthy, type Value } from './values.ts';

export interface Limits {
  stepBudget: number;
  memoryBudget: number;
  stackDepth: number;
}

const NORMAL = 0;
const BREAK = 1;
const CONTINUE = 2;
const RETURN = 3;

export class Interpreter {
  readonly global = new MjsObject();
  scopes: Array<Map<string, Value>> = [this.global.props];
  self: Value = undefined;
  file = '';
  line = 0;
  steps = 0;
  depth = 0;
  allocated = 0;
  private nextCollect: number;
  private retVal: Value = undefined;
  readonly members = makeMembers((n) => this.alloc(n));

  constructor(readonly limits: Limits) {
    this.nextCollect = limits.memoryBudget;
  }

  step(): void {
    if (++this.steps > this.limits.stepBudget) fail(MSG.stepBudget);
  }

  alloc(n: number): void {
    this.allocated += n;
    if (this.allocated <= this.nextCollect) return;
    const live = this.live() + n;
    if (live > this.limits.memoryBudget) fail(MSG.memoryBudget);
    this.allocated = live;
    this.nextCollect = Math.max(this.limits.memoryBudget, live + this.limits.memoryBudget / 2);
  }

  /** Reachable bytes from the globals and every active frame. */
  live(): number {
    const roots: Value[] = [this.global, this.self];
    for (const s of this.scopes) for (const v of s.values()) roots.push(v);
    return liveBytes(roots);
  }

  collect(): void {
    this.allocated = this.live();
    this.nextCollect = Math.max(this.limits.memoryBudget, this.allocated + this.limits.memoryBudget / 2);
  }

  /** Stamps where an error happened before frames unwind past it. */
  stamp(e: unknown): unknown {
    if (e instanceof MjsThrow && e.file === '') {
      e.file = this.file;
      e.line = this.line;
    }
    return e;
  }

  lookup(name: string): Value {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const s = this.scopes[i] as Map<string, Value>;
      if (s.has(name)) return s.get(name);
    }
    return fail(MSG.notDefined(name));
  }

  private assignVar(name: string, v: Value): void {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const s = this.scopes[i] as Map<string, Value>;
      if (s.has(name)) return void s.set(name, v);
    }
    fail(MSG.notDefined(name)); // [U] assigning an undeclared name
  }

  private declare(name: string, v: Value): void {
    const top = this.scopes[this.scopes.length - 1] as Map<string, Value>;
    if (!top.has(name)) this.alloc(SIZE.prop + name.length);
    top.set(name, v); // re-declaring is allowed (measured)
  }

  /** Runs statements in a fresh block scope; returns the completion code. */
  execBlock(body: Stmt[], ownScope = true): number {
    if (ownScope) this.scopes.push(new Map());
    try {
      for (const s of body) {
        const c = this.exec(s);
        if (c !== NORMAL) return c;
      }
      return NORMAL;
    } finally {
      if (ownScope) this.scopes.pop();
    }
  }

  exec(s: Stmt): number {
    this.step();
    this.line = s.line;
    switch (s.k) {
      case 'expr':
        this.eval(s.expr);
        return NORMAL;
      case 'let':
        for (const [name, init] of s.decls) this.declare(name, init ? this.eval(init) : undefined);
        return NORMAL;
      case 'fundecl':
        // [U] declarations are not hoisted: a function exists once its statement has run.
        this.alloc(SIZE.function);
        this.declare(s.fn.name as string, new MjsFunction(s.fn, this.file));
        return NORMAL;
      case 'block':
        return this.execBlock(s.body);
      case 'if':
        if (truthy(this.eval(s.test))) return this.exec(s.then);
        return s.else ? this.exec(s.else) : NORMAL;
      case 'while':
        while (truthy(this.eval(s.test))) {
          const c = this.exec(s.body);
          if (c === BREAK) break;
          if (c === RETURN) return c;
        }
        return NORMAL;
      case 'for':
        return this.execFor(s);
      case 'forin':
        return this.execForIn(s);
      case 'break':
        return BREAK;
      case 'continue':
        return CONTINUE;
      case 'return':
        this.retVal = s.arg ? this.eval(s.arg) : undefined;
        return RETURN;
      case 'empty':
        return NORMAL;
    }
  }

  private execFor(s: Stmt & { k: 'for' }): number {
    this.scopes.push(new Map());
    try {
      if (s.init) this.exec(s.init);
      for (;;) {
        this.step();
        if (s.test && !truthy(this.eval(s.test))) return NORMAL;
        const c = this.exec(s.body);
        if (c === BREAK) return NORMAL;
        if (c === RETURN) return c;
        if (s.update) this.eval(s.update);
      }
    } finally {
      this.scopes.pop();
    }
  }

  private execForIn(s: Stmt & { k: 'forin' }): number {
    const obj = this.eval(s.obj);
    let keys: string[];
    // Measured: newest property first; array indexes last to first, as strings.
    if (obj instanceof MjsObject) keys = [...obj.props.keys()].reverse();
    else if (obj instanceof MjsArray) keys = obj.items.map((_, i) => String(i)).reverse();
    else return fail(MSG.typeError); // [U] for-in over a non-object
    this.scopes.push(new Map());
    try {
      if (s.isLet) this.declare(s.name, undefined);
      for (const k of keys) {
        this.step();
        this.alloc(SIZE.string + k.length);
        if (s.isLet) this.declare(s.name, k);
        else this.assignVar(s.name, k);
        const c = this.exec(s.body);
        if (c === BREAK) return NORMAL;
        if (c === RETURN) return c;
      }
      return NORMAL;
    } finally {
      this.scopes.pop();
    }
  }

  /** Calls an mJS or foreign function with `this` = self. */
  call(fn: Value, args: Value[], self: Value): Value {
    if (fn instanceof MjsForeign && fn.fn) return fn.fn(args, self);
    if (!(fn instanceof MjsFunction)) return fail(MSG.nonCallable);
    if (this.depth >= this.limits.stackDepth) fail(MSG.stackDepth);
    const frame = new Map<string, Value>();
    fn.node.params.forEach((p, i) => frame.set(p, args[i]));
    const saved = { scopes: this.scopes.length, self: this.self, file: this.file, line: this.line };
    this.scopes.push(frame);
    this.self = self;
    this.file = fn.file;
    this.depth++;
    try {
      const c = this.execBlock(fn.node.body, false);
      return c === RETURN ? this.retVal : undefined;
    } catch (e) {
      throw this.stamp(e);
    } finally {
      this.depth--;
      this.scopes.length = saved.scopes;
      this.self = saved.self;
      this.file = saved.file;
      this.line = saved.line;
    }
  }

  eval(e: Expr): Value {
    this.line = e.line;
    switch (e.k) {
      case 'num': return e.v;
      case 'str': return e.v;
      case 'lit': return e.v;
      case 'id': return this.lookup(e.name);
      case 'this': return this.self;
      case 'function':
        this.alloc(SIZE.function);
        return new MjsFunction(e, this.file);
      case 'array': {
        const items = e.items.map((x) => this.eval(x));
        this.alloc(SIZE.array + SIZE.item * items.length);
        return new MjsArray(items);
      }
      case 'object': {
        const o = new MjsObject();
        this.alloc(SIZE.object);
        for (const [k, x] of e.props) {
          const v = this.eval(x);
          if (!o.props.has(k)) this.alloc(SIZE.prop + k.length);
          o.props.set(k, v);
        }
        return o;
      }
      case 'unary': return unaryOp(e.op, this.eval(e.arg));
      case 'binary': {
        const a = this.eval(e.left);
        const b = this.eval(e.right);
        this.line = e.line;
        return binaryOp(e.op, a, b, (n) => this.alloc(n));
      }
      case 'logical': {
        const a = this.eval(e.left);
        if (e.op === '&&' ? !truthy(a) : truthy(a)) return a;
        return this.eval(e.right);
      }
      case 'cond': return truthy(this.eval(e.test)) ? this.eval(e.then) : this.eval(e.else);
      case 'seq': {
        let v: Value;
        for (const x of e.items) v = this.eval(x);
        return v;
      }
      case 'member': return getMember(this.members, this.eval(e.obj), e.prop);
      case 'index': {
        const o = this.eval(e.obj);
        return getMember(this.members, o, this.eval(e.key));
      }
      case 'call': return this.evalCall(e);
      case 'assign': return this.evalAssign(e);
      case 'update': {
        const old = this.eval(e.target);
        if (typeof old !== 'number') return fail(MSG.implicit);
        const now = e.op === '++' ? old + 1 : old - 1;
        this.store(e.target, now);
        return e.prefix ? now : old;
      }
    }
  }

  private evalCall(e: Expr & { k: 'call' }): Value {
    this.step();
    let fn: Value;
    let self: Value;
    if (e.callee.k === 'member' || e.callee.k === 'index') {
      self = this.eval(e.callee.obj);
      fn = getMember(this.members, self, e.callee.k === 'member' ? e.callee.prop : this.eval(e.callee.key));
    } else {
      fn = this.eval(e.callee);
    }
    const args = e.args.map((a) => this.eval(a));
    this.line = e.line;
    const v = this.call(fn, args, self);
    this.line = e.line;
    return v;
  }

  private evalAssign(e: Expr & { k: 'assign' }): Value {
    let v: Value;
    if (e.op === '=') v = this.eval(e.value);
    else {
      const old = this.eval(e.target);
      const rhs = this.eval(e.value);
      this.line = e.line;
      v = binaryOp(e.op.slice(0, -1), old, rhs, (n) => this.alloc(n));
    }
    this.store(e.target, v);
    return v;
  }

  private store(target: Expr, v: Value): void {
    if (target.k === 'id') return this.assignVar(target.name, v);
    if (target.k === 'member') return setMember(this.eval(target.obj), target.prop, v, (n) => this.alloc(n));
    if (target.k === 'index') {
      const o = this.eval(target.obj);
      return setMember(o, toKey(this.eval(target.key)), v, (n) => this.alloc(n));
    }
    fail(MSG.typeError);
  }
}
