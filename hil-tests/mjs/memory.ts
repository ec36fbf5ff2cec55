// Approximate heap accounting of one engine (the memory budget): allocations add up,
// and when the sum passes the budget a mark pass over what is reachable decides.
import { MjsArray, MjsFunction, MjsForeign, MjsObject, type Value } from './values.ts';

export const SIZE = { object: 32, prop: 16, array: 32, item: 8, string: 8, function: 48 } as const;

/** Bytes reachable from the roots, counting each object once. */
export function liveBytes(roots: Iterable<Value>): number {
  const seen = new Set<object>();
  let total = 0;
  const stack: Value[] = [...roots];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') total += SIZE.string + v.length;
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof MjsObject) {
      total += SIZE.object;
      for (const [k, x] of v.props) {
        total += SIZE.prop + k.length;
        stack.push(x);
      }
      if (v.proto) stack.push(v.proto);
    } else if (v instanceof MjsArray) {
      total += SIZE.array + SIZE.item * v.items.length;
      stack.push(...v.items);
    } else if (v instanceof MjsFunction || v instanceof MjsForeign) {
      total += SIZE.function;
    }
  }
  return total;
}
