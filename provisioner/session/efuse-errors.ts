// eFuse errors (DESIGN.md "Errors"): stable `efuse.*` codes, the values read in the
// message, a hint. Every refusal is raised before the first PGM command.
import { EspfleetError, type ErrorDetails } from '../../firmware-js/errors.ts';

export class EfuseError extends EspfleetError {}

export type EfuseErrorCode =
  | 'efuse.unknown_field'
  | 'efuse.bad_value'
  | 'efuse.cannot_clear'
  | 'efuse.write_protected'
  | 'efuse.read_protected'
  | 'efuse.state_mismatch'
  | 'efuse.coding_conflict'
  | 'efuse.coding_error'
  | 'efuse.timeout'
  | 'efuse.verify_failed'
  | 'efuse.encryption_owned'
  | 'efuse.key_not_escrowed'
  | 'efuse.needs_plan'
  | 'efuse.bad_plan'
  | 'efuse.plan_wrong_board'
  | 'efuse.plan_stale';

export function efuseError(code: EfuseErrorCode, message: string, details: ErrorDetails = {}): EfuseError {
  return new EfuseError(code, message, details);
}

export const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;
