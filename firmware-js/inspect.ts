// `fw inspect` as data: tells what a firmware file is (bundle, app or bootloader
// image, partition table, otadata, LittleFS image), lists every field, and
// whether each check passes. Pure; the CLI renders it.
import { readBundle, partData, type Bundle } from './bundle/index.ts';
import { hex32 } from './bytes.ts';
import { FirmwareError, isEspfleetError } from './errors.ts';
import { parseImage, type EspImage } from './image/index.ts';
import { openLittlefs } from './littlefs/index.ts';
import { OTADATA_SIZE, findPartition, parseOtadata, parsePartitionTable, partitionSubtypeName, partitionTypeName, type PartitionEntry } from './partition/index.ts';

export type FirmwareKind = 'bundle' | 'app-image' | 'bootloader-image' | 'partition-table' | 'otadata' | 'littlefs';

export interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface InspectReport {
  kind: FirmwareKind;
  fields: Record<string, unknown>;
  checks: Check[];
  /** Bundles: one report per part, with its resolved flash address. */
  parts?: PartReport[];
  /** LittleFS images and bundles' fs parts: the file tree. */
  files?: FsListing[];
}

export interface PartReport {
  name: string;
  type: string | null;
  address: number | null;
  size: number;
  encrypt: boolean;
  flash: boolean;
  /** The part's own inspection when it is a recognisable file. */
  content?: InspectReport;
  /** Why the part's content could not be read, when it could not. */
  error?: string;
}

