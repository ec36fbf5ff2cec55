// One mJS engine instance as a host sees it (the future Mongoose OS double, `agent run`):
// run scripts, call their callbacks with userdata; only mJS errors come out, as data.
import { installBuiltins } from './builtins.ts';
import { MjsThrow, MSG, type MjsErrorInfo } from './errors.ts';
import { LIBM_FFI, type FfiHostFn, type FfiTable } from './ffi.ts';
import { Interpreter } from './interpreter.ts';
import type { Program } from './ast.ts';
import { parseProgram } from './parser.ts';
import { binaryToBytes, binaryToText, bytesToBinary, textToBytes, type Value } from './values.ts';

/** Where `load(path)` reads from: a directory, a LittleFS image, the board's FS. */
export interface MjsFs {
  readFile(path: string): Uint8Array | undefined;
}

export interface MjsEngineOptions {
  /** Host functions behind `ffi('…')` names; libm (ceil, floor, …) is there unless replaced. */
  ffi?: FfiTable;
  fs?: MjsFs;
  /** One printed line: as text (UTF-8 decoded, no newline) and as the exact bytes (with it). */
  print?: (line: string, bytes: Uint8Array) => void;
  /** Statements + calls + loop turns per `run` or host `call` (a board's watchdog). */
  stepBudget?: number;
  /** Approximate bytes of strings, objects, arrays and functions one engine may hold. */
  memoryBudget?: number;
  /** Nested mJS calls. */
  stackDepth?: number;
}

export type MjsRunResult = { ok: true } | { ok: false; error: MjsErrorInfo };
export type MjsCallResult = { ok: true; value: Value } | { ok: false; error: MjsErrorInfo };

export interface MjsEngine {
  /** Runs a script (text is taken as UTF-8; bytes as they are) in the global scope. */
  run(source: string | Uint8Array, file?: string): MjsRunResult;
  /** Calls an mJS function value (a Timer/MQTT handler) as a host would. */
  call(fn: Value, args: readonly Value[], self?: Value): MjsCallResult;
  /** A global's value (undefined when missing), e.g. to find handlers a script defined. */
  getGlobal(name: string): Value;
  setGlobal(name: string, value: Value): void;
  /** Registers (or replaces) the host function behind an ffi name. */
  registerFfi(name: string, fn: FfiHostFn): void;
  /** Approximate live bytes the engine holds (after a mark pass). */
  memoryUsed(): number;
}

// Trees are immutable, so engines running the same source (a fleet of doubles running one
// agent) share one parse: most of an instance's host memory would otherwise be its AST.
const PARSE_CACHE_SIZE = 64;
const parseCache = new Map<string, { program?: Program; message?: string; line?: number }>();

function parseShared(src: string, file: string): Program {
  let hit = parseCache.get(src);
  if (!hit) {
    const r = parseProgram(src, file);
    hit = r.ok ? { program: r.program } : { message: r.error.message, line: r.error.line };
    if (parseCache.size >= PARSE_CACHE_SIZE) parseCache.delete(parseCache.keys().next().value as string);
    parseCache.set(src, hit);
  }
  if (!hit.program) throw new MjsThrow(hit.message as string, file, hit.line ?? 0);
  return hit.program;
}

export const DEFAULT_LIMITS = { stepBudget: 1_000_000, memoryBudget: 512 * 1024, stackDepth: 64 } as const;

export function createMjsEngine(opts: MjsEngineOptions = {}): MjsEngine {
  const interp = new Interpreter({
    stepBudget: opts.stepBudget ?? DEFAULT_LIMITS.stepBudget,
    memoryBudget: opts.memoryBudget ?? DEFAULT_LIMITS.memoryBudget,
    stackDepth: opts.stackDepth ?? DEFAULT_LIMITS.stackDepth,
  });
  const ffi: FfiTable = { ...LIBM_FFI, ...opts.ffi };
  const print = opts.print ?? (() => undefined);

  const runIn = (src: string, file: string): void => {
    const program = parseShared(src, file);
    interp.alloc(src.length * 2); // the code itself
    const saved = { scopes: interp.scopes, file: interp.file, self: interp.self };
    interp.scopes = [interp.global.props];
    interp.file = file;
    interp.self = undefined;
    try {
      interp.execBlock(program.body, false);
    } catch (e) {
      throw interp.stamp(e);
    } finally {
      interp.scopes = saved.scopes;
      interp.file = saved.file;
      interp.self = saved.self;
    }
  };

  installBuiltins(interp, {
    ffi,
    print: (line) => print(binaryToText(line.slice(0, -1)), binaryToBytes(line)),
    load: (path) => {
      if (interp.depth >= interp.limits.stackDepth) throw new MjsThrow(MSG.stackDepth);
      const data = opts.fs?.readFile(path);
      if (!data) throw new MjsThrow(MSG.loadFailed(path));
      interp.depth++;
      try {
        runIn(bytesToBinary(data), path);
      } finally {
        interp.depth--;
      }
    },
  });

  /** Runs fn at the outermost level: resets the step budget, turns throws into data. */
  const guarded = <T>(file: string, fn: () => T): { ok: true; value: T } | { ok: false; error: MjsErrorInfo } => {
    const outermost = interp.depth === 0 && interp.scopes.length === 1;
    if (outermost) interp.steps = 0;
    try {
      return { ok: true, value: fn() };
    } catch (e) {
      if (outermost) {
        interp.scopes = [interp.global.props];
        interp.depth = 0;
        interp.self = undefined;
      }
      if (e instanceof MjsThrow) {
        const where = e.file === '' ? { file: interp.file || file, line: interp.line } : { file: e.file, line: e.line };
        return { ok: false, error: { message: e.message, ...where} };
      }
      // A bug of the double, not of the script: reported, never thrown at the host.
      const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      return { ok: false, error: { message: `internal error: ${message}`, file, line: interp.line, internal: true } };
    }
  };

  return {
    run(source, file = '<script>') {
      const src = typeof source === 'string' ? textToBytes(source) : bytesToBinary(source);
      const r = guarded(file, () => runIn(src, file));
      return r.ok ? { ok: true } : r;
    },
    call(fn, args, self) {
      return guarded(interp.file || '<host>', () => interp.call(fn, [...args], self));
    },
    getGlobal: (name) => interp.global.props.get(name),
    setGlobal: (name, value) => void interp.global.props.set(name, value),
    registerFfi: (name, fn) => void (ffi[name] = fn),
    memoryUsed: () => interp.live(),
  };
}
