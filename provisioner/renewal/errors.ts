// Errors of the renewal service (docs/renewal.md): refusals of a board's CSR carry these
// codes back to the board on cert/issued and into the audit log.
import { EspfleetError } from '../../firmware-js/errors.ts';

export class RenewalError extends EspfleetError {}
