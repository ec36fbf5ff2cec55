// manifest.json of a Mongoose OS bundle (spec mongoose-os.md §1.2): the fields, what the
// device requires (§1.1), and a deterministic serialisation in mos's layout (§1.3).
import { FirmwareError } from '../errors.ts';
import { compareUtf8, encodeGoJson } from './go-json.ts';
import { parseStrictJson } from './strict-json.ts';

export interface ManifestPart {
  type?: string;
  src?: string;
  addr?: number;
  size?: number;
  fill?: number;
  flash?: boolean;
  cs_sha1?: string;
  cs_sha256?: string;
  fs_size?: number;
  fs_block_size?: number;
  fs_erase_size?: number;
  fs_page_size?: number;
  encrypt?: boolean;
  ptn?: string;
  /** On `boot`: whether OTA rewrites the bootloader (unknown to mos, kept as an attribute). */
  update?: boolean;
  falloc?: number;
  sig?: string;
  sig_cert?: string;
  sign?: string;
  [attr: string]: unknown;
}

export interface Manifest {
  name?: string;
  platform: string;
  version: string;
  build_id: string;
  build_timestamp?: string;
  description?: string;
  parts: Record<string, ManifestPart>;
  [attr: string]: unknown;
}

type FieldKind = 'string' | 'uint32' | 'uint8' | 'int' | 'bool' | 'sha1' | 'sha256';

// Declaration order of mos's Go structs: the order mos writes them (§1.3).
const TOP_FIELDS: [string, FieldKind | 'parts'][] = [
  ['name', 'string'],
  ['platform', 'string'],
  ['description', 'string'],
  ['version', 'string'],
  ['build_id', 'string'],
  ['build_timestamp', 'string'],
  ['parts', 'parts'],
];
const PART_FIELDS: [string, FieldKind][] = [
  ['type', 'string'],
  ['src', 'string'],
  ['addr', 'uint32'],
  ['size', 'uint32'],
  ['fill', 'uint8'],
  ['flash', 'bool'],
  ['cs_sha1', 'sha1'],
  ['cs_sha256', 'sha256'],
  ['fs_size', 'uint32'],
  ['fs_block_size', 'uint32'],
  ['fs_erase_size', 'uint32'],
  ['fs_page_size', 'uint32'],
  ['encrypt', 'bool'],
  ['ptn', 'string'],
  ['falloc', 'int'],
  ['sig', 'string'],
  ['sig_cert', 'string'],
  ['sign', 'string'],
];
// Not a Go struct field (so mos sorts it among the attributes), but typed: the ESP32 updater reads it as a bool.
const TYPED_PART_ATTRS: [string, FieldKind][] = [['update', 'bool']];
const REQUIRED = ['platform', 'version', 'build_id'] as const;

// ignoreBOM keeps a BOM in the text, so the parser refuses it as Go and the device's json_scanf would.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const BUILD_HINT = 'rebuild the bundle with espfleet or `mos create-fw-bundle`';

/** Parses manifest.json bytes and checks them as the device and our tools need. */
export function parseManifest(bytes: Uint8Array): Manifest {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (cause) {
    throw new FirmwareError('firmware.manifest.bad_json', `manifest.json (${bytes.length} bytes) is not valid UTF-8`, { hint: BUILD_HINT, cause });
  }
  return validateManifest(parseStrictJson(text, 'firmware.manifest.bad_json', 'manifest.json'));
}

