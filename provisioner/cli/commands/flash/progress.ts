// Progress of `espfleet flash` on stderr: a redrawn bar on a terminal, plain lines
// otherwise (CI logs, pipes), so both stay readable.
import type { WriteProgress } from '../../../session/index.ts';
import type { CliContext } from '../../context.ts';

const BAR = 28;

export function flashProgress(ctx: CliContext, names: readonly string[]): { onProgress: (p: WriteProgress) => void; done: () => void } {
  const tty = ctx.stderr.isTTY === true;
  let drawn = false;
  const nameOf = (i: number) => names[i] ?? `region ${i + 1}`;
  const onProgress = (p: WriteProgress) => {
    const at = `0x${p.address.toString(16)}`;
    if (tty) {
      const frac = p.total === 0 ? 1 : p.done / p.total;
      const filled = Math.round(frac * BAR);
      const text = `${nameOf(p.region).padEnd(8)} ${at.padEnd(9)} ${p.phase.padEnd(7)} [${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${Math.round(frac * 100)
        .toString()
        .padStart(3)}%  written ${p.sectorsWritten}, skipped ${p.sectorsSkipped}`;
      ctx.stderr.write(`\r${text}\x1b[K`);
      drawn = true;
      return;
    }
    // Plain output: one line per region once it is verified, nothing per block.
    if (p.phase !== 'verify' || p.done !== p.total) return;
    ctx.note(`${nameOf(p.region)} at ${at}: ${p.sectorsWritten} sector(s) written, ${p.sectorsSkipped} unchanged, verified`);
  };
  return { onProgress, done: () => void (tty && drawn && ctx.stderr.write('\n')) };
}
