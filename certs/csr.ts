// Signs a board's PKCS#10 CSR (RFC 2986) under the device profile, after checking
// its self-signature, that its CN is the device id we expect, and its key: EC P-256
// or RSA ≥ 2048. The CSR's own extension requests are ignored: the profile decides.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { Ca } from './ca.ts';
import { children, decodeOid, parseDer, type Node } from './der.ts';
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

export function parseCsr(csrPemOrDer: string | Uint8Array): ParsedCsr {
  const der = typeof csrPemOrDer === 'string' ? fromPem(csrPemOrDer, 'CERTIFICATE REQUEST', 'the CSR') : csrPemOrDer;
  try {
    const [info, alg, sig] = children(parseDer(der));
    if (!info || !alg || !sig) throw new Error('expected info, algorithm and signature');
    const [, subject, spki] = children(info);
    const [algOid] = children(alg);
    if (!subject || !spki || !algOid) throw new Error('CertificationRequestInfo lacks subject or key');
    return {
      commonNames: commonNames(subject),
      spki: spki.raw,
      publicKey: createPublicKey({ key: Buffer.from(spki.raw), format: 'der', type: 'spki' }),
      signatureOid: decodeOid(algOid.value),
      info: info.raw,
      signature: sig.value.subarray(1), // skip the unused-bits byte
    };
  } catch (e) {
    if (e instanceof CertsError && e.code !== 'certs.der.malformed') throw e;
    throw new CertsError('certs.csr.malformed', `the CSR cannot be parsed: ${(e as Error).message}`, {
      hint: 'pass a PEM "CERTIFICATE REQUEST" as made by `openssl req -new` or the agent',
      cause: e,
    });
  }
}

function commonNames(name: Node): string[] {
  const out: string[] = [];
  for (const rdn of children(name)) {
    for (const atv of children(rdn)) {
      const [type, value] = children(atv);
      if (type && value && decodeOid(type.value) === OID.commonName) out.push(new TextDecoder().decode(value.value));
    }
  }
  return out;
}

/** Throws a `certs.csr.*` error naming the reason when the CSR breaks policy. */
export function checkCsrPolicy(csr: ParsedCsr, expectCn: string): void {
  const hash = SIGNATURE_HASHES[csr.signatureOid];
  if (!hash) {
    throw new CertsError('certs.csr.unsupported_signature', `CSR signature algorithm ${csr.signatureOid} is not accepted`, {
      hint: 'sign the CSR with ECDSA or RSA PKCS#1 v1.5 over SHA-256/384/512',
    });
  }
  const ok = verify(hash, csr.info, { key: csr.publicKey, dsaEncoding: 'der' }, csr.signature);
  if (!ok) {
    throw new CertsError('certs.csr.bad_signature', 'the CSR signature does not verify with the key it contains', {
      hint: 'the CSR was altered or not signed by its own key; have the board generate it again',
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
  });
}
