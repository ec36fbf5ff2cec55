// Mongoose OS fw.zip bundles: read with the device's rules and check every part against its
// manifest digests; write as mos does (spec mongoose-os.md §1.1–§1.3).
import { createHash } from 'node:crypto';
import { equalBytes } from '../bytes.ts';
import { FirmwareError } from '../errors.ts';
import { encodeGoJson } from './go-json.ts';
import { parseManifest, serializeManifest, validateManifest, type Manifest, type ManifestPart } from './manifest.ts';
import { encodeExtraField, encodeSignatureBlock, readSignatureBlock, withSignatureBlock, SIGNATURE_EXTRA_ID, type BundleExtra } from './signature-block.ts';
import { parseStrictJson } from './strict-json.ts';
import type { ZipEntryInfo } from './zip-format.ts';
import { readStoredZip } from './zip-reader.ts';
import { writeStoredZip, type ZipWriteEntry } from './zip-writer.ts';

export const MANIFEST_FILE_NAME = 'manifest.json';
/** The device copies names into `char name[50]` with a NUL: 49 bytes at most. */
export const MAX_DEVICE_NAME_BYTES = 49;

export interface Bundle {
  manifest: Manifest;
  /** The exact stored manifest.json bytes: what signatures cover. */
  manifestBytes: Uint8Array;
  /** Entry data by device file name (stored name with everything up to the first '/' removed). */
  files: Map<string, Uint8Array>;
  /** The parsed 0x293A signature block of manifest.json: sig0…sig7 and extra attributes. */
  extra: BundleExtra;
  entries: ZipEntryInfo[];
}

export interface BundleInput {
  manifest: Manifest;
  /** Part data keyed by the part's `src`. */
  files: ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>>;
  extra?: BundleExtra;
}

/** The name the device uses: it strips one directory level, through the first '/'. */
export function deviceFileName(storedName: string): string {
  const slash = storedName.indexOf('/');
  return slash < 0 ? storedName : storedName.slice(slash + 1);
}

/** Reads and checks a bundle; throws FirmwareError naming the entry or part at fault. */
export function readBundle(zip: Uint8Array): Bundle {
  const stored = readStoredZip(zip);
  const files = new Map<string, Uint8Array>();
  for (const [index, { info, data }] of stored.entries()) {
    const name = deviceFileName(info.name);
    checkDeviceName(name, info.name);
    if (index === 0) {
      if (name !== MANIFEST_FILE_NAME) {
        throw new FirmwareError('firmware.bundle.manifest_not_first', `the first entry is ${JSON.stringify(info.name)}; the device needs ${MANIFEST_FILE_NAME} first`, {
          hint: 'rebuild it with espfleet or `mos create-fw-bundle`, which write the manifest first',
        });
      }
      continue;
    }
    if (name === '') continue; // a directory entry; the device skips it like any unknown file
    if (name === MANIFEST_FILE_NAME || files.has(name)) {
      throw new FirmwareError('firmware.bundle.duplicate_file', `entry ${JSON.stringify(info.name)} repeats the device file name ${JSON.stringify(name)}`, {
        hint: 'two entries would compete for one name on the device; keep one',
      });
    }
    files.set(name, data.slice());
  }
  const first = stored[0];
  if (first === undefined) throw new FirmwareError('firmware.zip.empty', 'the archive has no entries');
  const manifestBytes = first.data.slice();
  const manifest = parseManifest(manifestBytes);
  const extra = readSignatureBlock(first.info.extra);
  checkPartFiles(manifest, files);
  // Copies throughout, so the Bundle does not change if the caller reuses the zip buffer.
  return { manifest, manifestBytes, files, extra, entries: stored.map((e) => ({ ...e.info, extra: e.info.extra.slice() })) };
}

/**
 * Writes a bundle: recomputes `size`, `cs_sha1`, `cs_sha256` of every part with a `src`
 * (stored under its base name), then manifest.json first and the part files in name order.
 */
export function writeBundle(input: BundleInput): Uint8Array {
  const fileMap: ReadonlyMap<string, Uint8Array> = input.files instanceof Map ? input.files : new Map(Object.entries(input.files));
  // A JSON round trip gives a private copy and drops `undefined` members before checking.
  const manifest = validateManifest(parseStrictJson(encodeGoJson(input.manifest), 'firmware.manifest.bad_json', 'the manifest'));
  const stored = new Map<string, Uint8Array>();
  const used = new Set<string>();
  for (const [partName, part] of Object.entries(manifest.parts)) {
    if (part.src === undefined) continue;
    const data = fileMap.get(part.src);
    if (data === undefined) {
      throw new FirmwareError('firmware.bundle.missing_file', `part ${JSON.stringify(partName)} has src ${JSON.stringify(part.src)} but no such file was given`, {
        hint: `pass its bytes in files under the key ${JSON.stringify(part.src)}`,
      });
    }
    used.add(part.src);
    const base = part.src.slice(part.src.lastIndexOf('/') + 1); // mos stores base names (§1.3)
    checkDeviceName(base, part.src);
    if (base === '' || base === MANIFEST_FILE_NAME) {
      throw new FirmwareError('firmware.bundle.bad_src', `part ${JSON.stringify(partName)} has src ${JSON.stringify(part.src)}, which cannot name a part file`);
    }
    const previous = stored.get(base);
    if (previous !== undefined && !equalBytes(previous, data)) {
      throw new FirmwareError('firmware.bundle.duplicate_file', `two different files would be stored as ${JSON.stringify(base)} (part ${JSON.stringify(partName)})`, {
        hint: 'give the files distinct base names',
      });
    }
    stored.set(base, data);
    Object.assign(part, { src: base, size: data.length, cs_sha1: digest('sha1', data), cs_sha256: digest('sha256', data) });
  }
  const unused = [...fileMap.keys()].filter((k) => !used.has(k));
  if (unused.length > 0) {
    throw new FirmwareError('firmware.bundle.unused_file', `no part has src ${unused.map((k) => JSON.stringify(k)).join(', ')}`, {
      hint: 'a file outside every part is not covered by the manifest digests or the signature; add a part for it or leave it out',
    });
  }
  const entries: ZipWriteEntry[] = [
    { name: MANIFEST_FILE_NAME, data: serializeManifest(manifest), extra: signatureExtra(input.extra ?? {}) },
    ...[...stored.keys()].sort().map((name) => ({ name, data: stored.get(name) ?? new Uint8Array(0) })),
  ];
  return writeStoredZip(entries);
}

