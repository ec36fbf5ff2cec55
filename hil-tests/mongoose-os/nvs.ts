// ESP-IDF's NVS on-flash format, where the Mongoose OS updater keeps its boot state (spec
// mongoose-os.md §2.3 namespace `mgos`, keys `update` / `update_old_fs`; §9 the generator
// that checks it). Our own codec and a small writer with IDF's ordering: an item's entries
// are programmed first, then its bitmap states go WRITTEN, then the old copy goes ERASED — so
// a power cut at any byte leaves the old value or the new one. Pages: 32-byte header
// (state, seq, version, CRC), a 2-bit-per-entry state bitmap, 126 entries of 32 bytes.
import { crc32 } from '../../firmware-js/crc.ts';

export const NVS_PAGE_SIZE = 0x1000;
export const NVS_ENTRIES_PER_PAGE = 126;
const ENTRY = 32;
const BITMAP_AT = 32;
const FIRST_ENTRY_AT = 64;
/** Version 2 (multi-page blobs), what IDF ≥ 4 and the generator write. */
const PAGE_VERSION = 0xfe;
const NO_CHUNK = 0xff;

export const PAGE_STATE = { empty: 0xffffffff, active: 0xfffffffe, full: 0xfffffffc, freeing: 0xfffffff8, corrupt: 0xfffffff0 } as const;
export const ENTRY_STATE = { empty: 3, written: 2, erased: 0 } as const;
export const NVS_TYPE = { u8: 0x01, u32: 0x04, str: 0x21 } as const;

export type NvsValue = { type: 'u8' | 'u32'; value: number } | { type: 'str'; value: string };

/** Raw flash access to the partition's sectors (nvs is not encrypted: esp_flash_read/write). */
export interface NvsFlash {
  read(offset: number, length: number): Uint8Array;
  write(offset: number, data: Uint8Array): void;
  erase(offset: number, length: number): void;
}

/** IDF's CRC: esp_rom_crc32_le(0xFFFFFFFF, …), i.e. zlib's crc32 seeded with 0xFFFFFFFF. */
const nvsCrc = (b: Uint8Array) => crc32(b, 0xffffffff);

export interface NvsEntry {
  index: number;
  state: number;
  /** The entry's 32 bytes as stored. */
  raw: Uint8Array;
}

export interface NvsItem {
  page: number;
  index: number;
  ns: number;
  type: number;
  span: number;
  key: string;
  value: number | string;
  /** The item's entries (header then data), as stored. */
  raw: Uint8Array;
}

export interface NvsPage {
  /** Index of the page in the partition. */
  page: number;
  state: number;
  seq: number;
  version: number;
  headerCrcOk: boolean;
  entries: NvsEntry[];
  /** Valid items in entry order; erased, torn or CRC-failing entries are not items. */
  items: NvsItem[];
  /** First entry no write has touched (the writer appends here). */
  nextFree: number;
}

export interface ParsedNvs {
  pages: NvsPage[];
  /** Namespace name → index (the ns=0 u8 items). */
  namespaces: Map<string, number>;
  /** The winning item per (ns, key): in page-seq then entry order, later wins (IDF drops the older duplicate). */
  live: Map<string, NvsItem>;
}

const itemKey = (ns: number, key: string) => `${ns}\u0000${key}`;
/** A page holding items: a good header in state ACTIVE, FULL or FREEING. */
const inUse = (pg: NvsPage) => pg.headerCrcOk && (pg.state === PAGE_STATE.active || pg.state === PAGE_STATE.full || pg.state === PAGE_STATE.freeing);
/** Erased and untouched: usable without an erase. */
const clean = (pg: NvsPage) => pg.state === PAGE_STATE.empty && pg.headerCrcOk && pg.nextFree === 0;

function u32(b: Uint8Array, at: number): number {
  return new DataView(b.buffer, b.byteOffset + at, 4).getUint32(0, true);
}

function entryState(page: Uint8Array, i: number): number {
  return ((page[BITMAP_AT + (i >> 2)] as number) >> ((i & 3) * 2)) & 3;
}

function entryCrc(e: Uint8Array): number {
  const b = new Uint8Array(28);
  b.set(e.subarray(0, 4), 0);
  b.set(e.subarray(8, 32), 4);
  return nvsCrc(b);
}

