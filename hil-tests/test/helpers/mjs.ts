// Runs mJS source in a fresh engine double and renders what Cesanta's `mjs FILE` would
// show: the print output, then `MJS error: <message>` for an uncaught error.
import { createMjsEngine, type MjsEngineOptions, type MjsErrorInfo } from '../../mjs/index.ts';

export interface MjsOutcome {
  /** print output and, on an error, the `MJS error:` line — as `mjs FILE` writes stdout. */
  stdout: string;
  error: MjsErrorInfo | undefined;
}

export function runMjs(source: string | Uint8Array, opts: MjsEngineOptions = {}, file = 'snippet.js'): MjsOutcome {
  let stdout = '';
  const engine = createMjsEngine({ ...opts, print: (line) => (stdout += `${line}\n`) });
  const r = engine.run(source, file);
  if (!r.ok) stdout += `MJS error: ${r.error.message}\n`;
  return { stdout, error: r.ok ? undefined : r.error };
}

/** A filesystem of in-memory text files for `load()`. */
export function memoryFs(files: Record<string, string>): NonNullable<MjsEngineOptions['fs']> {
  return { readFile: (path) => (Object.hasOwn(files, path) ? new TextEncoder().encode(files[path]) : undefined) };
}

/** Our own api_math.js (not Cesanta's): Math over the ffi libm names the engine knows. */
export const API_MATH_JS = `let Math = {
  ceil: ffi('double ceil(double)'),
  floor: ffi('double floor(double)'),
  round: ffi('double round(double)'),
  pow: ffi('double pow(double, double)'),
  sqrt: ffi('double sqrt(double)'),
  abs: ffi('double fabs(double)')
};
`;
