// RPC errors (spec mongoose-os.md §3): one class for frames, the channel and device replies,
// with stable codes so the CLI can tell "board not answering" from "board said no".
import { EspfleetError, type ErrorDetails } from '../../firmware-js/errors.ts';

export class RpcError extends EspfleetError {
  /** The board's error code for `rpc.remote` errors (404, 400, …). */
  readonly remoteCode: number | undefined;

  constructor(code: string, message: string, details: ErrorDetails & { remoteCode?: number } = {}) {
    super(code, message, details);
    this.remoteCode = details.remoteCode;
  }
}

export function frameError(kind: 'bad_json' | 'not_object' | 'bad_crc' | 'non_ascii' | 'too_large' | 'bad_field', message: string, hint?: string): RpcError {
  return new RpcError(`rpc.frame.${kind}`, message, hint === undefined ? {} : { hint });
}
