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

/**
 * Console lines that settle a boot. Only lines a real board prints count, so the check means
 * the same on hardware as on the virtual board (which prints the same bootloader lines):
 * - the ESP-IDF 2nd-stage bootloader's hand-over, `I (…) boot: Loaded app from partition at
 *   offset 0x…` — the app image passed its checks and runs; a crash right after it shows as
 *   a panic within the grace period below;
 * - the app saying it is up. Mongoose OS's exact init line is not in our spec **[U]**; these
 *   patterns cover the forms seen ("mgos_init … done", "Init done", "MGOS … starting"), and
 *   the bootloader line alone is enough when none of them comes.
 */
export const BOOT_LOADED = /\bboot: Loaded app from partition at offset 0x[0-9a-f]+/i;
export const BOOT_OK = /mgos_init.*(done|ok)|Init done|MGOS .* starting/i;
export const BOOT_FAILED = /cannot boot|boot failed|invalid header|No bootable app|flash read err|Guru Meditation|abort\(\) was called|Rebooting\.\.\./i;
/** How long after the bootloader's hand-over a panic still counts as a failed boot. */
export const BOOT_GRACE_MS = 1500;

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

/**
 * Collects console text from the transport and gives a verdict: a failure line (also one
 * that follows the hand-over within BOOT_GRACE_MS) fails; an app-up line passes at once; the
 * bootloader's hand-over passes once the grace period has gone by without a failure.
 */
export function consoleTap(transport: Transport, graceMs = BOOT_GRACE_MS): { verdict(timeoutMs: number): Promise<BootVerdict>; stop(): void } {
  let text = '';
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const off = transport.onData((chunk) => {
    text = (text + decoder.decode(chunk, { stream: true })).slice(-65536);
  });
  let loaded: { line: string; at: number } | undefined;
  const settle = (waited: number): BootVerdict | undefined => {
    for (const line of text.split(/\r?\n/)) {
      if (BOOT_FAILED.test(line)) return { ok: false, line: line.trim() };
      if (BOOT_OK.test(line)) return { ok: true, line: line.trim() };
      if (!loaded && BOOT_LOADED.test(line)) loaded = { line: line.trim(), at: waited };
    }
    if (loaded && waited - loaded.at >= graceMs) return { ok: true, line: loaded.line };
    return undefined;
  };
  return {
    async verdict(timeoutMs) {
      for (let waited = 0; ; waited += 50) {
        const v = settle(waited);
        if (v) return v;
        if (waited >= timeoutMs + (loaded ? graceMs : 0)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      return { ok: false, line: `no boot verdict on the console within ${timeoutMs} ms` };
    },
    stop: off,
  };
}
