// Step 6, boot check: hard reset into the app and a verdict on whether it came up. How the
// verdict is read is pluggable (PipelineContext.bootCheck): the virtual board reports it
// from its boot log; for a real board the default watches the console for the first line
// that says the app runs or the boot failed.
import type { Transport } from '../../transport/transport.ts';
import { StationError } from './errors.ts';
import { completeStep, type RunState } from './run-state.ts';

export interface BootVerdict {
  ok: boolean;
  /** The console line (or other evidence) the verdict rests on. */
  line: string;
}

/** Console lines that settle a boot: the ESP-IDF bootloader / Mongoose OS starting, or a failure. */
export const BOOT_OK = /would run app|mgos_init.*(done|ok)|Init done|MGOS .* starting/i;
export const BOOT_FAILED = /cannot boot|boot failed|invalid header|No bootable app|flash read err|Guru Meditation/i;

export async function bootCheck(run: RunState): Promise<void> {
  const { ctx, session } = run;
  let verdict: BootVerdict;
  if (ctx.bootCheck) {
    await session.hardReset();
    verdict = await ctx.bootCheck(run.portUrl);
  } else {
    const tap = consoleTap(session.transport);
    try {
      await session.transport.setBaudRate(115200).catch(() => {});
      await session.hardReset();
      verdict = await tap.verdict(ctx.bootTimeoutMs ?? 8000);
    } finally {
      tap.stop();
    }
  }
  run.journal.boot = verdict;
  if (!verdict.ok) {
    throw new StationError('station.boot_failed', `${run.deviceId} (${run.mac}) did not boot after provisioning: ${verdict.line}`, {
      hint: 'run again to rewrite the firmware (the identity is kept); if it repeats, check the bundle against the board',
    });
  }
  completeStep(run, 'boot', verdict.line);
}

/** Collects console text from the transport and waits for a line BOOT_OK or BOOT_FAILED matches. */
export function consoleTap(transport: Transport): { verdict(timeoutMs: number): Promise<BootVerdict>; stop(): void } {
  let text = '';
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const off = transport.onData((chunk) => {
    text = (text + decoder.decode(chunk, { stream: true })).slice(-65536);
  });
  const settle = (): BootVerdict | undefined => {
    for (const line of text.split(/\r?\n/)) {
      if (BOOT_FAILED.test(line)) return { ok: false, line: line.trim() };
      if (BOOT_OK.test(line)) return { ok: true, line: line.trim() };
    }
    return undefined;
  };
  return {
    async verdict(timeoutMs) {
      for (let waited = 0; waited <= timeoutMs; waited += 50) {
        const v = settle();
        if (v) return v;
        await new Promise((r) => setTimeout(r, 50));
      }
      return { ok: false, line: `no boot verdict on the console within ${timeoutMs} ms` };
    },
    stop: off,
  };
}
