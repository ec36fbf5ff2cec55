// Minimal DER encoder and reader (X.690) for the certificates, CSRs and CRLs the
// fleet CA builds: writing TBS structures by hand keeps issuance fast (DESIGN.md
// target ≥ 1000 EC certificates/s) and the reader parses only what the CA needs.
import { CertsError } from './errors.ts';

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

/** One TLV; `parts` are concatenated as the value. */
export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  return tlvOf(tag, parts);
}

/** tlv() over an array: no spread, so a CRL with 100,000 entries does not overflow the stack. */
export function tlvOf(tag: number, parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const head = lengthBytes(size);
  const out = new Uint8Array(1 + head.length + size);
  out[0] = tag;
  out.set(head, 1);
  let at = 1 + head.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const seq = (...parts: Uint8Array[]): Uint8Array => tlvOf(TAG.SEQUENCE, parts);
export const seqOf = (parts: readonly Uint8Array[]): Uint8Array => tlvOf(TAG.SEQUENCE, parts);
export const set = (...parts: Uint8Array[]): Uint8Array => tlv(TAG.SET, ...parts);
/** Context-specific constructed tag [n] EXPLICIT. */
export const explicit = (n: number, ...parts: Uint8Array[]): Uint8Array => tlv(0xa0 | n, ...parts);
/** Context-specific primitive tag [n] IMPLICIT over a primitive value. */
export const implicit = (n: number, value: Uint8Array): Uint8Array => tlv(0x80 | n, value);
export const octetString = (v: Uint8Array): Uint8Array => tlv(TAG.OCTET_STRING, v);
export const bitString = (v: Uint8Array, unusedBits = 0): Uint8Array => tlv(TAG.BIT_STRING, Uint8Array.of(unusedBits), v);
const encoder = new TextEncoder();
export const utf8 = (s: string): Uint8Array => tlv(TAG.UTF8_STRING, encoder.encode(s));
export const ia5 = (s: string): Uint8Array => tlv(TAG.IA5_STRING, encoder.encode(s));
export const boolTrue = (): Uint8Array => tlv(TAG.BOOLEAN, Uint8Array.of(0xff));
export const nullValue = (): Uint8Array => tlv(TAG.NULL);

/** A non-negative INTEGER from big-endian magnitude bytes (leading zeros trimmed, sign byte added). */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const body = magnitude.subarray(start);
  const needsPad = body.length === 0 || (body[0] ?? 0) >= 0x80;
  return needsPad ? tlv(TAG.INTEGER, Uint8Array.of(0), body) : tlv(TAG.INTEGER, body);
}

export function smallInteger(n: number): Uint8Array {
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return unsignedInteger(Uint8Array.from(bytes.length ? bytes : [0]));
}

export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number);
  const [a = 0, b = 0, ...rest] = arcs;
  const out: number[] = [a * 40 + b];
  for (const arc of rest) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(TAG.OID, Uint8Array.from(out));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Z. */
export function time(date: Date): Uint8Array {
  const iso = date.toISOString(); // 2026-11-23T10:15:13.000Z
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '') + 'Z'; // 20261123101513Z
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(TAG.UTC_TIME, encoder.encode(digits.slice(2)));
  return tlv(TAG.GENERALIZED_TIME, encoder.encode(digits));
}

export interface Node {
  tag: number;
  /** The value bytes. */
  value: Uint8Array;
  /** The whole TLV, e.g. the exact bytes a signature covers. */
  raw: Uint8Array;
}

/**
 * Reads one TLV at `at`; throws CertsError `certs.der.malformed` on truncation and on
 * anything DER forbids that a lax BER reader would take: indefinite or non-minimal
 * lengths, and the high-tag-number form (no structure we read uses one).
 */
export function readNode(bytes: Uint8Array, at = 0): Node & { end: number } {
  const fail = (why: string): never => {
    throw new CertsError('certs.der.malformed', `malformed DER at offset ${at}: ${why}`);
  };
  if (at + 2 > bytes.length) fail('truncated header');
  const tag = bytes[at] as number;
  if ((tag & 0x1f) === 0x1f) fail(`tag 0x${tag.toString(16)} uses the high-tag-number form`);
  let len = bytes[at + 1] as number;
  let pos = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) fail('indefinite length (BER, not DER)');
    if (n > 4 || pos + n > bytes.length) fail('bad length');
    if (bytes[pos] === 0) fail('length with a leading zero byte (not minimal)');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (bytes[pos + i] as number);
    if (len < 0x80) fail(`length ${len} in long form (not minimal)`);
    pos += n;
  }
  if (pos + len > bytes.length) fail(`value of ${len} bytes runs past the end`);
  return { tag, value: bytes.subarray(pos, pos + len), raw: bytes.subarray(at, pos + len), end: pos + len };
}

/** The children of a constructed node. */
export function children(node: Node): Node[] {
  const out: Node[] = [];
  for (let at = 0; at < node.value.length; ) {
    const child = readNode(node.value, at);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** An OBJECT IDENTIFIER's value as dotted text; `certs.der.malformed` unless it is canonical X.690. */
export function decodeOid(value: Uint8Array): string {
  const fail = (why: string): never => {
    throw new CertsError('certs.der.malformed', `malformed OBJECT IDENTIFIER ${Buffer.from(value).toString('hex') || '(empty)'}: ${why}`);
  };
  if (value.length === 0) fail('empty');
  const ids: number[] = [];
  let acc = 0;
  let fresh = true;
  for (const byte of value) {
    if (fresh && byte === 0x80) fail('sub-identifier with a leading 0x80 (not minimal)');
    // Far beyond any arc we compare against; stops the sum losing precision.
    if (acc > 2 ** 45) fail('sub-identifier too large');
    acc = acc * 128 + (byte & 0x7f);
    fresh = !(byte & 0x80);
    if (fresh) {
      ids.push(acc);
      acc = 0;
    }
  }
  if (!fresh) fail('last sub-identifier is cut short');
  const first = ids[0] as number;
  const arcs = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...arcs, ...ids.slice(1)].join('.');
}

/** Parses a whole DER document that must be exactly one TLV. */
export function parseDer(bytes: Uint8Array): Node {
  const node = readNode(bytes, 0);
  if (node.end !== bytes.length) {
    throw new CertsError('certs.der.malformed', `${bytes.length - node.end} trailing bytes after the DER structure`);
  }
  return node;
}
