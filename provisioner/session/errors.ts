// Board-session errors (DESIGN.md "Errors"): one class, stable `session.*` codes, the
// actual values in the message and a hint on what to try.
import { EspfleetError, type ErrorDetails } from '../../firmware-js/errors.ts';

export class SessionError extends EspfleetError {}

export type SessionErrorCode =
  | 'session.no_response'
  | 'session.wrong_chip'
  | 'session.port_busy'
  | 'session.port_not_found'
  | 'session.port_vanished'
  | 'session.verify_failed'
  | 'session.command_failed'
  | 'session.bad_region'
  | 'session.needs_stub'
  | 'session.closed';

export function sessionError(code: SessionErrorCode, message: string, details: ErrorDetails = {}): SessionError {
  return new SessionError(code, message, details);
}

export function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}
