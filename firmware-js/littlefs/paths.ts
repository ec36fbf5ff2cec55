// Path handling for LittleFS images: '/'-separated, '.' ignored, '..' resolved
// lexically; names are stored as UTF-8 bytes (littlefs SPEC.md "0x0xx LFS_TYPE_NAME").
import { littlefsError } from './errors.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface ParsedPath {
  /** Canonical form: '/' or '/a/b'. */
  display: string;
  names: Uint8Array[];
}

export function parsePath(path: string): ParsedPath {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) throw littlefsError('not_found', `path ${JSON.stringify(path)} climbs above the root directory`, 'use a path inside the image, e.g. /conf9.json');
      parts.pop();
    } else {
      if (part.includes('\0')) throw littlefsError('not_found', `path ${JSON.stringify(path)} contains a NUL byte`);
      parts.push(part);
    }
  }
  return { display: `/${parts.join('/')}`, names: parts.map((p) => encoder.encode(p)) };
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

export function decodeName(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
