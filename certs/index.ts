// Public API of the fleet PKI (DESIGN.md "certs/"): CA hierarchy, leaf issuance,
// CSR signing, revocation and CRLs, the device-secret keystore, broker profiles.
export { CertsError } from './errors.ts';
export { initCa, openCa, openCaRecords, CA_FILES, MIN_PASSPHRASE_LENGTH, type Ca, type InitCaOptions, type CaClockOptions, type IssuingCa, type IssuingCaRecord } from './ca.ts';
export { issuingRecords, issuingFiles } from './ca.ts';
export { startRollover, rolloverStatus, retireIssuing, issuerLabelOf, type RolloverStatus, type IssuingCaStatus, type StartRolloverOptions } from './issuing-ca.ts';
export { CA_KEY_TYPES, type CaKeyType } from './keys.ts';
export {
  issueDeviceCert, issueServerCert, issueClientCert, DEFAULT_DAYS, BACKDATE_MS,
  type IssuedCertificate, type IssuedWithKey, type DeviceCertOptions, type ServerCertOptions, type ClientCertOptions,
} from './issue.ts';
export { signCsr, parseCsr, type SignCsrOptions } from './csr.ts';
export { buildPkcs12, type Pkcs12Options } from './pkcs12.ts';
export { revoke, buildCrl, listIssued, isCrlReason, CRL_FILE, type BuiltCrl, type CrlOptions, type ListedCertificate } from './revocation.ts';
export { CRL_REASONS, type CrlReason } from './extensions.ts';
export type { IssuedRecord, IssuedRole } from './issuance-index.ts';
export { assertDeviceId, clientCn, CLIENT_ROLES, type ClientRole } from './identity.ts';
export { normalizeSerialHex } from './serial.ts';
export type { DurableWriteHooks } from './durable-file.ts';
export { createKeystore, openKeystore, normalizeMac, Keystore, KEYSTORE_KINDS, type KeystoreEntry, type KeystoreKind, type KeystoreOptions, type PutRequest, type Lookup } from './keystore.ts';
export { KeystoreCopies, checkCopies, compareCopies, describeDifference, type CopyCheck, type KeyEscrow, type CopiesComparison, type CopyDifference, type KeystoreCopiesOptions } from './keystore-copies.ts';
export { readKeyFile, DEFAULT_SCRYPT, type KeystoreSecret } from './keystore-crypto.ts';
export { writeBrokerProfile, renderConf, BROKER_CIPHERS, BROKER_FILES, type BrokerProfile, type BrokerProfileOptions } from './broker-profile.ts';
export { renderAcl, DEVICE_RULES, ROLE_RULES, type AclIdentity } from './broker-acl.ts';
