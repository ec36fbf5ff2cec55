// "The agent firmware" as the virtual board runs it: the Mongoose OS double with the agent's
// config_schema and the mJS runner, plus the C crypto helper (agent/src/, docs/agent-crypto.md)
// that the real firmware has compiled in — served by the double with the same contract over
// the board's own filesystem. Every agent test on a virtual board builds its firmware here.
import type { Firmware } from '../../hil-tests/virtual-esp32/index.ts';
import { agentCryptoFfi } from '../../hil-tests/mongoose-os/agent-crypto.ts';
import { mjsRunner, mongooseOs, type MongooseOsOptions } from '../../hil-tests/mongoose-os/index.ts';
import type { FfiProvider } from '../../hil-tests/mongoose-os/index.ts';
import { agentConfigSchema } from '../agent-files.ts';

/** The board's ffi providers for the agent: the crypto helper over the board's LittleFS. */
export const AGENT_FFI: readonly FfiProvider[] = [(ctx) => agentCryptoFfi(ctx.fs)];

export function agentFirmware(opts: Omit<MongooseOsOptions, 'scripts' | 'extraSchema'> = {}): Firmware {
  return mongooseOs({ ...opts, scripts: mjsRunner({ ffi: AGENT_FFI }), extraSchema: agentConfigSchema() as never });
}
