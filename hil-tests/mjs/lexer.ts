// Tokenizer of the mJS double (mongoose-os.md §5.3): the source is bytes, string
// literals keep their bytes ("é" is 2), and a backtick is a parse error as on a board.
import { MjsThrow, MSG } from './errors.ts';

export type TokenType = 'num' | 'str' | 'id' | 'p' | 'eof';

export interface Token {
  t: TokenType;
  /** Identifier/keyword name, punctuator, or the string literal's bytes. */
  s: string;
  n: number;
  line: number;
}

// Longest first, so `>>>=` wins over `>>`.
const PUNCT = [
  '>>>=', '===', '!==', '<<=', '>>=', '>>>', '...', '**=',
  '==', '!=', '<=', '>=', '&&', '||', '++', '--', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '<<', '>>', '=>', '**', '??', '?.',
  '{', '}', '(', ')', '[', ']', ';', ',', '.', '?', ':', '~', '!', '+', '-', '*', '/', '%', '<', '>', '=', '&', '|', '^',
];

/** Punctuators by first character, longest first. */
const PUNCT_BY_CHAR = new Map<string, string[]>();
for (const p of PUNCT) PUNCT_BY_CHAR.set(p[0] as string, [...(PUNCT_BY_CHAR.get(p[0] as string) ?? []), p]);

const isDigit = (c: number) => c >= 48 && c <= 57;
const isIdStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36;
const isHex = (c: number) => isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

export function parseError(line: number): MjsThrow {
  return new MjsThrow(MSG.parse(line), '', line);
}

/** Splits a byte-string source into tokens; throws `parse error at line N`. */
export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  const n = src.length;
  while (i < n) {
    const c = src.charCodeAt(i);
    if (c === 10) { line++; i++; continue; }
    if (c === 32 || c === 9 || c === 13 || c === 11 || c === 12) { i++; continue; }
    if (c === 47 && src.charCodeAt(i + 1) === 47) {
      while (i < n && src.charCodeAt(i) !== 10) i++;
      continue;
    }
    if (c === 47 && src.charCodeAt(i + 1) === 42) {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw parseError(line);
      for (let j = i; j < end; j++) if (src.charCodeAt(j) === 10) line++;
      i = end + 2;
      continue;
    }
    if (isIdStart(c)) {
      let j = i + 1;
      while (j < n && (isIdStart(src.charCodeAt(j)) || isDigit(src.charCodeAt(j)))) j++;
      out.push({ t: 'id', s: src.slice(i, j), n: 0, line });
      i = j;
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(src.charCodeAt(i + 1)))) {
      const [value, end] = readNumber(src, i, line);
      out.push({ t: 'num', s: '', n: value, line });
      i = end;
      continue;
    }
    if (c === 34 || c === 39) {
      const [value, end, lines] = readString(src, i, line);
      out.push({ t: 'str', s: value, n: 0, line });
      line += lines;
      i = end;
      continue;
    }
    const p = PUNCT_BY_CHAR.get(src[i] as string)?.find((q) => src.startsWith(q, i));
    if (!p) throw parseError(line); // backtick, '#', '@', non-ASCII outside strings
    out.push({ t: 'p', s: p, n: 0, line });
    i += p.length;
  }
  out.push({ t: 'eof', s: '', n: 0, line });
  return out;
}

function readNumber(src: string, start: number, line: number): [number, number] {
  let j = start;
  if (src.charCodeAt(j) === 48 && (src.charCodeAt(j + 1) | 32) === 120) {
    j += 2;
    const from = j;
    while (isHex(src.charCodeAt(j))) j++;
    if (j === from) throw parseError(line);
    return [parseInt(src.slice(from, j), 16), checkEnd(src, j, line)];
  }
  while (isDigit(src.charCodeAt(j))) j++;
  if (src.charCodeAt(j) === 46) {
    j++;
    while (isDigit(src.charCodeAt(j))) j++;
  }
  if ((src.charCodeAt(j) | 32) === 101) {
    let k = j + 1;
    if (src[k] === '+' || src[k] === '-') k++;
    if (isDigit(src.charCodeAt(k))) {
      while (isDigit(src.charCodeAt(k))) k++;
      j = k;
    }
  }
  return [Number(src.slice(start, j)), checkEnd(src, j, line)];
}

function checkEnd(src: string, j: number, line: number): number {
  const c = src.charCodeAt(j);
  if (isIdStart(c) || isDigit(c)) throw parseError(line);
  return j;
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', '0': '\0' };

function readString(src: string, start: number, line: number): [string, number, number] {
  const quote = src[start];
  let j = start + 1;
  let out = '';
  let lines = 0;
  for (;;) {
    if (j >= src.length) throw parseError(line);
    const ch = src[j] as string;
    if (ch === quote) return [out, j + 1, lines];
    if (ch === '\n') throw parseError(line + lines);
    if (ch !== '\\') {
      out += ch;
      j++;
      continue;
    }
    const e = src[j + 1];
    if (e === undefined) throw parseError(line);
    if (e === 'x' || e === 'u') {
      const len = e === 'x' ? 2 : 4;
      const hex = src.slice(j + 2, j + 2 + len);
      if (hex.length !== len || ![...hex].every((h) => isHex(h.charCodeAt(0)))) throw parseError(line);
      // [U] \u above 0xff: the double keeps the low byte, as JSON.parse does (mjs-engine.md).
      out += String.fromCharCode(parseInt(hex, 16) & 0xff);
      j += 2 + len;
      continue;
    }
    if (e === '\n') lines++;
    out += ESCAPES[e] ?? e;
    j += 2;
  }
}
