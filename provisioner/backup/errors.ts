// Errors of `espfleet backup`: `backup.*` codes, the file in the message, what to try in the hint.
import { EspfleetError } from '../../firmware-js/errors.ts';

export class BackupError extends EspfleetError {}
