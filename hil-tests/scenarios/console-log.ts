// A board's console as a test reads it (the DUT primitive of pytest-embedded, STYLE.md):
// everything the board prints is appended to a transcript file, and `expect(pattern)` waits
// for the next match after the last one, failing with the pattern, the tail of what came
// and where the whole transcript is.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export class ExpectTimeout extends Error {
  readonly code = 'hil.expect.timeout';
  constructor(
    readonly pattern: RegExp | string,
    readonly tail: string,
    readonly logPath: string,
    timeoutMs: number,
  ) {
    super(
      `no ${String(pattern)} on the console within ${timeoutMs} ms\n--- last ${tail.length} characters ---\n${tail}\n--- whole transcript: ${logPath}`,
    );
    this.name = 'ExpectTimeout';
  }
  readonly hint = 'read the transcript: did the board boot, connect, print something else?';
}

/** Control bytes other than CR, LF and TAB are shown as `.` (ROM SLIP frames, RPC noise). */
function printable(text: string): string {
  return text.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/g, '.');
}

export class ConsoleLog {
  private text = '';
  /** Where the next `expect` starts looking: just after the previous match. */
  private cursor = 0;
  private waiters = new Set<() => void>();
  private decoder = new TextDecoder('utf-8', { fatal: false });

  constructor(
    readonly logPath: string,
    private readonly tailChars = 2000,
  ) {
    mkdirSync(dirname(logPath), { recursive: true });
    writeFileSync(logPath, '');
  }

  /** Bytes from the board's UART, as they come. */
  feed(bytes: Uint8Array): void {
    this.append(this.decoder.decode(bytes, { stream: true }));
  }

  /** A line the rig itself writes into the transcript (step titles, resets), marked `##`. */
  note(line: string): void {
    appendFileSync(this.logPath, `\n## ${line}\n`);
  }

  /** Everything seen so far (since the rig started). */
  all(): string {
    return this.text;
  }

  /** What has come since the last match. */
  pending(): string {
    return this.text.slice(this.cursor);
  }

  /** Forgets what came so far: the next `expect` only sees new output. */
  skipPending(): void {
    this.cursor = this.text.length;
  }

  async expect(pattern: RegExp | string, timeoutMs: number): Promise<RegExpExecArray> {
    const re = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : new RegExp(pattern.source, pattern.flags.replace('g', ''));
    const found = (): RegExpExecArray | null => re.exec(this.text.slice(this.cursor));
    let m = found();
    if (!m) {
      m = await new Promise<RegExpExecArray | null>((resolve) => {
        const check = () => {
          const hit = found();
          if (!hit) return;
          done(hit);
        };
        const timer = setTimeout(() => done(null), timeoutMs);
        const done = (hit: RegExpExecArray | null) => {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(hit);
        };
        this.waiters.add(check);
      });
    }
    if (!m) throw new ExpectTimeout(pattern, printable(this.text.slice(-this.tailChars)), this.logPath, timeoutMs);
    this.cursor += m.index + m[0].length;
    return m;
  }

  private append(chunk: string): void {
    if (!chunk) return;
    this.text += chunk;
    appendFileSync(this.logPath, printable(chunk));
    for (const w of [...this.waiters]) w();
  }
}
