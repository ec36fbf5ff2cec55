// Signs a board's PKCS#10 CSR (RFC 2986) under the device profile, after checking
// its self-signature, that its CN is the device id we expect, and its key: EC P-256
// or RSA ≥ 2048. The CSR's own extension requests are ignored: the profile decides.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { Ca } from './ca.ts';
import { TAG, children, decodeOid, parseDer, type Node } from './der.ts';
import { CertsError } from './errors.ts';
import { OID } from './extensions.ts';
import { assertDeviceId } from './identity.ts';
import { deviceProfile, issueLeaf, type IssuedCertificate } from './issue.ts';
import { fromPem } from './pem.ts';

const SIGNATURE_HASHES: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};

export interface ParsedCsr {
  commonNames: string[];
  spki: Uint8Array;
  publicKey: KeyObject;
  signatureOid: string;
  info: Uint8Array;
  signature: Uint8Array;
}

const malformed = (why: string, cause?: unknown): CertsError =>
  new CertsError('certs.csr.malformed', `the CSR cannot be parsed: ${why}`, {
    hint: 'pass a PEM "CERTIFICATE REQUEST" as made by `openssl req -new` or the agent',
    ...(cause === undefined ? {} : { cause }),
  });

function expectTag(node: Node | undefined, tag: number, what: string): Node {
  if (!node) throw malformed(`${what} is missing`);
  if (node.tag !== tag) throw malformed(`${what} has tag 0x${node.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  return node;
}

/**
 * RFC 2986: CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm,
 * signature BIT STRING }, info ::= SEQUENCE { version INTEGER (0), subject Name,
 * subjectPKInfo, attributes [0] }. Read strictly: what the signature does not cover (the
 * algorithm identifier, the BIT STRING framing) must be exactly as specified, or a
 * mangled CSR would pass.
 */
export function parseCsr(csrPemOrDer: string | Uint8Array): ParsedCsr {
  const der = typeof csrPemOrDer === 'string' ? fromPem(csrPemOrDer, 'CERTIFICATE REQUEST', 'the CSR') : csrPemOrDer;
  try {
    const root = expectTag(parseDer(der), TAG.SEQUENCE, 'CertificationRequest');
    const parts = children(root);
    if (parts.length !== 3) throw malformed(`CertificationRequest has ${parts.length} fields, expected 3`);
    const info = expectTag(parts[0], TAG.SEQUENCE, 'CertificationRequestInfo');
    const alg = expectTag(parts[1], TAG.SEQUENCE, 'signatureAlgorithm');
    const sig = expectTag(parts[2], TAG.BIT_STRING, 'signature');
    if (sig.value.length < 2 || sig.value[0] !== 0) throw malformed('the signature BIT STRING is empty or has unused bits');

    const fields = children(info);
    if (fields.length !== 3 && fields.length !== 4) throw malformed(`CertificationRequestInfo has ${fields.length} fields, expected 4`);
    const version = expectTag(fields[0], TAG.INTEGER, 'version');
    if (version.value.length !== 1 || version.value[0] !== 0) throw malformed('version is not 0 (v1)');
    const subject = expectTag(fields[1], TAG.SEQUENCE, 'subject');
    const spki = expectTag(fields[2], TAG.SEQUENCE, 'subjectPKInfo');
    if (fields[3]) expectTag(fields[3], 0xa0, 'attributes');

    const algParts = children(alg);
    const algOid = expectTag(algParts[0], TAG.OID, 'the signature algorithm');
    if (algParts.length > 2) throw malformed(`signatureAlgorithm has ${algParts.length} fields`);
    if (algParts[1] && (algParts[1].tag !== TAG.NULL || algParts[1].value.length !== 0)) throw malformed('signatureAlgorithm parameters are not NULL');

    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: Buffer.from(spki.raw), format: 'der', type: 'spki' });
    } catch (e) {
      throw malformed(`the public key does not parse: ${(e as Error).message}`, e);
    }
    return {
      commonNames: commonNames(subject),
      spki: spki.raw,
      publicKey,
      signatureOid: decodeOid(algOid.value),
      info: info.raw,
      signature: sig.value.subarray(1), // skip the unused-bits byte
    };
  } catch (e) {
    if (e instanceof CertsError && e.code === 'certs.der.malformed') throw malformed(e.message, e);
    throw e;
  }
}

/** Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value }; CN values must be strings. */
function commonNames(name: Node): string[] {
  const out: string[] = [];
  for (const rdn of children(name)) {
    expectTag(rdn, TAG.SET, 'a subject RDN');
    for (const atv of children(rdn)) {
      expectTag(atv, TAG.SEQUENCE, 'a subject attribute');
      const pair = children(atv);
      if (pair.length !== 2) throw malformed(`a subject attribute has ${pair.length} fields, expected 2`);
      const type = expectTag(pair[0], TAG.OID, 'a subject attribute type');
      const value = pair[1] as Node;
      if (decodeOid(type.value) !== OID.commonName) continue;
      if (!STRING_TAGS.has(value.tag)) throw malformed(`the CN has tag 0x${value.tag.toString(16)}, not a string`);
      try {
        out.push(strictUtf8.decode(value.value));
      } catch (e) {
        throw malformed('the CN is not valid UTF-8', e);
      }
    }
  }
  return out;
}

/** UTF8String, PrintableString, IA5String: what openssl and the agent write for a CN. */
const STRING_TAGS = new Set<number>([TAG.UTF8_STRING, TAG.PRINTABLE_STRING, TAG.IA5_STRING]);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Throws a `certs.csr.*` error naming the reason when the CSR breaks policy. */
export function checkCsrPolicy(csr: ParsedCsr, expectCn: string): void {
  const hash = SIGNATURE_HASHES[csr.signatureOid];
  if (!hash) {
    throw new CertsError('certs.csr.unsupported_signature', `CSR signature algorithm ${csr.signatureOid} is not accepted`, {
      hint: 'sign the CSR with ECDSA or RSA PKCS#1 v1.5 over SHA-256/384/512',
    });
  }
  const type = csr.publicKey.asymmetricKeyType;
  const details = csr.publicKey.asymmetricKeyDetails ?? {};
  if (type === 'ec') {
    if (details.namedCurve !== 'prime256v1') {
      throw new CertsError('certs.csr.key_not_allowed', `CSR key is EC ${details.namedCurve ?? 'unknown curve'}; only P-256 is accepted`, {
        hint: 'ESP32 boards use EC P-256 keys; generate the key on that curve',
      });
    }
  } else if (type === 'rsa') {
    if ((details.modulusLength ?? 0) < 2048) {
      throw new CertsError('certs.csr.weak_key', `CSR key is RSA-${details.modulusLength ?? 0}; at least RSA-2048 is required`, {
        hint: 'use EC P-256 (preferred) or RSA with a 2048-bit or longer modulus',
      });
    }
  } else {
    throw new CertsError('certs.csr.key_not_allowed', `CSR key type ${type ?? 'unknown'} is not accepted`, {
      hint: 'use EC P-256 (preferred) or RSA ≥ 2048',
    });
  }
  // Verified after the key checks: verify() throws for key types it cannot use (x25519, dh).
  let ok: boolean;
  try {
    ok = verify(hash, csr.info, { key: csr.publicKey, dsaEncoding: 'der' }, csr.signature);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new CertsError('certs.csr.bad_signature', 'the CSR signature does not verify with the key it contains', {
      hint: 'the CSR was altered or not signed by its own key; have the board generate it again',
    });
  }
  if (csr.commonNames.length !== 1) {
    throw new CertsError('certs.csr.no_cn', `the CSR subject has ${csr.commonNames.length} common names; exactly one is required`, {
      hint: `set the subject to CN=${expectCn}`,
    });
  }
  if (csr.commonNames[0] !== expectCn) {
    throw new CertsError('certs.csr.cn_mismatch', `CSR CN ${JSON.stringify(csr.commonNames[0])} does not match the expected device id ${JSON.stringify(expectCn)}`, {
      hint: 'a board may only request a certificate for its own device id',
    });
  }
}

export interface SignCsrOptions {
  expectCn: string;
  days?: number;
  notBefore?: Date;
  /** See LeafRequest.beforeRecord. */
  beforeRecord?: (cert: IssuedCertificate) => Promise<void>;
}

export async function signCsr(ca: Ca, csrPem: string | Uint8Array, opts: SignCsrOptions): Promise<IssuedCertificate> {
  assertDeviceId(opts.expectCn);
  const csr = parseCsr(csrPem);
  checkCsrPolicy(csr, opts.expectCn);
  return issueLeaf(ca, {
    cn: opts.expectCn,
    role: 'device',
    spki: csr.spki,
    profileExtensions: deviceProfile(),
    ...(opts.days === undefined ? {} : { days: opts.days }),
    ...(opts.notBefore === undefined ? {} : { notBefore: opts.notBefore }),
    ...(opts.beforeRecord === undefined ? {} : { beforeRecord: opts.beforeRecord }),
  });
}
