// A handler's refusal, sent back as the frame's `error` object (spec mongoose-os.md §3.2).
export class RpcFail extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}
