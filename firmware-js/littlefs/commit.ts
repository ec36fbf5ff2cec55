// Writes metadata commits (littlefs SPEC.md "Metadata pairs", "0x5xx LFS_TYPE_CRC"):
// XOR-chained big-endian tags, a CRC tag padded to the program size whose valid-state
// bit guards the next commit, and an FCRC of the erased space on 2.1 disks.
import { NO_ID, TYPE, lfsCrc, le32Bytes, mkTag, tagDiskSize, writeBe32, writeLe32 } from './tags.ts';

/** One tag to write; `data` must be exactly the tag's size (empty for deletes). */
export interface Attr {
  tag: number;
  data: Uint8Array;
}

export interface CommitOptions {
  progSize: number;
  /** Write an FCRC before the CRC, as disk format 2.1 expects. */
  fcrc: boolean;
}

export interface CommitCursor {
  off: number;
  ptag: number;
}

export function attrsDiskSize(attrs: readonly Attr[]): number {
  return attrs.reduce((n, a) => n + tagDiskSize(a.tag), 0);
}

/**
 * Appends one commit to `block` at cursor.off and returns the cursor after it.
 * The caller has checked that attrsDiskSize(attrs) fits below blockSize - 8.
 * `crcSeed` lets a fresh block start its first commit's CRC with the revision.
 */
export function writeCommit(block: Uint8Array, cursor: CommitCursor, attrs: readonly Attr[], opts: CommitOptions, crcSeed = 0xffffffff): CommitCursor {
  let { off, ptag } = cursor;
  let crc = crcSeed;
  const put = (tag: number, data: Uint8Array): void => {
    const at = off;
    writeBe32(block, at, ((tag & 0x7fffffff) ^ ptag) >>> 0);
    block.set(data, at + 4);
    crc = lfsCrc(crc, block.subarray(at, at + 4 + data.length));
    off = at + 4 + data.length;
    ptag = tag & 0x7fffffff;
  };
  for (const a of attrs) put(a.tag, a.data);

  const size = block.length;
  const { progSize } = opts;
  const end = alignUp(Math.min(off + 20, size), progSize);
  // Padding is not part of any CRC; long gaps get several CRC tags (each ≤ 0x3fe bytes).
  while (off < end) {
    let noff = Math.min(end - (off + 4), 0x3fe) + (off + 4);
    if (noff < end) noff = Math.min(noff, end - 20);
    let eperturb = 0xff;
    if (noff >= end && noff <= size - progSize) {
      // The first byte of the next program unit decides the valid-state bit, so a
      // half-programmed next commit can never read as valid.
      eperturb = block[noff] ?? 0xff;
      if (opts.fcrc) {
        const erasedCrc = lfsCrc(0xffffffff, block.subarray(noff, noff + progSize));
        put(mkTag(TYPE.fcrc, NO_ID, 8), le32Bytes(progSize, erasedCrc));
        noff = Math.max(noff, off + 4);
      }
    }
    const validState = ((~eperturb & 0xff) >>> 7) & 1;
    const ntag = mkTag(TYPE.crc + validState, NO_ID, noff - (off + 4));
    writeBe32(block, off, (ntag ^ ptag) >>> 0);
    crc = lfsCrc(crc, block.subarray(off, off + 4));
    writeLe32(block, off + 4, crc);
    off = noff;
    ptag = (ntag ^ ((0x80 & ~eperturb & 0xff) << 24)) >>> 0;
    crc = 0xffffffff;
  }
  return { off, ptag };
}

export function alignUp(n: number, unit: number): number {
  return Math.ceil(n / unit) * unit;
}
