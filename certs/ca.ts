// The fleet CA on disk: a root and one issuing intermediate, keys as encrypted
// PKCS#8 (DESIGN.md security invariant 3), metadata, and the issuance index.
import { randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCertificate, readIssuerFacts, type IssuerFacts } from './certificate.ts';
import { writeFileDurable } from './durable-file.ts';
import { CertsError } from './errors.ts';
import {
  authorityKeyIdentifier, basicConstraints, encodeName, keyIdentifier, KEY_USAGE, keyUsage, subjectKeyIdentifier,
} from './extensions.ts';
import { IssuanceIndex } from './issuance-index.ts';
import {
  CA_KEY_TYPES, decryptPrivateKeyPem, encryptedPrivateKeyPem, generateCaKey, newKeyKdf, spkiDer, stretchPassphrase, type CaKeyType, type KeyKdf,
} from './keys.ts';
import { fromPem, toPem } from './pem.ts';
import { randomSerial } from './serial.ts';

export const CA_FILES = {
  meta: 'ca.json',
  rootCert: 'root.pem',
  rootKey: 'root.key.pem',
  intermediateCert: 'intermediate.pem',
  intermediateKey: 'intermediate.key.pem',
  chain: 'chain.pem',
  index: 'issued.jsonl',
} as const;

const DAY_MS = 86_400_000;
const ROOT_DAYS = 7305; // 20 years
const INTERMEDIATE_DAYS = 3652; // 10 years: inside the root's life, rotated long before devices notice
export const MIN_PASSPHRASE_LENGTH = 8;

export interface CaClockOptions {
  /** Current time; injected so tests get exact validity dates. */
  clock?: () => Date;
  /** Random bytes for serials; injected so tests get exact serials. */
  random?: (n: number) => Uint8Array;
}

export interface CaMeta {
  format: 'espfleet-ca';
  version: 1;
  keyType: CaKeyType;
  createdAt: string;
  crlNumber: number;
  /** How the passphrase is stretched before it encrypts the CA keys. */
  keyKdf: KeyKdf;
}

export interface Ca {
  readonly dir: string;
  readonly keyType: CaKeyType;
  readonly rootCertPem: string;
  readonly intermediateCertPem: string;
  /** Intermediate then root: what a peer needs beside its own certificate. */
  readonly chainPem: string;
  readonly clock: () => Date;
  readonly random: (n: number) => Uint8Array;
  /** The issuing intermediate's signing key (decrypted, in memory only). */
  readonly signingKey: KeyObject;
  readonly issuer: IssuerFacts;
  readonly intermediateNotAfter: Date;
  readonly index: IssuanceIndex;
  meta: CaMeta;
}

export interface InitCaOptions extends CaClockOptions {
  dir: string;
  keyType?: CaKeyType;
  passphrase: string;
  subject?: { organization?: string; rootCn?: string; issuingCn?: string };
}

export async function initCa(opts: InitCaOptions): Promise<Ca> {
  const keyType = opts.keyType ?? 'ec-p256';
  if (!CA_KEY_TYPES.includes(keyType)) {
    throw new CertsError('certs.ca.bad_key_type', `unknown CA key type ${JSON.stringify(keyType)}`, {
      hint: `use one of ${CA_KEY_TYPES.join(', ')}`,
    });
  }
  if (opts.passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new CertsError('certs.ca.weak_passphrase', `the CA passphrase has ${opts.passphrase.length} characters; at least ${MIN_PASSPHRASE_LENGTH} are required`, {
      hint: 'use a long random passphrase kept in a password manager',
    });
  }
  if (existsSync(opts.dir) && readdirSync(opts.dir).length > 0) {
    throw new CertsError('certs.ca.exists', `${opts.dir} is not empty; refusing to create a CA over existing files`, {
      hint: 'choose a new directory; an existing CA is opened, never re-created',
    });
  }
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const clock = opts.clock ?? (() => new Date());
  const random = opts.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
  const now = clock();
  const org = opts.subject?.organization ?? 'espfleet';
  const [root, inter] = await Promise.all([generateCaKey(keyType), generateCaKey(keyType)]);

  const rootName = encodeName({ o: org, cn: opts.subject?.rootCn ?? `${org} Root CA` });
  const rootSpki = spkiDer(root.publicKey);
  const rootKeyId = keyIdentifier(rootSpki);
  const rootDer = buildCertificate(
    {
      serial: randomSerial(random),
      issuer: rootName,
      subject: rootName,
      notBefore: now,
      notAfter: new Date(now.getTime() + ROOT_DAYS * DAY_MS),
      spki: rootSpki,
      extensions: [basicConstraints(true, 1), keyUsage([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]), subjectKeyIdentifier(rootKeyId)],
    },
    root.privateKey,
  );
  const interSpki = spkiDer(inter.publicKey);
  const interDer = buildCertificate(
    {
      serial: randomSerial(random),
      issuer: rootName,
      subject: encodeName({ o: org, cn: opts.subject?.issuingCn ?? `${org} Issuing CA 1` }),
      notBefore: now,
      notAfter: new Date(now.getTime() + INTERMEDIATE_DAYS * DAY_MS),
      spki: interSpki,
      extensions: [
        basicConstraints(true, 0),
        keyUsage([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]),
        subjectKeyIdentifier(keyIdentifier(interSpki)),
        authorityKeyIdentifier(rootKeyId),
      ],
    },
    root.privateKey,
  );
  const rootPem = toPem('CERTIFICATE', rootDer);
  const interPem = toPem('CERTIFICATE', interDer);
  const put = (name: string, text: string, mode = 0o644) => writeFileDurable(join(opts.dir, name), text, { mode });
  const keyKdf = newKeyKdf();
  const keyPassphrase = stretchPassphrase(opts.passphrase, keyKdf);
  put(CA_FILES.rootKey, encryptedPrivateKeyPem(root.privateKey, keyPassphrase), 0o600);
  put(CA_FILES.intermediateKey, encryptedPrivateKeyPem(inter.privateKey, keyPassphrase), 0o600);
  put(CA_FILES.rootCert, rootPem);
  put(CA_FILES.intermediateCert, interPem);
  put(CA_FILES.chain, interPem + rootPem);
  const meta: CaMeta = { format: 'espfleet-ca', version: 1, keyType, createdAt: now.toISOString(), crlNumber: 0, keyKdf };
  // ca.json last: its presence marks a complete CA.
  put(CA_FILES.meta, `${JSON.stringify(meta, null, 2)}\n`);
  return openCa(opts.dir, opts.passphrase, { clock, random });
}

