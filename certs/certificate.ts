// Builds and signs X.509 v3 certificates (RFC 5280 §4.1) from prepared fields, and
// reads back the few fields of a CA certificate that issuing needs.
import { createHash, type KeyObject } from 'node:crypto';
import { children, decodeOid, explicit, parseDer, seq, smallInteger, time, unsignedInteger, bitString, type Node } from './der.ts';
import { CertsError } from './errors.ts';
import { extensionsBlock, OID } from './extensions.ts';
import { signatureAlgorithm, signDer } from './keys.ts';

export interface CertificateFields {
  /** Serial number magnitude, big-endian, positive. */
  serial: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
  extensions: readonly Uint8Array[];
}

/** DER of the signed certificate. */
export function buildCertificate(fields: CertificateFields, signingKey: KeyObject): Uint8Array {
  const sigAlg = signatureAlgorithm(signingKey);
  const tbs = seq(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(fields.serial),
    sigAlg,
    fields.issuer,
    seq(time(fields.notBefore), time(fields.notAfter)),
    fields.subject,
    fields.spki,
    extensionsBlock(3, fields.extensions),
  );
  return seq(tbs, sigAlg, bitString(signDer(signingKey, tbs)));
}

export function sha256Hex(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** What issuing needs from the issuer's certificate: its exact subject bytes and key identifier. */
export interface IssuerFacts {
  subject: Uint8Array;
  keyId: Uint8Array;
  spki: Uint8Array;
}

export function readIssuerFacts(certDer: Uint8Array, where: string): IssuerFacts {
  try {
    const [tbs] = children(parseDer(certDer));
    if (!tbs) throw new Error('no TBSCertificate');
    const fields = children(tbs);
    // version [0] is optional; skip it when present.
    const rest = fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
    const [, , , , subject, spki, ...tail] = rest;
    if (!subject || !spki) throw new Error('missing subject or public key');
    const exts = tail.find((n) => n.tag === 0xa3);
    const keyId = exts ? findSubjectKeyId(exts) : undefined;
    if (!keyId) throw new Error('no subject key identifier extension');
    return { subject: subject.raw.slice(), keyId, spki: spki.raw.slice() };
  } catch (e) {
    if (e instanceof CertsError) throw e;
    throw new CertsError('certs.ca.bad_certificate', `cannot use the CA certificate ${where}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

function findSubjectKeyId(block: Node): Uint8Array | undefined {
  const [list] = children(block);
  for (const ext of list ? children(list) : []) {
    const parts = children(ext);
    const id = parts[0];
    const value = parts[parts.length - 1];
    if (id && value && decodeOid(id.value) === OID.subjectKeyIdentifier) {
      return parseDer(value.value).value.slice();
    }
  }
  return undefined;
}
