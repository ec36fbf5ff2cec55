// Writes a hardened mosquitto 2.0 profile from the fleet CA: one TLS listener that
// requires a fleet client certificate (TLS ≥ 1.2, ECDHE AEAD suites the ESP32's
// mbedTLS offers, spec mongoose-os.md §4.2), the CRL, and the ACL (invariant 4).
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import type { Ca } from './ca.ts';
import { renderAcl, type AclIdentity } from './broker-acl.ts';
import { writeFileDurable } from './durable-file.ts';
import { CertsError } from './errors.ts';
import { ipBytes } from './extensions.ts';
import { issueServerCert } from './issue.ts';
import { buildCrl } from './revocation.ts';

/**
 * ECDHE first, AEAD only. The ESP32 default list (mbedTLS 2.16) includes the two
 * AES-128-GCM suites; the rest serve modern clients. TLS 1.3 suites are OpenSSL's
 * defaults (all AEAD). CBC suites are left out: the boards do not need them.
 */
export const BROKER_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export const BROKER_FILES = {
  conf: 'mosquitto.conf',
  acl: 'acl',
  cafile: 'ca-chain.pem',
  certfile: 'server.pem',
  keyfile: 'server.key',
  crlfile: 'crl.pem',
} as const;

export interface BrokerProfileOptions {
  outDir: string;
  /** Name (or IP address) boards use to reach the broker; goes into the server certificate. */
  host: string;
  port?: number;
  /** Address to listen on; all interfaces when absent. */
  bindAddress?: string;
  /** Extra names for the server certificate. */
  dns?: string[];
  ip?: string[];
  crlDays?: number;
  /** `user` line: whom mosquitto runs as after starting as root (it must be able to read these files). */
  user?: string;
}

export interface BrokerProfile {
  confPath: string;
  paths: Record<keyof typeof BROKER_FILES, string>;
  serverSerialHex: string;
  /** True when the existing server certificate was kept (same CA and names, > 30 days left). */
  serverCertReused: boolean;
  identities: AclIdentity[];
  crlNumber: number;
}

export async function writeBrokerProfile(ca: Ca, opts: BrokerProfileOptions): Promise<BrokerProfile> {
  const port = opts.port ?? 8883;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new CertsError('certs.broker.bad_port', `port ${port} is not a TCP port`, { hint: 'use 1-65535; 8883 is MQTT over TLS' });
  }
  const outDir = resolve(opts.outDir);
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const paths = Object.fromEntries(Object.entries(BROKER_FILES).map(([k, f]) => [k, join(outDir, f)])) as BrokerProfile['paths'];

  const dns = [...(isIP(opts.host) ? [] : [opts.host]), ...(opts.dns ?? [])];
  const ip = [...(isIP(opts.host) ? [opts.host] : []), ...(opts.ip ?? [])];
  const kept = reusableServerCert(ca, paths, unique(dns), unique(ip));
  let serverSerialHex: string;
  if (kept) {
    serverSerialHex = kept;
  } else {
    const server = await issueServerCert(ca, { dns: unique(dns), ip: unique(ip) });
    // mosquitto cannot prompt for a passphrase when run as a service: the key is
    // stored in clear, readable by its owner only.
    writeFileDurable(paths.keyfile, server.privateKeyPem, { mode: 0o600 });
    chmodSync(paths.keyfile, 0o600);
    writeFileDurable(paths.certfile, server.chainPem);
    serverSerialHex = server.serialHex;
  }
  writeFileDurable(paths.cafile, ca.chainPem);
  writeFileDurable(paths.crlfile, buildCrl(ca, opts.crlDays === undefined ? {} : { nextUpdateDays: opts.crlDays }).crlPem);
  const identities = roleIdentities(ca);
  writeFileDurable(paths.acl, renderAcl(identities));
  const crlNumber = ca.meta.crlNumber;
  writeFileDurable(paths.conf, renderConf(paths, port, opts.bindAddress, opts.user));
  return { confPath: paths.conf, paths, serverSerialHex, serverCertReused: kept !== undefined, identities, crlNumber };
}

