// The fleet CA on disk: a root and its issuing intermediate(s) — one, or two while a
// rollover runs (issuing-ca.ts) — keys as encrypted PKCS#8 (DESIGN.md security
// invariant 3), metadata, and the issuance index.
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
  /**
   * Every issuing CA this root has had, once the first rollover happened (issuing-ca.ts).
   * Absent: the one issuing CA of `ca init`, number 1, in intermediate.pem.
   */
  issuing?: IssuingCaRecord[];
}

/** An issuing CA as ca.json records it. */
export interface IssuingCaRecord {
  /** 1 for the CA of `ca init`, then 2, 3 … one per rollover. */
  label: number;
  /** Its subjectKeyIdentifier, hex: what a leaf's authorityKeyIdentifier and an index entry name. */
  keyIdHex: string;
  cn: string;
  createdAt: string;
  notAfter: string;
  /** active: signs new certificates; retiring: still trusted, signs only its CRL; retired: trusted no more. */
  state: 'active' | 'retiring' | 'retired';
  retiredAt?: string;
}

/** Where issuing CA `label` keeps its certificate and key: number 1 in the files `ca init` wrote. */
export function issuingFiles(label: number): { cert: string; key: string } {
  return label === 1
    ? { cert: CA_FILES.intermediateCert, key: CA_FILES.intermediateKey }
    : { cert: `intermediate-${label}.pem`, key: `intermediate-${label}.key.pem` };
}

/** One issuing CA loaded for work: the active one signs leaves; active and retiring ones sign their CRLs. */
export interface IssuingCa {
  readonly record: IssuingCaRecord;
  readonly certPem: string;
  readonly signingKey: KeyObject;
  readonly issuer: IssuerFacts;
  readonly notAfter: Date;
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
  /** The issuing CAs still trusted (active first, then retiring), each with its key. */
  readonly issuingCas: readonly IssuingCa[];
  /** The CA as it is on disk now, opened with the same passphrase (a rollover in another process). */
  reopen(): Ca;
}

export interface InitCaOptions extends CaClockOptions {
  dir: string;
  keyType?: CaKeyType;
  passphrase: string;
  subject?: { organization?: string; rootCn?: string; issuingCn?: string };
}

/** The default name of issuing CA number `label` (1 at `ca init`, 2 after the first rollover…). */
export function issuingCn(org: string, label: number): string {
  return `${org} Issuing CA ${label}`;
}

