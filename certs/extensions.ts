// X.509 v3 extensions and names (RFC 5280 §4.1.2.4, §4.2) as the fleet profiles use
// them: basic constraints, key usage, EKU, SKI/AKI, SANs, CRL number and reason.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { bitString, boolTrue, children, explicit, implicit, octetString, oid, parseDer, seq, set, smallInteger, tlv, utf8 } from './der.ts';
import { CertsError } from './errors.ts';

export const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  crlNumber: '2.5.29.20',
  crlReason: '2.5.29.21',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** A distinguished name of CN and optional O, as UTF8String (RFC 5280 §4.1.2.6). */
export function encodeName(name: { cn: string; o?: string }): Uint8Array {
  const rdns = [];
  if (name.o) rdns.push(set(seq(oid(OID.organization), utf8(name.o))));
  rdns.push(set(seq(oid(OID.commonName), utf8(name.cn))));
  return seq(...rdns);
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? seq(oid(id), boolTrue(), octetString(value)) : seq(oid(id), octetString(value));
}

export function basicConstraints(ca: boolean, pathLen?: number): Uint8Array {
  // cA defaults to FALSE, and DER omits defaults: an end entity gets an empty SEQUENCE.
  const body = ca ? seq(boolTrue(), ...(pathLen === undefined ? [] : [smallInteger(pathLen)])) : seq();
  return extension(OID.basicConstraints, true, body);
}

export const KEY_USAGE = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

export function keyUsage(bits: readonly number[]): Uint8Array {
  let mask = 0;
  for (const b of bits) mask |= 0x80 >> b;
  // DER BIT STRING: drop trailing zero bits and say how many were dropped.
  let unused = 0;
  while (unused < 7 && !(mask & (1 << unused))) unused++;
  return extension(OID.keyUsage, true, bitString(Uint8Array.of(mask), unused));
}

export function extKeyUsage(purposes: readonly string[]): Uint8Array {
  return extension(OID.extKeyUsage, false, seq(...purposes.map((p) => oid(p))));
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 over the subjectPublicKey bits of an SPKI. */
export function keyIdentifier(spki: Uint8Array): Uint8Array {
  const [, bits] = children(parseDer(spki));
  if (!bits) throw new CertsError('certs.der.malformed', 'SubjectPublicKeyInfo without a key');
  return new Uint8Array(createHash('sha1').update(bits.value.subarray(1)).digest());
}

export function subjectKeyIdentifier(keyId: Uint8Array): Uint8Array {
  return extension(OID.subjectKeyIdentifier, false, octetString(keyId));
}

export function authorityKeyIdentifier(keyId: Uint8Array): Uint8Array {
  return extension(OID.authorityKeyIdentifier, false, seq(implicit(0, keyId)));
}

export function subjectAltName(dns: readonly string[], ips: readonly string[]): Uint8Array {
  const names = [
    ...dns.map((d) => implicit(2, new TextEncoder().encode(d))),
    ...ips.map((ip) => implicit(7, ipBytes(ip))),
  ];
  return extension(OID.subjectAltName, false, seq(...names));
}

export function ipBytes(ip: string): Uint8Array {
  const family = isIP(ip);
  if (family === 4) return Uint8Array.from(ip.split('.').map(Number));
  if (family === 6) {
    const [head = '', tail = ''] = ip.includes('::') ? ip.split('::') : [ip, ''];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
    const out = new Uint8Array(16);
    groups.forEach((g, i) => {
      const v = parseInt(g, 16);
      out[2 * i] = v >> 8;
      out[2 * i + 1] = v & 0xff;
    });
    return out;
  }
  throw new CertsError('certs.server.bad_ip', `not an IPv4 or IPv6 address: ${JSON.stringify(ip)}`, {
    hint: 'give addresses like 192.0.2.10 or 2001:db8::1 (IPv4-mapped forms are not accepted)',
  });
}

export function crlNumber(n: number): Uint8Array {
  return extension(OID.crlNumber, false, smallInteger(n));
}

export const CRL_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
} as const;
export type CrlReason = keyof typeof CRL_REASONS;

export function crlReason(reason: CrlReason): Uint8Array {
  return extension(OID.crlReason, false, tlv(0x0a, Uint8Array.of(CRL_REASONS[reason])));
}

/** The [3]/[0] EXPLICIT wrapper around a list of extensions. */
export function extensionsBlock(tagNumber: number, exts: readonly Uint8Array[]): Uint8Array {
  return explicit(tagNumber, seq(...exts));
}
