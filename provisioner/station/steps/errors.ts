// Station (factory pipeline) errors (DESIGN.md "Errors"): stable `station.*` codes, the
// values found in the message, a hint. Raised before the board is changed unless noted.
import { EspfleetError } from '../../../firmware-js/errors.ts';

export class StationError extends EspfleetError {}
