// RFC 8259 JSON parser for signed manifests and signature blocks (spec mongoose-os.md §1.2, §1.5).
// Unlike JSON.parse it refuses duplicate keys: the device's json_scanf and a host parser
// could pick different copies, so one signed manifest would mean two different updates.
import { FirmwareError } from '../errors.ts';

const MAX_DEPTH = 64;
// Sticky (`y`) so matching starts at lastIndex without copying the rest of the text.
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Parses `text`; throws FirmwareError(`code`) naming the offset of the problem. */
export function parseStrictJson(text: string, code: string, what: string): unknown {
  const parser = new Parser(text, code, what);
  parser.skipSpace();
  const value = parser.value(0);
  parser.skipSpace();
  if (parser.at < text.length) parser.fail('unexpected text after the JSON value');
  return value;
}

class Parser {
  at = 0;

  constructor(
    private readonly text: string,
    private readonly code: string,
    private readonly what: string,
  ) {}

  fail(problem: string): never {
    const near = JSON.stringify(this.text.slice(this.at, this.at + 20));
    throw new FirmwareError(this.code, `${this.what} is not valid JSON at offset ${this.at} (near ${near}): ${problem}`, {
      hint: 'rebuild the bundle; a hand-edited manifest must be strict JSON without duplicate keys',
    });
  }

  skipSpace(): void {
    for (;;) {
      const c = this.text[this.at];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.at++;
      else return;
    }
  }

  value(depth: number): unknown {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`);
    const c = this.text[this.at];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return v;
      }
    }
    return this.fail(c === undefined ? 'unexpected end' : 'expected a value');
  }

  private object(depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    this.at++;
    this.skipSpace();
    if (this.text[this.at] === '}') {
      this.at++;
      return out;
    }
    for (;;) {
      if (this.text[this.at] !== '"') this.fail('expected a member name');
      const keyAt = this.at;
      const key = this.string();
      if (seen.has(key)) {
        this.at = keyAt;
        this.fail(`duplicate key ${JSON.stringify(key)}`);
      }
      seen.add(key);
      this.skipSpace();
      if (this.text[this.at] !== ':') this.fail("expected ':'");
      this.at++;
      this.skipSpace();
      // defineProperty so a "__proto__" member stays data instead of replacing the prototype.
      Object.defineProperty(out, key, { value: this.value(depth + 1), enumerable: true, writable: true, configurable: true });
      this.skipSpace();
      const next = this.text[this.at++];
      if (next === '}') return out;
      if (next !== ',') {
        this.at--;
        this.fail("expected ',' or '}'");
      }
      this.skipSpace();
    }
  }

  private array(depth: number): unknown[] {
    const out: unknown[] = [];
    this.at++;
    this.skipSpace();
    if (this.text[this.at] === ']') {
      this.at++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.skipSpace();
      const next = this.text[this.at++];
      if (next === ']') return out;
      if (next !== ',') {
        this.at--;
        this.fail("expected ',' or ']'");
      }
      this.skipSpace();
    }
  }

  private string(): string {
    STRING.lastIndex = this.at;
    const end = STRING.exec(this.text);
    if (!end) this.fail('bad string (unescaped control character, bad escape or no closing quote)');
    const value = JSON.parse(end[0]) as string;
    // A "\ud800" escape alone is not a character; Go would decode it as U+FFFD, so refuse it.
    if (LONE_SURROGATE.test(value)) this.fail('unpaired UTF-16 surrogate escape');
    this.at += end[0].length;
    return value;
  }

  private number(): number {
    NUMBER.lastIndex = this.at;
    const m = NUMBER.exec(this.text);
    if (!m) this.fail('bad number');
    const value = Number(m[0]);
    if (!Number.isFinite(value)) this.fail('number out of range'); // Go's decoder refuses these too
    this.at += m[0].length;
    return value;
  }
}
