// The bundle's signature block: ZIP extra field 0x293A on the manifest.json entry holding
// compact JSON {"sig0": "<base64 DER>", ...extra attrs} with sorted keys (spec mongoose-os.md §1.5).
import { view } from '../bytes.ts';
import { FirmwareError } from '../errors.ts';
import { encodeGoJson } from './go-json.ts';
import { parseStrictJson } from './strict-json.ts';

/** mos's ID: bytes 3A 29 on disk, a smiley. */
export const SIGNATURE_EXTRA_ID = 0x293a;

/** Parsed 0x293A JSON: `sig0`…`sig7` plus any `--extra-attr` values (mos allows bools and numbers). */
export type BundleExtra = Record<string, string | number | boolean | null>;

export interface ExtraFieldBlock {
  id: number;
  data: Uint8Array;
}

// ignoreBOM keeps a BOM in the text, so the parser refuses it as Go and the device's json_scanf would.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Splits a raw ZIP extra field into its (id, length, data) blocks. */
export function parseExtraField(extra: Uint8Array): ExtraFieldBlock[] {
  const dv = view(extra);
  const blocks: ExtraFieldBlock[] = [];
  let at = 0;
  while (at < extra.length) {
    if (at + 4 > extra.length) badExtra(`${extra.length - at} stray bytes at the end of the extra field`);
    const id = dv.getUint16(at, true);
    const length = dv.getUint16(at + 2, true);
    if (at + 4 + length > extra.length) {
      badExtra(`extra block 0x${id.toString(16)} at ${at} claims ${length} bytes, only ${extra.length - at - 4} remain`);
    }
    blocks.push({ id, data: extra.subarray(at + 4, at + 4 + length) });
    at += 4 + length;
  }
  return blocks;
}

export function encodeExtraField(blocks: readonly ExtraFieldBlock[]): Uint8Array {
  const out = new Uint8Array(blocks.reduce((n, b) => n + 4 + b.data.length, 0));
  const dv = view(out);
  let at = 0;
  for (const b of blocks) {
    dv.setUint16(at, b.id, true);
    dv.setUint16(at + 2, b.data.length, true);
    out.set(b.data, at + 4);
    at += 4 + b.data.length;
  }
  return out;
}

/** Reads the signature block from the manifest entry's local extra field ({} when absent). */
export function readSignatureBlock(extra: Uint8Array): BundleExtra {
  const blocks = parseExtraField(extra).filter((b) => b.id === SIGNATURE_EXTRA_ID);
  if (blocks.length === 0) return {};
  if (blocks.length > 1) badExtra(`manifest.json carries ${blocks.length} signature blocks (0x293a); there must be at most one`);
  let text: string;
  try {
    text = utf8.decode(blocks[0]?.data);
  } catch (cause) {
    return badExtra('the signature block (0x293a) is not UTF-8', cause);
  }
  const value = parseStrictJson(text, 'firmware.signature.bad_block', 'the signature block (0x293a)');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) badExtra(`the signature block must be a JSON object, got ${text.slice(0, 40)}`);
  for (const [k, v] of Object.entries(value)) {
    if (v !== null && typeof v === 'object') badExtra(`signature block member ${JSON.stringify(k)} is not a string, number or boolean`);
  }
  return value as BundleExtra;
}

/** The manifest entry's new extra field: other blocks kept, the 0x293A block replaced (dropped if `attrs` is empty). */
export function withSignatureBlock(extra: Uint8Array, attrs: BundleExtra): Uint8Array {
  const others = parseExtraField(extra).filter((b) => b.id !== SIGNATURE_EXTRA_ID);
  const block = encodeSignatureBlock(attrs);
  return encodeExtraField(block.length === 0 ? others : [{ id: SIGNATURE_EXTRA_ID, data: block }, ...others]);
}

/** Compact JSON, keys sorted, as Go's json.Marshal of mos's map writes it. Empty when there is nothing to say. */
export function encodeSignatureBlock(attrs: BundleExtra): Uint8Array {
  if (Object.keys(attrs).length === 0) return new Uint8Array(0);
  const data = new TextEncoder().encode(encodeGoJson(attrs));
  if (data.length > 0xffff - 4) {
    throw new FirmwareError('firmware.signature.block_too_large', `the signature block would be ${data.length} bytes; a ZIP extra field holds at most 65531`, {
      hint: 'use fewer or shorter --extra-attr values',
    });
  }
  return data;
}

function badExtra(message: string, cause?: unknown): never {
  throw new FirmwareError('firmware.signature.bad_block', message, { hint: 'sign the bundle again with `espfleet fw sign`', cause });
}