/** Pure: the pages, items and live values of an NVS partition image (the double's or the generator's). */
export function parseNvs(image: Uint8Array): ParsedNvs {
  const pages: NvsPage[] = [];
  for (let p = 0; p * NVS_PAGE_SIZE + NVS_PAGE_SIZE <= image.length; p++) pages.push(parsePage(image.subarray(p * NVS_PAGE_SIZE, (p + 1) * NVS_PAGE_SIZE), p));
  const namespaces = new Map<string, number>();
  const live = new Map<string, NvsItem>();
  for (const pg of pages.filter(inUse).sort((a, b) => a.seq - b.seq)) {
    for (const it of pg.items) {
      live.set(itemKey(it.ns, it.key), it);
      if (it.ns === 0 && it.type === NVS_TYPE.u8) namespaces.set(it.key, it.value as number);
    }
  }
  return { pages, namespaces, live };
}

function parsePage(b: Uint8Array, page: number): NvsPage {
  const state = u32(b, 0);
  const headerCrcOk = state === PAGE_STATE.empty ? b.subarray(4, 32).every((x) => x === 0xff) : u32(b, 28) === nvsCrc(b.subarray(4, 28));
  const pg: NvsPage = { page, state, seq: u32(b, 4), version: b[8] as number, headerCrcOk, entries: [], items: [], nextFree: 0 };
  for (let i = 0; i < NVS_ENTRIES_PER_PAGE; i++) {
    const raw = b.subarray(FIRST_ENTRY_AT + i * ENTRY, FIRST_ENTRY_AT + (i + 1) * ENTRY);
    const st = entryState(b, i);
    // An EMPTY state over programmed bytes is a write a power cut interrupted: used, not valid.
    if (st !== ENTRY_STATE.empty || raw.some((x) => x !== 0xff)) {
      pg.entries.push({ index: i, state: st, raw: raw.slice() });
      pg.nextFree = i + 1;
    }
  }
  if (state === PAGE_STATE.empty || !headerCrcOk) return pg;
  for (let i = 0; i < NVS_ENTRIES_PER_PAGE; ) {
    const it = entryState(b, i) === ENTRY_STATE.written ? readItem(b, page, i) : undefined;
    if (it) pg.items.push(it);
    i += it ? it.span : 1;
  }
  return pg;
}

function readItem(b: Uint8Array, page: number, i: number): NvsItem | undefined {
  const e = b.subarray(FIRST_ENTRY_AT + i * ENTRY, FIRST_ENTRY_AT + (i + 1) * ENTRY);
  if (u32(e, 4) !== entryCrc(e)) return undefined;
  const [ns = 0, type = 0, span = 0] = e;
  if (span < 1 || i + span > NVS_ENTRIES_PER_PAGE) return undefined;
  const keyBytes = e.subarray(8, 24);
  const nul = keyBytes.indexOf(0);
  const key = Buffer.from(keyBytes.subarray(0, nul < 0 ? 16 : nul)).toString('latin1');
  const raw = b.slice(FIRST_ENTRY_AT + i * ENTRY, FIRST_ENTRY_AT + (i + span) * ENTRY);
  const data = e.subarray(24, 32);
  const base = { page, index: i, ns, type, span, key, raw };
  if (type === NVS_TYPE.u8) return span === 1 ? { ...base, value: data[0] as number } : undefined;
  if (type === NVS_TYPE.u32) return span === 1 ? { ...base, value: u32(data, 0) } : undefined;
  if (type !== NVS_TYPE.str) return undefined; // other types are not the updater's; not modelled
  // A string: every data entry WRITTEN, the size fits the span, the data CRC matches.
  for (let j = i + 1; j < i + span; j++) if (entryState(b, j) !== ENTRY_STATE.written) return undefined;
  const size = data[0]! | (data[1]! << 8);
  if (size === 0 || size > (span - 1) * ENTRY) return undefined;
  const bytes = raw.subarray(ENTRY, ENTRY + size);
  if (u32(data, 4) !== nvsCrc(bytes)) return undefined;
  return { ...base, value: Buffer.from(bytes.subarray(0, size - 1)).toString('utf8') };
}