export function openCa(dir: string, passphrase: string, opts: CaClockOptions = {}): Ca {
  const metaPath = join(dir, CA_FILES.meta);
  if (!existsSync(metaPath)) {
    throw new CertsError('certs.ca.not_found', `no CA in ${dir} (missing ${CA_FILES.meta})`, {
      hint: 'create one with `espfleet ca init --ca-dir <dir>` or check --ca-dir',
    });
  }
  const read = (name: string) => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch (e) {
      throw new CertsError('certs.ca.incomplete', `the CA in ${dir} is missing ${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        hint: 'restore the CA directory from backup',
        cause: e,
      });
    }
  };
  let meta: CaMeta;
  try {
    meta = JSON.parse(read(CA_FILES.meta)) as CaMeta;
  } catch (e) {
    if (e instanceof CertsError) throw e;
    throw new CertsError('certs.ca.bad_format', `${metaPath} is not valid JSON`, { cause: e });
  }
  if (meta.format !== 'espfleet-ca' || meta.version !== 1) {
    throw new CertsError('certs.ca.bad_format', `${metaPath} is not an espfleet CA (format ${String(meta.format)} v${String(meta.version)})`);
  }
  const keyPath = join(dir, CA_FILES.intermediateKey);
  const kdf = meta.keyKdf;
  const plausible = kdf?.name === 'scrypt' && /^[0-9a-f]{32}$/.test(kdf.salt) && kdf.N >= 1 << 14 && kdf.N <= 1 << 20 && kdf.r >= 1 && kdf.r <= 32 && kdf.p >= 1 && kdf.p <= 16;
  if (!plausible) {
    throw new CertsError('certs.ca.bad_format', `${metaPath} has no usable keyKdf (${JSON.stringify(kdf)})`, { hint: 'restore ca.json from backup' });
  }
  const signingKey = decryptPrivateKeyPem(read(CA_FILES.intermediateKey), stretchPassphrase(passphrase, kdf), keyPath);
  const rootCertPem = read(CA_FILES.rootCert);
  const intermediateCertPem = read(CA_FILES.intermediateCert);
  const interDer = fromPem(intermediateCertPem, 'CERTIFICATE', join(dir, CA_FILES.intermediateCert));
  return {
    dir,
    keyType: meta.keyType,
    rootCertPem,
    intermediateCertPem,
    chainPem: read(CA_FILES.chain),
    clock: opts.clock ?? (() => new Date()),
    random: opts.random ?? ((n: number) => new Uint8Array(randomBytes(n))),
    signingKey,
    issuer: readIssuerFacts(interDer, join(dir, CA_FILES.intermediateCert)),
    intermediateNotAfter: new Date(new X509Certificate(interDer).validTo),
    index: IssuanceIndex.load(join(dir, CA_FILES.index)),
    meta,
  };
}

/** The CA's public side (certificates, issuance index) without the passphrase: enough to list. */
export function openCaRecords(dir: string, opts: CaClockOptions = {}): Pick<Ca, 'dir' | 'index' | 'clock'> {
  if (!existsSync(join(dir, CA_FILES.meta))) {
    throw new CertsError('certs.ca.not_found', `no CA in ${dir} (missing ${CA_FILES.meta})`, {
      hint: 'create one with `espfleet ca init --ca-dir <dir>` or check --ca-dir',
    });
  }
  return { dir, index: IssuanceIndex.load(join(dir, CA_FILES.index)), clock: opts.clock ?? (() => new Date()) };
}

/** Persists changed metadata (the CRL number) durably. */
export function saveCaMeta(ca: Ca): void {
  writeFileDurable(join(ca.dir, CA_FILES.meta), `${JSON.stringify(ca.meta, null, 2)}\n`);
}