/** Checks a parsed manifest value; returns it typed. Unknown attributes are kept. */
export function validateManifest(value: unknown): Manifest {
  if (!isPlainObject(value)) {
    throw new FirmwareError('firmware.manifest.bad_json', `manifest.json must be a JSON object, got ${describe(value)}`, { hint: BUILD_HINT });
  }
  // The device's check: platform, version, build_id and parts present and non-empty. We
  // also insist on strings where it would take any token: a number "version" is a mistake.
  for (const field of REQUIRED) {
    const v = value[field];
    if (v === undefined || v === '') missing(field);
    if (typeof v !== 'string') badField(field, v, 'a string');
  }
  for (const [field, kind] of TOP_FIELDS) {
    if (kind !== 'parts') checkField(value, field, kind, field);
  }
  const parts = value['parts'];
  if (parts === undefined || parts === null) missing('parts');
  if (!isPlainObject(parts)) badField('parts', parts, 'an object of parts');
  for (const [partName, part] of Object.entries(parts)) {
    const path = `parts.${partName}`;
    if (!isPlainObject(part)) badField(path, part, 'an object');
    for (const [field, kind] of [...PART_FIELDS, ...TYPED_PART_ATTRS]) checkField(part, field, kind, `${path}.${field}`);
    if (part['src'] === '') badField(`${path}.src`, '', 'a file name');
    if (part['fill'] !== undefined && part['src'] === undefined && part['size'] === undefined) {
      missing(`${path}.size`, `part ${JSON.stringify(partName)} has "fill" but no "size" to fill`);
    }
  }
  return value as Manifest;
}

/**
 * The manifest as mos writes it: Go MarshalIndent with a one-space indent, known fields in
 * struct order, other attributes and parts sorted by name. Unlike Go we keep zero values
 * (mos drops `"addr": 0` and `"encrypt": false` via omitempty) so a round trip is exact.
 */
export function serializeManifest(manifest: Manifest): Uint8Array {
  const top = orderFields(manifest, TOP_FIELDS.map(([f]) => f));
  const parts = new Map<string, unknown>();
  const names = Object.keys(manifest.parts).sort(compareUtf8);
  for (const name of names) {
    const part = manifest.parts[name];
    parts.set(name, part === undefined ? undefined : orderFields(part, PART_FIELDS.map(([f]) => f)));
  }
  top.set('parts', parts);
  return new TextEncoder().encode(encodeGoJson(top, ' '));
}

/** Known fields first in the given order, then the remaining attributes sorted, as Go writes its attrs map. */
function orderFields(obj: Record<string, unknown>, order: string[]): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const field of order) if (obj[field] !== undefined) out.set(field, obj[field]);
  const attrNames = Object.keys(obj)
    .filter((k) => !order.includes(k))
    .sort(compareUtf8);
  for (const k of attrNames) out.set(k, obj[k]);
  return out;
}

function checkField(obj: Record<string, unknown>, field: string, kind: FieldKind, path: string): void {
  const v = obj[field];
  if (v === undefined) return;
  const ok =
    kind === 'string'
      ? typeof v === 'string'
      : kind === 'bool'
        ? typeof v === 'boolean'
        : kind === 'uint32'
          ? Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff
          : kind === 'uint8'
            ? Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xff
            : kind === 'int'
              ? Number.isInteger(v)
              : typeof v === 'string' && (kind === 'sha1' ? /^[0-9a-f]{40}$/ : /^[0-9a-f]{64}$/).test(v);
  if (!ok) badField(path, v, KIND_TEXT[kind]);
}

const KIND_TEXT: Record<FieldKind, string> = {
  string: 'a string',
  bool: 'true or false',
  uint32: 'an integer 0..4294967295',
  uint8: 'an integer 0..255',
  int: 'an integer',
  sha1: '40 lowercase hex digits (SHA-1)',
  sha256: '64 lowercase hex digits (SHA-256)',
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  const text = JSON.stringify(v) ?? String(v);
  return `${typeof v} ${text.length > 60 ? text.slice(0, 60) + '…' : text}`;
}

function missing(field: string, message = `manifest.json has no "${field}" (or it is empty); the device requires it`): never {
  throw new FirmwareError('firmware.manifest.missing_field', message, { hint: BUILD_HINT });
}

function badField(path: string, v: unknown, wanted: string): never {
  throw new FirmwareError('firmware.manifest.bad_field', `manifest field "${path}" must be ${wanted}, got ${describe(v)}`, { hint: BUILD_HINT });
}
