// Field-command errors (a technician's input checked against the board before sending).
import { EspfleetError } from '../../firmware-js/errors.ts';

export class FieldError extends EspfleetError {}
