// Mongoose OS fw.zip bundles and their signatures (spec mongoose-os.md §1).
export type { Manifest, ManifestPart } from './manifest.ts';
export { parseManifest, validateManifest, serializeManifest } from './manifest.ts';
export type { Bundle, BundleInput } from './bundle.ts';
export { readBundle, writeBundle, partData, setBundleExtra, deviceFileName, MANIFEST_FILE_NAME, MAX_DEVICE_NAME_BYTES } from './bundle.ts';
export type { BundleExtra } from './signature-block.ts';
export { SIGNATURE_EXTRA_ID } from './signature-block.ts';
export type { SignatureVerdict, SlotVerdict } from './signature.ts';
export { signBundle, verifyBundle, SIGNATURE_SLOTS } from './signature.ts';
export type { SigningKeyPair } from './signing-keys.ts';
export { generateSigningKey, loadPrivateKey, loadPublicKey, mgosPublicKeyConfig, P256_SPKI_BASE64_PREFIX } from './signing-keys.ts';
export type { ZipEntryInfo } from './zip-format.ts';
export { readStoredZip, type StoredZipEntry } from './zip-reader.ts';
export { writeStoredZip, type ZipWriteEntry } from './zip-writer.ts';
