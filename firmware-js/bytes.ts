// Small helpers over Uint8Array shared by the binary formats in firmware-js.

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean)) throw new TypeError(`not a hex string: ${text.slice(0, 40)}`);
  return new Uint8Array(Buffer.from(clean, 'hex'));
}

export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Formats an address or size the way ESP tooling prints it: 0x-prefixed hex. */
export function hex32(n: number): string {
  return `0x${n.toString(16).padStart(n > 0xffff ? 8 : 4, '0')}`;
}

/** Parses "0x1000", "4096" or "4k"/"1M" style numbers given on a command line. */
export function parseNumber(text: string): number {
  const t = text.trim();
  const m = /^(0x[0-9a-f]+|\d+)([km])?$/i.exec(t);
  if (!m) throw new TypeError(`not a number: ${JSON.stringify(text)}`);
  const base = Number(m[1]);
  const unit = m[2]?.toLowerCase();
  return unit === 'k' ? base * 1024 : unit === 'm' ? base * 1024 * 1024 : base;
}
