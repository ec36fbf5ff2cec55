// What a loader command handler decides (spec esp32-rom-efuse-crypto.md §1.3–§1.4): the reply's
// value, payload and error code, plus work that must happen after the reply is queued.

export interface Reply {
  value?: number;
  payload?: Uint8Array;
  /** 0 = success; a ROM error code (§1.6) in ROM mode, a stub code (0xC0…) in stub mode. */
  error?: number;
  /** Runs after the reply is queued (baud changes, jumps, streaming reads). */
  after?: () => void;
  /** No reply at all (a jump that does not return, or replies sent by `after`). */
  silent?: boolean;
}
