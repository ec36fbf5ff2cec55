// The PKI's one error type (docs/development.md "Errors"): CA, certificates, CSRs,
// revocation, keystore and broker profiles all throw this with a `certs.*` code.
import { EspfleetError } from '../firmware-js/errors.ts';

export class CertsError extends EspfleetError {}
