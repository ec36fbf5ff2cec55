// Scenarios as stories: a named list of steps, each a sentence and a function of the rig.
// A failing step is reported by its number and sentence, and every step is written into the
// board's transcript, so the log reads as the story with the board's output in between.
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Rig } from './rig.ts';

export interface Step {
  /** What happens, as a sentence: "the board reports committed on ota/status". */
  does: string;
  run(rig: Rig): Promise<void>;
}

export interface Scenario {
  name: string;
  /** Why it matters, one line (shown in docs/hil.md's table). */
  story: string;
  steps: Step[];
  /** The test timeout of the whole story on the virtual board (a real board gets `timeoutFactor` times it). */
  budgetMs: number;
}

export const step = (does: string, run: (rig: Rig) => Promise<void>): Step => ({ does, run });

export class StepFailed extends Error {
  readonly code = 'hil.step.failed';
  constructor(scenario: string, n: number, s: Step, cause: unknown, logPath: string) {
    super(`${scenario}, step ${n} "${s.does}": ${cause instanceof Error ? cause.message : String(cause)}\n(transcript: ${logPath})`, { cause });
    this.name = 'StepFailed';
  }
}

export async function runScenario(rig: Rig, s: Scenario): Promise<void> {
  rig.board.console.note(`scenario: ${s.name} — ${s.story}`);
  for (const [i, st] of s.steps.entries()) {
    rig.board.console.note(`step ${i + 1}: ${st.does}`);
    try {
      await st.run(rig);
    } catch (e) {
      rig.board.console.note(`step ${i + 1} FAILED: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      throw new StepFailed(s.name, i + 1, st, e, rig.board.console.logPath);
    }
  }
  rig.board.console.note(`scenario passed: ${s.name}`);
}

/**
 * Registers one vitest `it` per scenario over one rig, in order (later stories build on the
 * board earlier ones left: provisioned, connected, updated). Once a story fails, the ones after
 * it are skipped rather than failing for the same reason.
 */
export function describeStories(title: string, opts: { skip: boolean; start: () => Promise<Rig>; setupMs: number; timeoutFactor?: number }, scenarios: readonly Scenario[]): void {
  describe.skipIf(opts.skip)(title, () => {
    let rig: Rig | undefined;
    let broken: string | undefined;
    beforeAll(async () => {
      rig = await opts.start();
    }, opts.setupMs);
    afterAll(async () => {
      await rig?.stop();
    });
    for (const s of scenarios) {
      it(s.name, async (ctx) => {
        if (broken) ctx.skip(`after the failure of "${broken}"`);
        try {
          await runScenario(rig!, s);
        } catch (e) {
          broken = s.name;
          throw e;
        }
      }, s.budgetMs * (opts.timeoutFactor ?? 1));
    }
  });
}
