// The board's streaming fw.zip parser (spec mongoose-os.md §1.1, §1.5): local headers only,
// STORED entries with sizes and CRC in the header, manifest.json first, names stripped of one
// directory level and < 50 bytes. Written for the double on purpose: it must judge bundles by
// the board's rules, not by firmware-js/bundle, which is the code under test.
import { crc32 } from '../../firmware-js/crc.ts';
import { concatBytes } from '../../firmware-js/bytes.ts';

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const END_OF_CENTRAL = 0x06054b50;
const SIGNATURE_EXTRA_ID = 0x293a;
/** struct mgos_ota_file_info.name[50]: the stripped name must fit with its NUL. */
const MAX_NAME_BYTES = 49;

/** The board refused the bundle; the message is what the updater reports in OTA.Status. */
export class OtaRefused extends Error {}

export interface StreamManifest {
  bytes: Uint8Array;
  /** The JSON of the 0x293A extra field on manifest.json's local header ({} when absent). */
  extra: Record<string, unknown>;
}

export interface BundleStreamSink {
  /** manifest.json is complete; returns the stripped names of the files wanted (the rest are skipped). */
  manifest(m: StreamManifest): Set<string>;
  fileStart(name: string, size: number): void;
  fileData(name: string, chunk: Uint8Array): void;
  fileEnd(name: string): void;
}

type Phase = { kind: 'header' } | { kind: 'names'; h: LocalHeader } | { kind: 'data'; h: LocalHeader; name: string; left: number; crc: number; wanted: boolean } | { kind: 'done' };

interface LocalHeader {
  flags: number;
  method: number;
  crc: number;
  csize: number;
  usize: number;
  nameLen: number;
  extraLen: number;
}

export class BundleStream {
  private buf: Uint8Array = new Uint8Array(0);
  private phase: Phase = { kind: 'header' };
  private entries = 0;
  private manifestParts: Uint8Array[] | undefined;
  private manifestExtra: Record<string, unknown> = {};
  private wanted = new Set<string>();
  private readonly seen = new Set<string>();

  constructor(private readonly sink: BundleStreamSink) {}

  get done(): boolean {
    return this.phase.kind === 'done';
  }

  feed(bytes: Uint8Array): void {
    this.buf = concatBytes([this.buf, bytes]);
    for (;;) {
      const p = this.phase;
      if (p.kind === 'done') {
        this.buf = new Uint8Array(0); // the central directory and EOCD are not read
        return;
      }
      if (p.kind === 'header') {
        if (this.buf.length < 4) return;
        const sig = u32(this.buf, 0);
        if (sig === CENTRAL_HEADER || sig === END_OF_CENTRAL) {
          if (this.entries === 0) throw new OtaRefused('Empty archive');
          this.phase = { kind: 'done' };
          continue;
        }
        if (sig !== LOCAL_HEADER) throw new OtaRefused(`Malformed archive (bad signature 0x${sig.toString(16)})`);
        if (this.buf.length < 30) return;
        const h: LocalHeader = {
          flags: u16(this.buf, 6),
          method: u16(this.buf, 8),
          crc: u32(this.buf, 14),
          csize: u32(this.buf, 18),
          usize: u32(this.buf, 22),
          nameLen: u16(this.buf, 26),
          extraLen: u16(this.buf, 28),
        };
        if (h.method !== 0) throw new OtaRefused('Cannot handle compressed .zip');
        // Bit 3: sizes and CRC in a data descriptor after the data — the stream cannot know where data ends.
        if (h.flags & 0x08 || h.csize !== h.usize) throw new OtaRefused('Malformed archive (sizes not in the local header)');
        this.buf = this.buf.subarray(30);
        this.phase = { kind: 'names', h };
        continue;
      }
      if (p.kind === 'names') {
        const need = p.h.nameLen + p.h.extraLen;
        if (this.buf.length < need) return;
        const rawName = new TextDecoder().decode(this.buf.subarray(0, p.h.nameLen));
        const extra = this.buf.subarray(p.h.nameLen, need);
        this.buf = this.buf.subarray(need);
        const slash = rawName.indexOf('/');
        const name = slash >= 0 ? rawName.slice(slash + 1) : rawName;
        if (new TextEncoder().encode(name).length > MAX_NAME_BYTES) throw new OtaRefused(`File name too long: ${name}`);
        const first = this.entries === 0;
        this.entries++;
        if (first && name !== 'manifest.json') throw new OtaRefused(`Expected manifest.json first, got ${name}`);
        if (first) {
          this.manifestParts = [];
          this.manifestExtra = parseSignatureExtra(extra);
        } else if (this.seen.has(name)) {
          throw new OtaRefused(`Duplicate file ${name}`);
        }
        this.seen.add(name);
        const wanted = !first && this.wanted.has(name);
        if (wanted) this.sink.fileStart(name, p.h.usize);
        this.phase = { kind: 'data', h: p.h, name, left: p.h.usize, crc: 0, wanted };
        continue;
      }
      // data
      if (p.left > 0) {
        if (this.buf.length === 0) return;
        const chunk = this.buf.subarray(0, Math.min(p.left, this.buf.length));
        this.buf = this.buf.subarray(chunk.length);
        p.left -= chunk.length;
        p.crc = crc32(chunk, p.crc);
        if (this.manifestParts) this.manifestParts.push(chunk.slice());
        else if (p.wanted) this.sink.fileData(p.name, chunk);
        if (p.left > 0) return;
      }
      // The CRC is checked only when non-zero (2018 updater).
      if (p.h.crc !== 0 && p.crc >>> 0 !== p.h.crc) throw new OtaRefused(`CRC mismatch for ${p.name}`);
      if (this.manifestParts) {
        const bytes = concatBytes(this.manifestParts);
        this.manifestParts = undefined;
        this.wanted = this.sink.manifest({ bytes, extra: this.manifestExtra });
      } else if (p.wanted) {
        this.sink.fileEnd(p.name);
      }
      this.phase = { kind: 'header' };
    }
  }
}

/** Extra field records: id u16, length u16, data. The signature block is JSON under 0x293A. */
function parseSignatureExtra(extra: Uint8Array): Record<string, unknown> {
  let at = 0;
  while (at + 4 <= extra.length) {
    const id = u16(extra, at);
    const len = u16(extra, at + 2);
    if (at + 4 + len > extra.length) throw new OtaRefused('Malformed archive (extra field overruns)');
    if (id === SIGNATURE_EXTRA_ID) {
      try {
        const v: unknown = JSON.parse(new TextDecoder().decode(extra.subarray(at + 4, at + 4 + len)));
        if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
      } catch {
        /* an unreadable block carries no signature */
      }
      return {};
    }
    at += 4 + len;
  }
  return {};
}

function u16(b: Uint8Array, at: number): number {
  return (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
}
function u32(b: Uint8Array, at: number): number {
  return (u16(b, at) | (u16(b, at + 2) << 16)) >>> 0;
}
