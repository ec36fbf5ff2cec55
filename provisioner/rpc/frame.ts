// Mongoose OS RPC frames as typed values with pure encode/decode (spec mongoose-os.md §3.1
// framing, §3.2 fields): one JSON object per line, an optional CRC-32 trailer, the legacy
// `"""` delimiters, pure-ASCII JSON, the 4 KiB frame limit.
import { crc32 } from '../../firmware-js/crc.ts';
import { frameError } from './errors.ts';

/** rpc.max_frame_size default; frames (JSON + trailer) must not exceed it (§3.1). */
export const MAX_FRAME_SIZE = 4096;
/** What mos sends before the first write: `"""` EOF `"""` and two newlines (§3.1). */
export const EOF_HANDSHAKE = Uint8Array.from([0x22, 0x22, 0x22, 0x04, 0x22, 0x22, 0x22, 0x0a, 0x0a]);
export const XON = 0x11;
export const XOFF = 0x13;

export type RpcId = number | string;

export interface RpcErrorObject {
  code: number;
  message: string;
}

/** Every field a frame may carry (§3.2); requests have `method`, responses `result` or `error`. */
export interface RpcFrame {
  id?: RpcId;
  src?: string;
  dst?: string;
  tag?: string;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: RpcErrorObject;
  [extra: string]: unknown;
}

export interface EncodeOptions {
  /** Append the CRC-32 trailer (8 lowercase hex digits) after the closing `}`. */
  crc: boolean;
  /** Wrap in the legacy `"""` delimiters (mos always does; the device in compat mode). */
  legacy: boolean;
  /** Frame limit for JSON + trailer; defaults to 4096. */
  maxFrameSize?: number;
}

/** JSON with every non-ASCII character escaped as \uXXXX: the device drops any byte ≥ 0x80 (§3.1). */
export function asciiJson(value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw frameError('bad_field', 'a frame must be a JSON object');
  // U+007F is ASCII and allowed; surrogate pairs come out as two \u escapes, as JSON wants.
  return json.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function crcHex(json: string): string {
  return crc32(new TextEncoder().encode(json)).toString(16).padStart(8, '0');
}

/** `\n` [`"""`] JSON [crc] [`"""`] `\n` — the device's send format; mos's is the same with both options on. */
export function encodeFrame(frame: RpcFrame, opts: EncodeOptions): Uint8Array {
  const json = asciiJson(frame);
  const body = opts.crc ? json + crcHex(json) : json;
  const limit = opts.maxFrameSize ?? MAX_FRAME_SIZE;
  if (body.length > limit) {
    throw frameError('too_large', `the frame for ${frame.method ?? 'a reply'} is ${body.length} bytes, over the ${limit}-byte frame limit`, 'send less per call (smaller chunks)');
  }
  const q = opts.legacy ? '"""' : '';
  return new TextEncoder().encode(`\n${q}${body}${q}\n`);
}

export interface ParsedFrame {
  frame: RpcFrame;
  /** Whether a CRC trailer was present (and matched). */
  crc: boolean;
  /** Metadata fields after the CRC, if any. */
  meta: string[];
}

/**
 * One frame body: JSON object, then optional comma-separated metadata whose first field is the
 * CRC (checked only when ≥ 8 metadata characters follow the `}`, as the device does).
 */
export function parseFrameBody(body: string): ParsedFrame {
  for (let i = 0; i < body.length; i++) {
    if (body.charCodeAt(i) >= 0x80) throw frameError('non_ascii', `byte 0x${body.charCodeAt(i).toString(16)} at ${i} in a frame (frames are pure ASCII)`);
  }
  const end = body.lastIndexOf('}');
  if (!body.startsWith('{') || end < 0) throw frameError('bad_json', `not a JSON object: ${preview(body)}`);
  const json = body.slice(0, end + 1);
  const trailer = body.slice(end + 1);
  let crc = false;
  let meta: string[] = [];
  if (trailer.length > 0) {
    meta = trailer.split(',');
    if (trailer.length >= 8) {
      const want = (meta[0] ?? '').toLowerCase();
      if (!/^[0-9a-f]{8}$/.test(want) || want !== crcHex(json)) {
        throw frameError('bad_crc', `frame CRC ${meta[0]} does not match ${crcHex(json)} for ${preview(json)}`, 'the line is noisy: check the cable and the baud rate');
      }
      crc = true;
      meta = meta.slice(1);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw frameError('bad_json', `not valid JSON: ${preview(json)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw frameError('not_object', `a frame must be a JSON object, got ${preview(json)}`);
  return { frame: checkFields(value as Record<string, unknown>), crc, meta };
}

function checkFields(v: Record<string, unknown>): RpcFrame {
  const id = v.id;
  if (id !== undefined && typeof id !== 'number' && typeof id !== 'string') throw frameError('bad_field', `id must be a number or a string, got ${JSON.stringify(id)}`);
  if (typeof id === 'number' && (!Number.isSafeInteger(id) || id < 0)) throw frameError('bad_field', `id ${id} is not a non-negative integer below 2^53`);
  for (const k of ['src', 'dst', 'tag', 'method'] as const) {
    if (v[k] !== undefined && typeof v[k] !== 'string') throw frameError('bad_field', `${k} must be a string, got ${JSON.stringify(v[k])}`);
  }
  const e = v.error;
  if (e !== undefined) {
    const ok = typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number';
    if (!ok) throw frameError('bad_field', `error must be {code, message}, got ${JSON.stringify(e)}`);
    const m = (e as { message?: unknown }).message;
    if (m !== undefined && typeof m !== 'string') throw frameError('bad_field', `error.message must be a string, got ${JSON.stringify(m)}`);
  }
  const frame = { ...v } as RpcFrame;
  // `args` is the deprecated synonym of `params` (§3.2).
  if (frame.params === undefined && v.args !== undefined) frame.params = v.args;
  if (e !== undefined) frame.error = { code: (e as RpcErrorObject).code, message: (e as { message?: string }).message ?? '' };
  return frame;
}

/** A request without `id` is a notification: no reply is sent (§3.2). */
export function isNotification(frame: RpcFrame): boolean {
  return frame.method !== undefined && frame.id === undefined;
}

/** The device echoes digit-only ids as numbers, so ids are compared by their digits (§3.2). */
export function sameId(a: RpcId | undefined, b: RpcId | undefined): boolean {
  return a !== undefined && b !== undefined && String(a) === String(b);
}

function preview(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s);
}