/** A page header as IDF (and the generator) writes it. */
export function encodePageHeader(state: number, seq: number): Uint8Array {
  const h = new Uint8Array(32).fill(0xff);
  const v = new DataView(h.buffer);
  v.setUint32(0, state, true);
  v.setUint32(4, seq, true);
  h[8] = PAGE_VERSION;
  v.setUint32(28, nvsCrc(h.subarray(4, 28)), true);
  return h;
}

/** An item's entries: the header (CRC over all but its CRC field) then, for a string, its NUL-terminated bytes. */
export function encodeItem(ns: number, key: string, value: NvsValue): Uint8Array {
  const keyBytes = Buffer.from(key, 'latin1');
  if (keyBytes.length > 15) throw new Error(`NVS key ${key} is longer than 15 bytes`);
  const str = value.type === 'str' ? Buffer.concat([Buffer.from(value.value, 'utf8'), Buffer.from([0])]) : undefined;
  const span = str ? 1 + Math.ceil(str.length / ENTRY) : 1;
  const out = new Uint8Array(span * ENTRY).fill(0xff);
  const v = new DataView(out.buffer);
  out[0] = ns;
  out[1] = NVS_TYPE[value.type];
  out[2] = span;
  out[3] = NO_CHUNK;
  out.fill(0, 8, 24);
  out.set(keyBytes, 8);
  if (str) {
    v.setUint16(24, str.length, true);
    v.setUint32(28, nvsCrc(str), true);
    out.set(str, ENTRY);
  } else if (value.type === 'u8') {
    out[24] = value.value & 0xff;
  } else {
    v.setUint32(24, Number(value.value) >>> 0, true);
  }
  v.setUint32(4, entryCrc(out.subarray(0, ENTRY)), true);
  return out;
}

/**
 * The writer: appends to the ACTIVE page; a full page goes FULL and the next empty one
 * becomes ACTIVE; when only the spare page is left, the oldest FULL page is collected
 * (FREEING, its live items copied to the spare, then erased), as IDF keeps one page free.
 */
export class NvsStore {
  private readonly pages: number;

  constructor(
    private readonly flash: NvsFlash,
    private readonly offset: number,
    size: number,
  ) {
    this.pages = Math.floor(size / NVS_PAGE_SIZE);
    if (this.pages < 2) throw new Error('an NVS partition needs at least two pages');
  }

  parse(): ParsedNvs {
    return parseNvs(this.flash.read(this.offset, this.pages * NVS_PAGE_SIZE).slice());
  }

  get(ns: string, key: string): number | string | undefined {
    const p = this.parse();
    const idx = p.namespaces.get(ns);
    return idx === undefined ? undefined : p.live.get(itemKey(idx, key))?.value;
  }

  /** nvs_set_*: a no-op when the stored value is equal (IDF compares first). */
  set(ns: string, key: string, value: NvsValue): void {
    let p = this.parse();
    let idx = p.namespaces.get(ns);
    if (idx === undefined) {
      idx = Math.max(0, ...p.namespaces.values()) + 1;
      this.writeItem(0, ns, { type: 'u8', value: idx });
      p = this.parse();
    }
    const old = p.live.get(itemKey(idx, key));
    if (old && old.type === NVS_TYPE[value.type] && old.value === value.value) return;
    this.writeItem(idx, key, value);
  }

  private writeItem(ns: number, key: string, value: NvsValue): void {
    const bytes = encodeItem(ns, key, value);
    const span = bytes.length / ENTRY;
    const { page, index } = this.allocate(span);
    const old = this.parse().live.get(itemKey(ns, key)); // after allocate: a collection may have moved it
    const at = this.offset + page * NVS_PAGE_SIZE;
    for (let i = 0; i < span; i++) this.flash.write(at + FIRST_ENTRY_AT + (index + i) * ENTRY, bytes.subarray(i * ENTRY, (i + 1) * ENTRY));
    this.setStates(page, index, span, ENTRY_STATE.written);
    if (old) this.setStates(old.page, old.index, old.span, ENTRY_STATE.erased);
  }

  /** Bits only go 1 → 0: one byte of the bitmap per entry, programmed with the new state. */
  private setStates(page: number, first: number, span: number, state: number): void {
    const base = this.offset + page * NVS_PAGE_SIZE + BITMAP_AT;
    for (let i = first; i < first + span; i++) {
      const cur = this.flash.read(base + (i >> 2), 1)[0] as number;
      const shift = (i & 3) * 2;
      const next = (cur & ~(3 << shift)) | (state << shift);
      this.flash.write(base + (i >> 2), Uint8Array.of(next & 0xff));
    }
  }

