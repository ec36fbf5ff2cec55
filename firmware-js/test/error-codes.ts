// Test helpers for typed errors: which code a call throws, or assert a specific one.
import { expect } from 'vitest';
import { FirmwareError } from '../errors.ts';

/** The FirmwareError code `fn` throws, or 'no error'; any other exception propagates. */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof FirmwareError) return e.code;
    throw e;
  }
  return 'no error';
}

/** Asserts that `fn` throws a FirmwareError with `code`, and returns it for further checks. */
export function expectCode(fn: () => unknown, code: string): FirmwareError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FirmwareError);
    expect((e as FirmwareError).code).toBe(code);
    return e as FirmwareError;
  }
  throw new Error(`expected FirmwareError ${code}, nothing was thrown`);
}