/** An issuing CA certificate under the root: `CA:TRUE, pathlen:0`, 10 years or until the root ends. */
export function buildIssuingCert(o: {
  rootKey: KeyObject;
  root: { subject: Uint8Array; keyId: Uint8Array; notAfter?: Date };
  key: KeyObject;
  cn: string;
  org: string;
  now: Date;
  random: (n: number) => Uint8Array;
}): Uint8Array {
  const spki = spkiDer(o.key);
  const tenYears = new Date(o.now.getTime() + INTERMEDIATE_DAYS * DAY_MS);
  return buildCertificate(
    {
      serial: randomSerial(o.random),
      issuer: o.root.subject,
      subject: encodeName({ o: o.org, cn: o.cn }),
      notBefore: o.now,
      notAfter: o.root.notAfter && o.root.notAfter < tenYears ? o.root.notAfter : tenYears,
      spki,
      extensions: [
        basicConstraints(true, 0),
        keyUsage([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]),
        subjectKeyIdentifier(keyIdentifier(spki)),
        authorityKeyIdentifier(o.root.keyId),
      ],
    },
    o.rootKey,
  );
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
  const interDer = buildIssuingCert({
    rootKey: root.privateKey,
    root: { subject: rootName, keyId: rootKeyId },
    key: inter.publicKey,
    cn: opts.subject?.issuingCn ?? issuingCn(org, 1),
    org,
    now,
    random,
  });
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
  const read = (name: string) => readCaFile(dir, name);
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
  const kdf = meta.keyKdf;
  const plausible = kdf?.name === 'scrypt' && /^[0-9a-f]{32}$/.test(kdf.salt) && kdf.N >= 1 << 14 && kdf.N <= 1 << 20 && kdf.r >= 1 && kdf.r <= 32 && kdf.p >= 1 && kdf.p <= 16;
  if (!plausible) {
    throw new CertsError('certs.ca.bad_format', `${metaPath} has no usable keyKdf (${JSON.stringify(kdf)})`, { hint: 'restore ca.json from backup' });
  }
  const keyPassphrase = stretchPassphrase(passphrase, kdf);
  const issuingCas = trustedIssuingRecords(dir, meta).map((record): IssuingCa => {
    const files = issuingFiles(record.label);
    const certPem = read(files.cert);
    const der = fromPem(certPem, 'CERTIFICATE', join(dir, files.cert));
    return {
      record,
      certPem,
      signingKey: decryptPrivateKeyPem(read(files.key), keyPassphrase, join(dir, files.key)),
      issuer: readIssuerFacts(der, join(dir, files.cert)),
      notAfter: new Date(new X509Certificate(der).validTo),
    };
  });
  const active = issuingCas[0]!;
  const rootCertPem = read(CA_FILES.rootCert);
  const chainPem = issuingCas.map((c) => c.certPem).join('') + rootCertPem;
  // chain.pem follows ca.json: a rollover interrupted after its commit point is finished here.
  if (read(CA_FILES.chain) !== chainPem) writeFileDurable(join(dir, CA_FILES.chain), chainPem);
  const clock = opts.clock ?? (() => new Date());
  const random = opts.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
  return {
    dir,
    keyType: meta.keyType,
    rootCertPem,
    intermediateCertPem: active.certPem,
    chainPem,
    clock,
    random,
    signingKey: active.signingKey,
    issuer: active.issuer,
    intermediateNotAfter: active.notAfter,
    index: IssuanceIndex.load(join(dir, CA_FILES.index)),
    meta,
    issuingCas,
    reopen: () => openCa(dir, passphrase, { clock, random }),
  };
}

function readCaFile(dir: string, name: string): string {
  try {
    return readFileSync(join(dir, name), 'utf8');
  } catch (e) {
    throw new CertsError('certs.ca.incomplete', `the CA in ${dir} is missing ${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      hint: 'restore the CA directory from backup',
      cause: e,
    });
  }
}

/** Every issuing CA of the CA in `dir`, as ca.json records them (the one of `ca init` when it records none). */
export function issuingRecords(dir: string, meta: CaMeta): IssuingCaRecord[] {
  if (meta.issuing && meta.issuing.length > 0) return meta.issuing;
  const certPath = join(dir, CA_FILES.intermediateCert);
  const der = fromPem(readCaFile(dir, CA_FILES.intermediateCert), 'CERTIFICATE', certPath);
  const x = new X509Certificate(der);
  return [
    {
      label: 1,
      keyIdHex: Buffer.from(readIssuerFacts(der, certPath).keyId).toString('hex'),
      cn: /CN=([^\n]+)/.exec(x.subject)?.[1] ?? '',
      createdAt: meta.createdAt,
      notAfter: new Date(x.validTo).toISOString(),
      state: 'active',
    },
  ];
}

/** The issuing CAs peers must still trust: the active one first, then any retiring one. */
function trustedIssuingRecords(dir: string, meta: CaMeta): IssuingCaRecord[] {
  const all = issuingRecords(dir, meta);
  const active = all.filter((r) => r.state === 'active');
  if (active.length !== 1) {
    throw new CertsError('certs.ca.bad_format', `${join(dir, CA_FILES.meta)} names ${active.length} active issuing CAs; exactly one must be active`, { hint: 'restore ca.json from backup' });
  }
  return [...active, ...all.filter((r) => r.state === 'retiring')];
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
