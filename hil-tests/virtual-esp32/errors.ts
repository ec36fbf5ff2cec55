// The error type of the hardware-in-the-loop rig and the virtual ESP32 (docs/development.md
// "Errors"): stable `sim.*` codes, actual values in the message, a hint where one helps.
import { EspfleetError, type ErrorDetails } from '../../firmware-js/errors.ts';

export class SimError extends EspfleetError {
  constructor(code: `sim.${string}`, message: string, details?: ErrorDetails) {
    super(code, message, details);
  }
}
