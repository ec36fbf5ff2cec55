// Leaf certificates from the issuing CA: devices (clientAuth, CN = device id),
// the broker (serverAuth + SANs) and operator/renewer clients. Keys are EC P-256,
// made in memory and handed back; nothing here writes a key to disk (invariant 1).
import type { Ca } from './ca.ts';
import { buildCertificate, sha256Hex } from './certificate.ts';
import { CertsError } from './errors.ts';
import {
  authorityKeyIdentifier, basicConstraints, encodeName, extKeyUsage, ipBytes, keyIdentifier, KEY_USAGE, keyUsage, OID,
  subjectAltName, subjectKeyIdentifier,
} from './extensions.ts';
import { assertDeviceId, assertHostname, clientCn, type ClientRole } from './identity.ts';
import type { IssuedRole } from './issuance-index.ts';
import { generateLeafKeyMaterial } from './keys.ts';
import { toPem } from './pem.ts';
import { randomSerial, serialToHex } from './serial.ts';

const DAY_MS = 86_400_000;
/** Tolerates a broker or board clock a few minutes behind the CA's. */
export const BACKDATE_MS = 5 * 60_000;
export const DEFAULT_DAYS = 365;

export interface IssuedCertificate {
  certPem: string;
  /** The leaf then the issuing CA: what a client presents in its TLS handshake. */
  chainPem: string;
  serialHex: string;
  fingerprintSha256: string;
  notBefore: Date;
  notAfter: Date;
}

export interface IssuedWithKey extends IssuedCertificate {
  /** Unencrypted PKCS#8 PEM; the caller decides where it goes (for a device: only to the board). */
  privateKeyPem: string;
}

export interface ValidityOptions {
  days?: number;
  /** Start of validity; default now minus BACKDATE_MS. notAfter counts `days` from now (or from this). */
  notBefore?: Date;
}

export interface LeafRequest extends ValidityOptions {
  cn: string;
  role: IssuedRole;
  spki: Uint8Array;
  profileExtensions: Uint8Array[];
  /**
   * Runs after the certificate is built and before it is recorded in the index: a caller
   * that must never lose a certificate the index knows (the renewal journal) stores it here.
   */
  beforeRecord?: (cert: IssuedCertificate) => Promise<void>;
}

/** Signs one leaf with the CA's profile rules and records it durably in the issuance index. */
export async function issueLeaf(ca: Ca, req: LeafRequest): Promise<IssuedCertificate> {
  const days = req.days ?? DEFAULT_DAYS;
  if (!(days > 0) || days > 3650) {
    throw new CertsError('certs.issue.bad_days', `validity of ${days} days is out of range`, { hint: 'use 1 to 3650 days (fractions allowed for short-lived certificates)' });
  }
  const now = wholeSeconds(ca.clock());
  const notBefore = req.notBefore ? wholeSeconds(req.notBefore) : new Date(now.getTime() - BACKDATE_MS);
  const notAfter = wholeSeconds(new Date((req.notBefore ?? now).getTime() + days * DAY_MS));
  if (notAfter > ca.intermediateNotAfter) {
    throw new CertsError('certs.issue.beyond_ca', `a certificate until ${notAfter.toISOString()} would outlive the issuing CA (until ${ca.intermediateNotAfter.toISOString()})`, {
      hint: 'issue a shorter validity or rotate the issuing CA',
    });
  }
  const serial = randomSerial(ca.random);
  const der = buildCertificate(
    {
      serial,
      issuer: ca.issuer.subject,
      subject: encodeName({ cn: req.cn }),
      notBefore,
      notAfter,
      spki: req.spki,
      extensions: [
        ...req.profileExtensions,
        subjectKeyIdentifier(keyIdentifier(req.spki)),
        authorityKeyIdentifier(ca.issuer.keyId),
      ],
    },
    ca.signingKey,
  );
  const certPem = toPem('CERTIFICATE', der);
  const result: IssuedCertificate = {
    certPem,
    chainPem: certPem + ca.intermediateCertPem,
    serialHex: serialToHex(serial),
    fingerprintSha256: sha256Hex(der),
    notBefore,
    notAfter,
  };
  await req.beforeRecord?.(result);
  await ca.index.append({
    op: 'issue',
    serialHex: result.serialHex,
    cn: req.cn,
    role: req.role,
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    fingerprintSha256: result.fingerprintSha256,
    spkiSha256: sha256Hex(req.spki),
    issuerKeyIdHex: Buffer.from(ca.issuer.keyId).toString('hex'),
  });
  return result;
}

/** Device profile: CA:false, digitalSignature (critical), clientAuth only. */
export function deviceProfile(): Uint8Array[] {
  return [basicConstraints(false), keyUsage([KEY_USAGE.digitalSignature]), extKeyUsage([OID.clientAuth])];
}

export interface DeviceCertOptions extends ValidityOptions {
  cn: string;
}

export async function issueDeviceCert(ca: Ca, opts: DeviceCertOptions): Promise<IssuedWithKey> {
  assertDeviceId(opts.cn);
  return withNewKey((spki) => issueLeaf(ca, { ...opts, role: 'device', spki, profileExtensions: deviceProfile() }));
}

export interface ServerCertOptions extends ValidityOptions {
  dns: string[];
  ip: string[];
}

export async function issueServerCert(ca: Ca, opts: ServerCertOptions): Promise<IssuedWithKey> {
  if (opts.dns.length + opts.ip.length === 0) {
    throw new CertsError('certs.server.no_names', 'a server certificate needs at least one DNS name or IP address', {
      hint: 'pass the names clients use to reach the broker, e.g. --dns mqtt.example.com --ip 192.0.2.10',
    });
  }
  opts.dns.forEach(assertHostname);
  opts.ip.forEach(ipBytes); // validates
  const cn = opts.dns[0] ?? opts.ip[0] ?? '';
  const profile = [
    basicConstraints(false),
    keyUsage([KEY_USAGE.digitalSignature]),
    extKeyUsage([OID.serverAuth]),
    subjectAltName(opts.dns, opts.ip),
  ];
  return withNewKey((spki) => issueLeaf(ca, { ...opts, cn, role: 'server', spki, profileExtensions: profile }));
}

export interface ClientCertOptions extends ValidityOptions {
  role: ClientRole;
  name: string;
}

/** Operator and renewal-service identities: CN `operator:<name>` / `renewer:<name>`, clientAuth. */
export async function issueClientCert(ca: Ca, opts: ClientCertOptions): Promise<IssuedWithKey & { cn: string }> {
  const cn = clientCn(opts.role, opts.name);
  const issued = await withNewKey((spki) => issueLeaf(ca, { ...opts, cn, role: opts.role, spki, profileExtensions: deviceProfile() }));
  return { ...issued, cn };
}

async function withNewKey(issue: (spki: Uint8Array) => Promise<IssuedCertificate>): Promise<IssuedWithKey> {
  const key = generateLeafKeyMaterial();
  const issued = await issue(key.spki);
  return { ...issued, privateKeyPem: key.privateKeyPem };
}

function wholeSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}
