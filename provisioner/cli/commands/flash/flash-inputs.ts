// What `espfleet flash` writes: one fw.zip bundle (placed by planFlash, spec
// mongoose-os.md §1.4) or `addr file` pairs of raw images.
import { basename } from 'node:path';
import { readBundle } from '../../../../firmware-js/bundle/index.ts';
import { planFlash } from '../../../../firmware-js/flash-plan.ts';
import { readInputFile } from '../../../io/files.ts';
import type { WriteRegion } from '../../../session/index.ts';
import { numberArg, UsageError } from '../../args.ts';

export interface FlashInput {
  kind: 'bundle' | 'raw';
  /** Regions to write, each with the part name or file name for messages. */
  regions: Array<WriteRegion & { encrypt: boolean | null }>;
  /** For a bundle: its name and version. */
  title: string;
}

/** A zip starts with a local file header "PK\x03\x04". */
function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

export function readFlashInput(args: readonly string[], flashSize: number | null): FlashInput {
  if (args.length === 1 && !/^(0x[0-9a-f]+|\d+)[km]?$/i.test(args[0] as string)) {
    const path = args[0] as string;
    const bytes = readInputFile(path, 'firmware bundle');
    if (!looksLikeZip(bytes)) {
      throw new UsageError('cli.flash.bad_args', `${path} is not a fw.zip bundle, and raw images need an address`, {
        hint: 'give a bundle (espfleet flash -p PORT fw.zip) or address/file pairs (espfleet flash -p PORT 0x1000 boot.bin 0x10000 app.bin)',
      });
    }
    const bundle = readBundle(bytes);
    const plan = planFlash(bundle, flashSize === null ? {} : { flashSize });
    return {
      kind: 'bundle',
      title: `${bundle.manifest.name} ${bundle.manifest.version}`,
      // Each region keeps the bundle's platform: the board session refuses it on another chip
      // before writing (checkRegionsChip), whichever command installs it.
      regions: plan.map((r) => ({ address: r.address, bytes: r.bytes, name: r.part, encrypt: r.encrypt, platform: r.platform })),
    };
  }
  if (args.length === 0 || args.length % 2 !== 0) {
    throw new UsageError('cli.flash.bad_args', `expected a fw.zip or address/file pairs, got ${args.length} argument(s): ${args.join(' ')}`, {
      hint: 'e.g. espfleet flash -p PORT 0x1000 boot.bin 0x10000 app.bin',
    });
  }
  const regions: FlashInput['regions'] = [];
  for (let i = 0; i < args.length; i += 2) {
    const addrText = args[i] as string;
    const file = args[i + 1] as string;
    let address: number;
    try {
      address = numberArg(addrText);
    } catch {
      throw new UsageError('cli.flash.bad_address', `"${addrText}" is not a flash address (before ${file})`, { hint: 'use hex like 0x10000' });
    }
    regions.push({ address, bytes: readInputFile(file, 'image'), name: basename(file), encrypt: null });
  }
  return { kind: 'raw', title: `${regions.length} file(s)`, regions };
}
