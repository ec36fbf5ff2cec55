// Flash write progress (compare, write, verify of each region) through the CLI's one
// progress reporter (cli/progress.ts): a phase per region and step, bytes as they go,
// and one line per region once it is verified.
import type { WriteProgress } from '../../../session/index.ts';
import { addr } from '../../format.ts';
import type { Progress } from '../../progress.ts';

export function flashProgress(progress: Progress, names: readonly string[]): { onProgress: (p: WriteProgress) => void; done: () => void } {
  const nameOf = (i: number) => names[i] || `region ${i + 1}`;
  let current = '';
  const onProgress = (p: WriteProgress) => {
    const key = `${p.region}/${p.phase}`;
    if (key !== current) {
      current = key;
      progress.phase(`${nameOf(p.region)} at ${addr(p.address)} ${p.phase}`, p.total);
    }
    progress.update(p.done, p.total);
    if (p.phase === 'verify' && p.done === p.total) {
      progress.note(`${nameOf(p.region)} at ${addr(p.address)}: ${p.sectorsWritten} sector(s) written, ${p.sectorsSkipped} unchanged, verified`);
    }
  };
  return { onProgress, done: () => progress.done() };
}
