// The evaluator of the mJS double (mjs-engine.md, mongoose-os.md §5.3): statements,
// expressions and calls over the active-frame scope of `Frames`, so a nested function
// sees the caller's locals only while that call runs, and a returned closure does not.
import type { Expr, Stmt } from './ast.ts';
import { fail, MSG } from './errors.ts';
import { Frames } from './frames.ts';
import { SIZE } from './memory.ts';
import { getMember, makeMembers, setMember, toKey } from './members.ts';
import { binaryOp, unaryOp } from './operators.ts';
import { MjsArray, MjsForeign, MjsFunction, MjsObject, truthy, type Value } from './values.ts';

export type { Limits } from './frames.ts';

const NORMAL = 0;
const BREAK = 1;
const CONTINUE = 2;
const RETURN = 3;

export class Interpreter extends Frames {
  private retVal: Value = undefined;
  readonly allocFn = (n: number): void => this.alloc(n);
  readonly members = makeMembers(this.allocFn);

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
        return binaryOp(e.op, a, b, this.allocFn);
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
        const ref = this.ref(e.target);
        const old = ref.get();
        if (typeof old !== 'number') return fail(MSG.implicit);
        const now = e.op === '++' ? old + 1 : old - 1;
        ref.set(now);
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
    const ref = this.ref(e.target);
    let v: Value;
    if (e.op === '=') v = this.eval(e.value);
    else {
      const old = ref.get();
      const rhs = this.eval(e.value);
      this.line = e.line;
      v = binaryOp(e.op.slice(0, -1), old, rhs, this.allocFn);
    }
    ref.set(v);
    return v;
  }

  /** An assignable place, its object and key evaluated once (`a[i++] += 1`). */
  private ref(target: Expr): { get: () => Value; set: (v: Value) => void } {
    if (target.k === 'id') return { get: () => this.lookup(target.name), set: (v) => this.assignVar(target.name, v) };
    if (target.k !== 'member' && target.k !== 'index') return fail(MSG.typeError);
    const o = this.eval(target.obj);
    const key = target.k === 'member' ? target.prop : toKey(this.eval(target.key));
    return { get: () => getMember(this.members, o, key), set: (v) => setMember(o, key, v, this.allocFn) };
  }
}
