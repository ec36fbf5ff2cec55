// The host's reader of a Mongoose OS UART (spec mongoose-os.md §3.1): splits the byte stream
// into frames, log lines, empty/EOF answers, and XON/XOFF flow-control bytes (which never
// occur in JSON and are stripped wherever they fall).
import type { RpcError } from './errors.ts';
import { frameError } from './errors.ts';
import { MAX_FRAME_SIZE, XOFF, XON, parseFrameBody, type ParsedFrame } from './frame.ts';

export type UartEvent =
  | ({ kind: 'frame'; legacy: boolean; raw: string } & ParsedFrame)
  | { kind: 'log'; text: string }
  | { kind: 'empty' }
  | { kind: 'eof' }
  | { kind: 'flow'; paused: boolean }
  | { kind: 'bad'; error: RpcError; raw: string };

/** A line with no newline this long is a log line that never ended; flush it. */
const MAX_LINE = 64 * 1024;

export class UartLineDecoder {
  private line: number[] = [];

  /** Feeds received bytes; returns what they completed, in order. */
  push(bytes: Uint8Array): UartEvent[] {
    const out: UartEvent[] = [];
    for (const b of bytes) {
      if (b === XON || b === XOFF) {
        out.push({ kind: 'flow', paused: b === XOFF });
        continue;
      }
      if (b === 0x0a) {
        out.push(classify(this.line));
        this.line = [];
        continue;
      }
      this.line.push(b);
      if (this.line.length >= MAX_LINE) {
        out.push({ kind: 'log', text: Buffer.from(this.line).toString('utf8') });
        this.line = [];
      }
    }
    return out;
  }
}

function classify(bytes: number[]): UartEvent {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0d) end--;
  const latin1 = Buffer.from(bytes.slice(0, end)).toString('latin1');
  if (latin1.trim() === '') return { kind: 'empty' };
  let body = latin1;
  let legacy = false;
  if (body.startsWith('"""')) {
    legacy = true;
    body = body.slice(3);
    if (body.endsWith('"""')) body = body.slice(0, -3);
  }
  if (body === '\x04') return { kind: 'eof' };
  if (!body.startsWith('{')) return { kind: 'log', text: Buffer.from(bytes.slice(0, end)).toString('utf8') };
  if (body.length > MAX_FRAME_SIZE + 6) {
    return { kind: 'bad', raw: latin1, error: frameError('too_large', `a ${body.length}-byte frame arrived, over the ${MAX_FRAME_SIZE}-byte limit`) };
  }
  try {
    return { kind: 'frame', legacy, raw: latin1, ...parseFrameBody(body) };
  } catch (e) {
    return { kind: 'bad', raw: latin1, error: e as RpcError };
  }
}
