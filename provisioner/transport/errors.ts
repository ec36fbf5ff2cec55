// Transport errors: one class, stable codes shared by every transport (DESIGN.md "Errors");
// the conformance suite (provisioner/test/transport-suite.ts) holds each transport to them.
import { EspfleetError } from '../../firmware-js/errors.ts';

export class TransportError extends EspfleetError {}

/** Any call after `close()` (or after the port vanished). */
export function transportClosed(url: string): TransportError {
  return new TransportError('transport.closed', `the port ${url} is closed`, { hint: 'open it again' });
}

/** Any call before the first `open()`. */
export function transportNotOpen(url: string): TransportError {
  return new TransportError('transport.not_open', `the port ${url} is not open yet`, { hint: 'call open() first' });
}

/** A second opener of a port that already has one. */
export function transportBusy(url: string, holder?: string): TransportError {
  return new TransportError('transport.busy', `${url} is in use${holder ? ` by ${holder}` : ' by another program'}`, {
    hint: 'close the other program (a serial monitor, another espfleet) and retry',
  });
}

/** The other end went away without a close from us: cable pulled, server gone. */
export function transportVanished(url: string, detail?: string): TransportError {
  return new TransportError('transport.vanished', `${url} went away${detail ? `: ${detail}` : ''}`, { hint: 'check the USB cable and the hub' });
}
