// `device info` on whatever the board is doing (issue 13): Mongoose OS answering RPC, or the
// ROM loader already in download mode (its facts, read without a reset, spec
// esp32-rom-efuse-crypto.md §2). Neither → the RPC error, whose hint says what to check.
import { withBoard, type ChipFacts } from '../session/index.ts';
import { RpcError } from '../rpc/errors.ts';
import { withDevice, type DeviceInfo, type DeviceOptions } from './device.ts';

export type BoardIdentity = { mode: 'mongoose-os'; info: DeviceInfo } | { mode: 'download'; facts: ChipFacts };

export async function identifyBoard(port: string, opts: DeviceOptions & { romFallback?: boolean }): Promise<BoardIdentity> {
  try {
    return { mode: 'mongoose-os', info: await withDevice(port, opts, (d) => d.info()) };
  } catch (e) {
    if (!(e instanceof RpcError) || e.code !== 'rpc.no_answer' || opts.romFallback === false) throw e;
    let facts: ChipFacts;
    try {
      // No reset and no stub: only a board that already sits in its ROM loader answers.
      facts = await withBoard(port, { reset: 'none', stub: false, connectAttempts: 2 }, (s) => s.chipFacts());
    } catch {
      throw new RpcError(e.code, `${e.message}; nor does its ROM loader (not in download mode)`, { ...(e.hint ? { hint: e.hint } : {}), cause: e });
    }
    return { mode: 'download', facts };
  }
}
