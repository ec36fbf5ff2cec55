// How a serving command (`ota serve`, `sim serve`, `dashboard`) waits to be stopped: Ctrl-C
// through the CLI context's interrupt when it has one (the main program's SIGINT handling,
// tests), else SIGINT itself; and SIGTERM (systemd, kill) either way, so the command still
// cleans up (saves a virtual board's state, closes its listeners).
import type { CliContext } from './context.ts';

export function untilStopped(ctx: CliContext): Promise<void> {
  return new Promise<void>((done) => {
    const release = ctx.interrupt?.hold();
    const signals: NodeJS.Signals[] = ctx.interrupt ? ['SIGTERM'] : ['SIGINT', 'SIGTERM'];
    const stop = () => {
      for (const s of signals) process.off(s, stop);
      ctx.interrupt?.signal.removeEventListener('abort', stop);
      release?.();
      done();
    };
    if (ctx.interrupt?.signal.aborted) return stop();
    ctx.interrupt?.signal.addEventListener('abort', stop, { once: true });
    for (const s of signals) process.on(s, stop);
  });
}