/** A part's bytes: its file, or `size` bytes of `fill`. */
export function partData(bundle: Pick<Bundle, 'manifest' | 'files'>, partName: string): Uint8Array {
  const part = Object.hasOwn(bundle.manifest.parts, partName) ? bundle.manifest.parts[partName] : undefined;
  if (part === undefined) {
    throw new FirmwareError('firmware.bundle.no_such_part', `the bundle has no part ${JSON.stringify(partName)}; it has ${Object.keys(bundle.manifest.parts).join(', ') || 'none'}`);
  }
  if (part.src !== undefined) {
    const data = bundle.files.get(part.src);
    if (data === undefined) throw missingFile(partName, part);
    return data;
  }
  if (part.fill !== undefined && part.size !== undefined) return new Uint8Array(part.size).fill(part.fill);
  throw new FirmwareError('firmware.bundle.no_part_data', `part ${JSON.stringify(partName)} has neither "src" nor "fill" with "size"`, {
    hint: 'such a part only describes a region; nothing is written for it',
  });
}

/** Rewrites the manifest entry's signature block, keeping every entry's bytes and order. */
export function setBundleExtra(zip: Uint8Array, extra: BundleExtra): Uint8Array {
  const stored = readStoredZip(zip);
  return writeStoredZip(
    stored.map(({ info, data }, index) => ({
      name: info.name,
      data,
      extra: index === 0 ? withSignatureBlock(info.extra, extra) : info.extra,
      dosTime: info.dosTime,
      dosDate: info.dosDate,
    })),
  );
}

/**
 * Every file part must match its manifest size and digests: the signature reaches the data
 * only through them. Which digest current device code checks is unconfirmed (§1.2: the 2018
 * updater used cs_sha1, ota-common 1.3.0 "size and checksums"), so we check every digest
 * present, insist on at least one, and writeBundle always emits size and both.
 */
function checkPartFiles(manifest: Manifest, files: ReadonlyMap<string, Uint8Array>): void {
  for (const [partName, part] of Object.entries(manifest.parts)) {
    if (part.src === undefined) continue;
    const data = files.get(part.src);
    if (data === undefined) throw missingFile(partName, part);
    if (part.size !== undefined && part.size !== data.length) {
      throw new FirmwareError('firmware.bundle.size_mismatch', `part ${JSON.stringify(partName)}: the manifest says size ${part.size}, ${part.src} has ${data.length} bytes`, {
        hint: 'the bundle was modified after it was built; rebuild it',
      });
    }
    if (part.cs_sha1 === undefined && part.cs_sha256 === undefined) {
      throw new FirmwareError('firmware.bundle.unchecked_part', `part ${JSON.stringify(partName)} (${part.src}) has neither cs_sha1 nor cs_sha256`, {
        hint: 'without a digest the signature does not cover the file; rebuild it with espfleet or mos, which add both',
      });
    }
    for (const [field, algorithm] of [['cs_sha1', 'sha1'], ['cs_sha256', 'sha256']] as const) {
      const expected = part[field];
      if (expected === undefined) continue;
      const actual = digest(algorithm, data);
      if (actual !== expected) {
        throw new FirmwareError(
          'firmware.bundle.checksum_mismatch',
          `part ${JSON.stringify(partName)} (${part.src}): ${field} in the manifest is ${expected}, the file's ${algorithm.toUpperCase()} is ${actual}`,
          { hint: 'the file was changed or corrupted after the bundle was built; rebuild or download it again' },
        );
      }
    }
  }
}

function checkDeviceName(name: string, storedName: string): void {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_DEVICE_NAME_BYTES) {
    throw new FirmwareError('firmware.bundle.name_too_long', `file name ${JSON.stringify(name)} (from ${JSON.stringify(storedName)}) is ${bytes} bytes; the device allows ${MAX_DEVICE_NAME_BYTES}`, {
      hint: 'shorten the file name of that part',
    });
  }
}

function missingFile(partName: string, part: ManifestPart): FirmwareError {
  return new FirmwareError('firmware.bundle.missing_file', `part ${JSON.stringify(partName)} names src ${JSON.stringify(part.src)}, which is not in the bundle`, {
    hint: 'the bundle is incomplete; rebuild it',
  });
}

function signatureExtra(extra: BundleExtra): Uint8Array {
  const block = encodeSignatureBlock(extra);
  return block.length === 0 ? block : encodeExtraField([{ id: SIGNATURE_EXTRA_ID, data: block }]);
}

function digest(algorithm: 'sha1' | 'sha256', data: Uint8Array): string {
  return createHash(algorithm).update(data).digest('hex');
}
