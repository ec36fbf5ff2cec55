// The typed errors of the LittleFS modules (codes firmware.littlefs.*), so callers
// and the CLI can tell a full image from a missing path or a damaged one.
import { FirmwareError } from '../errors.ts';

export type LittlefsErrorKind =
  | 'no_space'
  | 'name_too_long'
  | 'not_found'
  | 'exists'
  | 'not_empty'
  | 'corrupt'
  | 'not_littlefs'
  | 'unsupported_version'
  | 'is_dir'
  | 'not_dir'
  | 'bad_geometry';

export function littlefsError(kind: LittlefsErrorKind, message: string, hint?: string): FirmwareError {
  return new FirmwareError(`firmware.littlefs.${kind}`, message, hint === undefined ? {} : { hint });
}

export function corrupt(message: string): FirmwareError {
  return littlefsError('corrupt', `LittleFS image is corrupt: ${message}`, 'the image is damaged or was cut short; rebuild it or read it back from the board again');
}
