// The active-frame scope stack and the budgets of one mJS engine (mjs-engine.md "Scope"):
// a call pushes its frame on top of its caller's, and lookup walks every active frame.
import { fail, MjsThrow, MSG } from './errors.ts';
import { liveBytes, SIZE } from './memory.ts';
import { MjsObject, type Value } from './values.ts';

export interface Limits {
  stepBudget: number;
  memoryBudget: number;
  stackDepth: number;
}

export class Frames {
  readonly global = new MjsObject();
  scopes: Array<Map<string, Value>> = [this.global.props];
  self: Value = undefined;
  file = '';
  line = 0;
  steps = 0;
  depth = 0;
  allocated = 0;
  protected nextCollect: number;

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

  protected assignVar(name: string, v: Value): void {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const s = this.scopes[i] as Map<string, Value>;
      if (s.has(name)) return void s.set(name, v);
    }
    fail(MSG.notDefined(name)); // [U] assigning an undeclared name
  }

  protected declare(name: string, v: Value): void {
    const top = this.scopes[this.scopes.length - 1] as Map<string, Value>;
    if (!top.has(name)) this.alloc(SIZE.prop + name.length);
    top.set(name, v); // re-declaring is allowed (measured)
  }

}
