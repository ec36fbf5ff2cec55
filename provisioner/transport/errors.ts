// Transport errors: one class, stable codes (DESIGN.md "Errors").
import { EspfleetError } from '../../firmware-js/errors.ts';

export class TransportError extends EspfleetError {}

export function transportClosed(url: string): TransportError {
  return new TransportError('transport.closed', `the port ${url} is closed`, { hint: 'open it again' });
}