const RENEW_BEFORE_MS = 30 * 86_400_000;

/**
 * Re-running `broker config` (e.g. after adding an operator) keeps a server
 * certificate that is from this CA, names the same hosts, matches its key and has
 * more than 30 days left, so the broker's identity does not churn. Returns its serial.
 */
function reusableServerCert(ca: Ca, paths: BrokerProfile['paths'], dns: string[], ip: string[]): string | undefined {
  if (!existsSync(paths.certfile) || !existsSync(paths.keyfile)) return undefined;
  try {
    const cert = new X509Certificate(readFileSync(paths.certfile));
    const issuer = new X509Certificate(ca.intermediateCertPem);
    const names = [...dns.map((d) => `DNS:${d}`), ...ip.map((a) => `IP Address:${canonicalIp(a)}`)].sort();
    const has = (cert.subjectAltName ?? '').split(', ').map((n) => (n.startsWith('IP Address:') ? `IP Address:${canonicalIp(n.slice(11))}` : n)).sort();
    const fresh = Date.parse(cert.validTo) - ca.clock().getTime() > RENEW_BEFORE_MS;
    const ours = cert.checkIssued(issuer) && cert.verify(issuer.publicKey) && ca.index.get(cert.serialNumber.toLowerCase())?.status === 'valid';
    const keyMatches = cert.checkPrivateKey(createPrivateKey(readFileSync(paths.keyfile)));
    return fresh && ours && keyMatches && JSON.stringify(names) === JSON.stringify(has) ? cert.serialNumber.toLowerCase() : undefined;
  } catch {
    return undefined; // unreadable or foreign files: issue a new certificate
  }
}

function canonicalIp(a: string): string {
  return Buffer.from(ipBytes(a)).toString('hex');
}

/** Operator and renewer certificates that are neither revoked nor expired get ACL entries. */
function roleIdentities(ca: Ca): AclIdentity[] {
  const now = ca.clock().getTime();
  const seen = new Map<string, AclIdentity>();
  for (const r of ca.index.all()) {
    if ((r.role === 'operator' || r.role === 'renewer') && r.status === 'valid' && Date.parse(r.notAfter) > now) {
      seen.set(r.cn, { cn: r.cn, role: r.role });
    }
  }
  return [...seen.values()];
}

export function renderConf(paths: BrokerProfile['paths'], port: number, bindAddress?: string, user?: string): string {
  return [
    ...(user ? ['# Started as root, mosquitto switches to this user before reading the files below.', `user ${user}`] : []),
    '# Generated by `espfleet broker config` (mosquitto 2.0). See docs/pki.md.',
    '# Security settings are global: every listener must use them.',
    'per_listener_settings false',
    'allow_anonymous false',
    `acl_file ${paths.acl}`,
    '',
    '# The only listener: MQTT over TLS with a client certificate from the fleet CA.',
    '# No plain-text listener is configured, so mosquitto opens none.',
    `listener ${port}${bindAddress ? ` ${bindAddress}` : ''}`,
    'protocol mqtt',
    `cafile ${paths.cafile}`,
    `certfile ${paths.certfile}`,
    `keyfile ${paths.keyfile}`,
    `crlfile ${paths.crlfile}`,
    'require_certificate true',
    '# The certificate CN becomes the MQTT username that the ACL %u matches.',
    'use_identity_as_username true',
    '# The client id becomes that username too: one board cannot take over (and so',
    "# disconnect) another board's session by claiming its client id.",
    'use_username_as_clientid true',
    '# In mosquitto 2.0 this is the minimum version (1.6 and older: the only version).',
    'tls_version tlsv1.2',
    `ciphers ${BROKER_CIPHERS}`,
    '',
  ].join('\n');
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}
