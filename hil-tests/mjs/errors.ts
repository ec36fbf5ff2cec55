// Errors of the mJS engine double (shared/spec/mjs-engine.md): a script error carries the
// message real mJS prints (`[v] is not defined`, `type error`, …) plus file and line.
import { EspfleetError, type ErrorDetails } from '../../firmware-js/errors.ts';

/** Where a script failed, as the host (a CLI, the Mongoose OS double) reports it. */
export interface MjsErrorInfo {
  message: string;
  file: string;
  line: number;
  /** True when the engine itself failed (a bug of the double), not the script. */
  internal?: boolean;
}

/** A script-level error: what an uncaught mJS error is inside the engine. */
export class MjsError extends EspfleetError {
  readonly file: string;
  readonly line: number;

  constructor(message: string, file: string, line: number, details?: ErrorDetails) {
    super('mjs.script.error', message, details);
    this.file = file;
    this.line = line;
  }

  info(): MjsErrorInfo {
    return { message: this.message, file: this.file, line: this.line };
  }
}

/** Thrown while evaluating; the evaluator stamps file and line on the way out. */
export class MjsThrow {
  constructor(
    readonly message: string,
    public file = '',
    public line = 0,
  ) {}
}

export function fail(message: string): never {
  throw new MjsThrow(message);
}

// Messages real mJS prints (mjs-engine.md). Those marked [U] are not measured: the
// double uses them so a script stops instead of running differently from a board.
export const MSG = {
  notDefined: (name: string) => `[${name}] is not defined`,
  typeError: 'type error',
  implicit: 'implicit type conversion is prohibited',
  useStrictEq: 'Use ===, not ==',
  parse: (line: number) => `parse error at line ${line}`,
  notImplemented: (kw: string) => `[${kw}] is not implemented`,
  nonCallable: 'calling non-callable',
  unsupported: 'unsupported object type',
  badJson: 'invalid JSON string',
  protoNotObject: (given: string) => `proto should be a object, ${given} given`,
  // [U] below: board behaviour not measured, or no board equivalent (budgets).
  stepBudget: 'step budget exhausted (a board would trip its watchdog)',
  memoryBudget: 'out of memory (memory budget of the engine exceeded)',
  stackDepth: 'stack overflow (call depth limit of the engine exceeded)',
  ffiUnresolved: (name: string) => `failed to resolve symbol "${name}"`,
  ffiBadSig: (sig: string) => `invalid ffi signature: ${sig}`,
  loadFailed: (path: string) => `failed to load ${path}`,
  notReproduced: (what: string) => `[${what}] is not reproduced by the engine double`,
} as const;

/** User errors of the hosts around the engine (`agent check`, `agent run`): missing files and the like. */
export class MjsHostError extends EspfleetError {
  constructor(code: `mjs.${string}`, message: string, details?: ErrorDetails) {
    super(code, message, details);
  }
}
