// The task watchdog of the double: mJS code that never returns (the engine's step budget runs
// out) is what trips `sys.wdt_timeout` on a board, so the board reboots and goes through the
// boot check again. The exact console text of Mongoose OS's watchdog is not in our spec [U];
// this prints ESP-IDF's task-watchdog line, then restarts as the panic handler would.
import { MSG } from '../mjs/errors.ts';
import type { MgosScriptContext } from './firmware.ts';

/** True when an mJS error means the callback ran away (the board's watchdog would fire). */
export function isRunaway(message: string): boolean {
  return message === MSG.stepBudget;
}

export function tripWatchdog(ctx: MgosScriptContext, where: string): void {
  ctx.log(`E (${Math.round(ctx.host.uptimeMs())}) task_wdt: Task watchdog got triggered (${where} did not return)`);
  ctx.log('Rebooting...');
  ctx.host.restart();
}
