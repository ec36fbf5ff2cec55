// Argument parsers shared by commands; they turn bad values into commander's
// usage errors so the user sees one line naming the option.
import { InvalidArgumentError } from 'commander';
import { parseNumber } from '../../firmware-js/bytes.ts';
import { EspfleetError } from '../../firmware-js/errors.ts';
import { parseDuration } from '../renewal/rate-limit.ts';

/** A bad combination of arguments found after parsing (one line, exit 1). */
export class UsageError extends EspfleetError {}

export function numberArg(text: string): number {
  try {
    return parseNumber(text);
  } catch {
    throw new InvalidArgumentError(`expected a number such as 4096, 0x1000 or 256k, got ${JSON.stringify(text)}`);
  }
}

export function intArg(min: number, max: number) {
  return (text: string): number => {
    const n = numberArg(text);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
    }
    return n;
  };
}

/** For options that may be given several times: `--pubkey a --pubkey b`. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** "45s", "90m", "12h", "30d" → milliseconds, as a usage error naming the option when bad. */
export function durationArg(text: string): number {
  try {
    return parseDuration(text);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}
