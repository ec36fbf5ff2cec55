// How a command ends other than by returning: a chosen exit status after printing a result,
// or an orderly stop after Ctrl-C. Commands import these from here, not from program.ts,
// so the command modules and the program that loads them form no import cycle.
import { EspfleetError } from '../../firmware-js/errors.ts';

/** Commands that need a non-zero exit without an error (e.g. a failed check) throw this. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/**
 * A command stopped by Ctrl-C at a safe point: the message says what was interrupted and
 * the state it left, the hint what a re-run does; the exit status is 130 (128 + SIGINT).
 */
export class Interrupted extends EspfleetError {
  readonly exitCode = 130;
}
