// The one error shape every espfleet area uses (DESIGN.md "Errors"): a stable
// namespaced `code`, a message that carries the actual values, and a hint on what
// to try. Each area subclasses it once; user/device errors are these, bugs are not.

export interface ErrorDetails {
  hint?: string;
  cause?: unknown;
}

export class EspfleetError extends Error {
  readonly code: string;
  readonly hint: string | undefined;

  constructor(code: string, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = details.hint;
  }
}

/** Errors about bytes: images, partition tables, bundles, signatures, filesystems. */
export class FirmwareError extends EspfleetError {}

export function isEspfleetError(e: unknown): e is EspfleetError {
  return e instanceof EspfleetError;
}