export interface FsListing {
  path: string;
  type: 'file' | 'dir';
  size: number;
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

export function detectKind(bytes: Uint8Array): FirmwareKind {
  if (ZIP_MAGIC.every((b, i) => bytes[i] === b)) return 'bundle';
  if (bytes[0] === 0xe9) {
    const image = parseImage(bytes);
    return image.appDesc ? 'app-image' : 'bootloader-image';
  }
  if (bytes[0] === 0xaa && bytes[1] === 0x50) return 'partition-table';
  if (new TextDecoder().decode(bytes.subarray(8, 16)) === 'littlefs') return 'littlefs';
  if (bytes.length === OTADATA_SIZE) return 'otadata';
  throw new FirmwareError('firmware.inspect.unknown_kind', `not a firmware file espfleet knows (${bytes.length} bytes, starts ${hexStart(bytes)})`, {
    hint: 'inspect accepts fw.zip bundles, ESP32 app/bootloader images, partition tables, otadata and LittleFS images',
  });
}

export function inspectFirmware(bytes: Uint8Array): InspectReport {
  const kind = detectKind(bytes);
  switch (kind) {
    case 'bundle':
      return inspectBundle(bytes);
    case 'app-image':
    case 'bootloader-image':
      return inspectImage(parseImage(bytes), kind);
    case 'partition-table':
      return inspectPartitionTable(bytes);
    case 'otadata':
      return inspectOtadata(bytes);
    case 'littlefs':
      return inspectLittlefs(bytes);
  }
}

/** True when every check of the report and of its parts passes. */
export function allChecksPass(report: InspectReport): boolean {
  return report.checks.every((c) => c.ok) && (report.parts ?? []).every((p) => !p.error && (!p.content || allChecksPass(p.content)));
}

function inspectImage(image: EspImage, kind: 'app-image' | 'bootloader-image'): InspectReport {
  const checks: Check[] = [
    { name: 'checksum', ok: image.checksum.ok, detail: `stored 0x${image.checksum.stored.toString(16)}, computed 0x${image.checksum.computed.toString(16)}` },
  ];
  if (image.sha256) checks.push({ name: 'sha256', ok: image.sha256.ok, detail: image.sha256.ok ? image.sha256.computed : `stored ${image.sha256.stored}, computed ${image.sha256.computed}` });
  for (const warning of image.warnings) checks.push({ name: 'layout', ok: true, detail: warning });
  return {
    kind,
    fields: {
      entry: hex32(image.entry),
      flashMode: image.flashMode.name,
      flashSize: image.flashSize.name,
      flashFreq: image.flashFreq.name,
      chipId: image.chipId,
      minChipRev: image.minChipRevFull,
      maxChipRev: image.maxChipRevFull,
      hashAppended: image.hashAppended,
      length: image.length,
      segments: image.segments.map((s) => ({ loadAddr: hex32(s.loadAddr), length: s.length, fileOffset: hex32(s.fileOffset), memory: s.memory.join(',') })),
      ...(image.appDesc
        ? { version: image.appDesc.version, projectName: image.appDesc.projectName, time: image.appDesc.time, date: image.appDesc.date, idfVersion: image.appDesc.idfVer, secureVersion: image.appDesc.secureVersion }
        : {}),
    },
    checks,
  };
}

function inspectPartitionTable(bytes: Uint8Array): InspectReport {
  // A bad MD5 row is a failed check to show, not a reason to stop reading.
  const table = parsePartitionTable(bytes, { reportBadMd5: true });
  return {
    kind: 'partition-table',
    fields: { partitions: table.entries.map(describePartition) },
    checks: [{ name: 'md5', ok: !table.md5.present || table.md5.ok, detail: table.md5.present ? (table.md5.ok ? table.md5.computed : `stored ${table.md5.stored}, computed ${table.md5.computed}`) : 'no MD5 row' }],
  };
}

function describePartition(p: PartitionEntry): Record<string, unknown> {
  return { label: p.label, type: partitionTypeName(p.type), subtype: partitionSubtypeName(p.type, p.subtype), offset: hex32(p.offset), size: hex32(p.size), encrypted: p.encrypted };
}

function inspectOtadata(bytes: Uint8Array): InspectReport {
  const otadata = parseOtadata(bytes);
  return {
    kind: 'otadata',
    fields: {
      copies: otadata.copies.map((c) => ({ copy: c.copy, seq: c.seq, state: c.stateName ?? c.state, valid: c.valid, problem: c.problem })),
      active: otadata.active ? { copy: otadata.active.copy, seq: otadata.active.seq } : null,
      bootsSlotOfTwo: otadata.bootSlot(2),
    },
    checks: otadata.copies.filter((c) => c.problem === 'bad_crc').map((c) => ({ name: `copy ${c.copy} crc`, ok: false, detail: `crc 0x${c.crc.toString(16)} does not match seq ${c.seq}` })),
  };
}

function inspectLittlefs(bytes: Uint8Array): InspectReport {
  const fs = openLittlefs(bytes);
  const files = fs.walk().map((e) => ({ path: e.path, type: e.type, size: e.size }));
  return { kind: 'littlefs', fields: { size: bytes.length, files: files.filter((f) => f.type === 'file').length }, checks: [], files };
}

function inspectBundle(zip: Uint8Array): InspectReport {
  let bundle: Bundle;
  try {
    bundle = readBundle(zip);
  } catch (e) {
    if (!isEspfleetError(e)) throw e;
    return { kind: 'bundle', fields: {}, checks: [{ name: 'bundle', ok: false, detail: `${e.message} [${e.code}]` }] };
  }
  const { manifest } = bundle;
  const signatures = Object.keys(bundle.extra).filter((k) => /^sig[0-7]$/.test(k)).sort();
  const table = tableOf(bundle);
  const parts: PartReport[] = Object.entries(manifest.parts).map(([name, part]) => {
    const data = partData(bundle, name);
    const partition = part.ptn !== undefined && table ? findPartition(table, part.ptn) : undefined;
    const address = partition ? (part.type === 'app' ? partition.offset : partition.offset + (part.addr ?? 0)) : (part.addr ?? null);
    return {
      name,
      type: part.type ?? null,
      address,
      size: data.length,
      encrypt: part.encrypt === true,
      flash: part.flash !== false,
      ...(part.src ? inspectPart(data) : {}),
    };
  });
  const fsPart = parts.find((p) => p.type === 'fs');
  return {
    kind: 'bundle',
    fields: {
      name: manifest.name ?? null,
      platform: manifest.platform,
      version: manifest.version,
      buildId: manifest.build_id,
      buildTimestamp: manifest.build_timestamp ?? null,
      signatures,
    },
    checks: [{ name: 'container and part checksums', ok: true, detail: `${parts.length} parts; size, cs_sha1 and cs_sha256 match` }],
    parts,
    ...(fsPart?.content?.files ? { files: fsPart.content.files } : {}),
  };
}

function tableOf(bundle: Bundle): PartitionEntry[] | undefined {
  const pt = Object.entries(bundle.manifest.parts).find(([n, p]) => n === 'pt' || p.type === 'pt');
  if (!pt) return undefined;
  try {
    return parsePartitionTable(partData(bundle, pt[0])).entries;
  } catch {
    return undefined; // the pt part's own report shows why
  }
}

function inspectPart(data: Uint8Array): Pick<PartReport, 'content' | 'error'> {
  try {
    return { content: inspectFirmware(data) };
  } catch (e) {
    if (isEspfleetError(e) && e.code === 'firmware.inspect.unknown_kind') return {};
    if (isEspfleetError(e)) return { error: `${e.message} [${e.code}]` };
    throw e;
  }
}

function hexStart(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
}
