// How mJS prints a number (mjs-engine.md "Values"): integers that fit in 64 bits print
// as integers, anything else as C `%f` (6 decimals, round half to even on exact ties),
// and NaN and 1/0 both as `-nan`.

const TWO63 = 2 ** 63;

export function formatNumber(v: number): string {
  // [U] -1/0 is not measured; the double prints it like 1/0.
  if (!Number.isFinite(v)) return '-nan';
  if (Number.isInteger(v) && Math.abs(v) < TWO63) return BigInt(v).toString();
  return formatFixed6(v);
}

/** C `printf("%f", v)` for a finite double, from its exact binary value. */
export function formatFixed6(v: number): string {
  const neg = v < 0 || Object.is(v, -0);
  const [mant, exp] = decompose(Math.abs(v));
  // |v| * 1e6 = mant * 1e6 * 2^exp, rounded to an integer, half to even.
  let scaled: bigint;
  if (exp >= 0) {
    scaled = (mant * 1_000_000n) << BigInt(exp);
  } else {
    const num = mant * 1_000_000n;
    const den = 1n << BigInt(-exp);
    scaled = num / den;
    const twice = 2n * (num % den);
    if (twice > den || (twice === den && (scaled & 1n) === 1n)) scaled += 1n;
  }
  const digits = scaled.toString().padStart(7, '0');
  return `${neg ? '-' : ''}${digits.slice(0, -6)}.${digits.slice(-6)}`;
}

/** A finite non-negative double as mant * 2^exp with an integer mantissa. */
function decompose(v: number): [bigint, number] {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (biased === 0) return [mant, -1074];
  mant |= 1n << 52n;
  return [mant, biased - 1075];
}
