// The fleet area's one error class (firmware server, rollout policy and planner).
import { EspfleetError } from '../../firmware-js/errors.ts';

export class FleetError extends EspfleetError {}