  private allocate(span: number): { page: number; index: number } {
    for (let round = 0; round < this.pages + 1; round++) {
      const p = this.parse();
      const freeing = p.pages.find((pg) => pg.headerCrcOk && pg.state === PAGE_STATE.freeing);
      if (freeing) {
        this.collect(p, freeing);
        continue;
      }
      const active = p.pages.filter((pg) => pg.headerCrcOk && pg.state === PAGE_STATE.active).sort((a, b) => b.seq - a.seq)[0];
      if (active && active.nextFree + span <= NVS_ENTRIES_PER_PAGE) return { page: active.page, index: active.nextFree };
      if (active) this.writeState(active.page, PAGE_STATE.full);
      const anyFull = !!active || p.pages.some((pg) => inUse(pg) && pg.state === PAGE_STATE.full);
      const free = p.pages.filter((pg) => !inUse(pg));
      for (const d of free) if (!clean(d)) this.flash.erase(this.offset + d.page * NVS_PAGE_SIZE, NVS_PAGE_SIZE); // a torn header: nothing valid there
      if (free.length > 1 || (free.length === 1 && !anyFull)) {
        const next = free[0]!;
        this.writeHeader(next.page, PAGE_STATE.active, this.nextSeq(p));
        continue;
      }
      // Only the spare is left: collect the oldest FULL page into it.
      const victim = p.pages.filter((pg) => inUse(pg) && (pg.state === PAGE_STATE.full || pg === active)).sort((a, b) => a.seq - b.seq)[0];
      if (!victim || free.length === 0) throw new Error('NVS partition is full');
      this.writeState(victim.page, PAGE_STATE.freeing);
    }
    throw new Error('NVS: no page could be made active');
  }

  /** Finishes a FREEING page: the items that still win there move to the ACTIVE page (made from the spare), then it is erased. */
  private collect(p: ParsedNvs, freeing: NvsPage): void {
    let active = p.pages.filter((pg) => pg.headerCrcOk && pg.state === PAGE_STATE.active).sort((a, b) => b.seq - a.seq)[0];
    if (!active) {
      const spare = p.pages.find((pg) => !inUse(pg));
      if (!spare) throw new Error('NVS: no spare page for garbage collection');
      if (!clean(spare)) this.flash.erase(this.offset + spare.page * NVS_PAGE_SIZE, NVS_PAGE_SIZE);
      this.writeHeader(spare.page, PAGE_STATE.active, this.nextSeq(p));
      p = this.parse();
      active = p.pages.find((pg) => pg.page === spare.page)!;
    }
    let next = active.nextFree;
    const at = this.offset + active.page * NVS_PAGE_SIZE;
    for (const it of freeing.items) {
      const winner = p.live.get(itemKey(it.ns, it.key));
      if (winner?.page !== freeing.page || winner.index !== it.index) continue; // superseded, or already moved
      if (next + it.span > NVS_ENTRIES_PER_PAGE) throw new Error('NVS: live items do not fit one page');
      for (let i = 0; i < it.span; i++) this.flash.write(at + FIRST_ENTRY_AT + (next + i) * ENTRY, it.raw.subarray(i * ENTRY, (i + 1) * ENTRY));
      this.setStates(active.page, next, it.span, ENTRY_STATE.written);
      next += it.span;
    }
    this.flash.erase(this.offset + freeing.page * NVS_PAGE_SIZE, NVS_PAGE_SIZE);
  }

  private nextSeq(p: ParsedNvs): number {
    const seqs = p.pages.filter(inUse).map((pg) => pg.seq);
    return seqs.length === 0 ? 0 : Math.max(...seqs) + 1;
  }

  private writeHeader(page: number, state: number, seq: number): void {
    this.flash.write(this.offset + page * NVS_PAGE_SIZE, encodePageHeader(state, seq));
  }

  /** The state word only: programming clears bits (ACTIVE → FULL → FREEING). */
  private writeState(page: number, state: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, state, true);
    this.flash.write(this.offset + page * NVS_PAGE_SIZE, b);
  }
}
