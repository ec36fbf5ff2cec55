// Public entry of the mJS engine double (shared/spec/mjs-engine.md): run the agent's
// scripts as a board's mJS would, and check them for what only a board would reveal.
export { createMjsEngine, DEFAULT_LIMITS, type MjsEngine, type MjsEngineOptions, type MjsFs, type MjsRunResult, type MjsCallResult } from './engine.ts';
export { MjsError, MjsHostError, type MjsErrorInfo } from './errors.ts';
export { LIBM_FFI, parseSignature, type FfiHostFn, type FfiTable, type FfiSignature } from './ffi.ts';
export { parseProgram, type ParseResult } from './parser.ts';
export { checkSource, type Finding, type FindingRule } from './checker.ts';
export { formatNumber } from './number-format.ts';
export { MjsArray, MjsForeign, MjsFunction, MjsObject, typeOf, type Value } from './values.ts';
export { directoryFs } from './dir-fs.ts';
