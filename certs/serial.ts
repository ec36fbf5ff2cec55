// Certificate serial numbers: 16 random bytes, positive and always 16 bytes long
// (RFC 5280 §4.1.2.2 allows up to 20; CA/B asks for ≥ 64 bits of entropy).
export function randomSerial(random: (n: number) => Uint8Array): Uint8Array {
  const serial = random(16).slice(0, 16);
  // Top bit clear keeps the INTEGER positive; the next bit set keeps DER from
  // trimming a leading zero byte, so every serial is exactly 128 bits (126 random).
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  return serial;
}

export function serialToHex(serial: Uint8Array): string {
  return Buffer.from(serial).toString('hex');
}

/** Accepts 0x-prefixed, colon-separated or plain hex of any case; returns plain lowercase. */
export function normalizeSerialHex(text: string): string | undefined {
  const clean = text.trim().replace(/^0x/i, '').replace(/:/g, '').toLowerCase();
  return /^[0-9a-f]{1,40}$/.test(clean) ? clean.padStart(clean.length + (clean.length % 2), '0') : undefined;
}
