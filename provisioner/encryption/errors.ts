// Flash-encryption enablement errors (DESIGN.md "Errors"): stable `encryption.*` codes,
// the values found in the message, a hint. Each is raised before anything is changed.
import { EspfleetError, type ErrorDetails } from '../../firmware-js/errors.ts';

export class EncryptionError extends EspfleetError {}

export type EncryptionErrorCode =
  | 'encryption.unknown_key'
  | 'encryption.key_mismatch'
  | 'encryption.key_block_locked'
  | 'encryption.counter_locked'
  | 'encryption.unexpected_state'
  | 'encryption.unsupported_coding'
  | 'encryption.not_enabled'
  | 'encryption.needs_bundle'
  | 'encryption.escrow_failed'
  | 'encryption.not_finished';

export function encryptionError(code: EncryptionErrorCode, message: string, details: ErrorDetails = {}): EncryptionError {
  return new EncryptionError(code, message, details);
}
