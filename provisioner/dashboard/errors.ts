// The dashboard's errors (codes dashboard.*): bad requests, refused access, a listen address that needs a token.
import { EspfleetError } from '../../firmware-js/errors.ts';

export class DashboardError extends EspfleetError {}
