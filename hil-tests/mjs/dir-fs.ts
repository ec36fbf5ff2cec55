// A directory as the filesystem `load()` reads from (`agent run --fs DIR`); paths stay
// inside it, as on the board's LittleFS where `/` is the root of fs_0.
import { readFileSync, statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import type { MjsFs } from './engine.ts';

export function directoryFs(dir: string): MjsFs {
  const root = resolve(dir);
  return {
    readFile(path) {
      const full = resolve(root, path.replace(/^\/+/, ''));
      if (full !== root && !full.startsWith(root + sep)) return undefined;
      try {
        return statSync(full).isFile() ? new Uint8Array(readFileSync(full)) : undefined;
      } catch {
        return undefined;
      }
    },
  };
}
