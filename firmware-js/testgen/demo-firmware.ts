// A valid Mongoose OS ESP32 firmware bundle built from generated parts, because
// real Mongoose OS builds cannot be produced here. Parts and attributes follow the
// ESP32 build's FW_PARTS (spec mongoose-os.md §1.2) and the default layout (§7).
import { writeBundle, type Manifest } from '../bundle/index.ts';
import { buildLittlefs } from '../littlefs/index.ts';
import { MGOS_ESP32_OFFSETS, MGOS_ESP32_PARTITIONS, findPartition } from '../partition/index.ts';
import { makeAppImage, makeBootloaderImage, makeOtadataImage, makePartitionTableImage } from './images.ts';

export interface DemoFirmwareOptions {
  version?: string;
  /** Approximate app image size in bytes (≤ the 1.5 MiB app slot). */
  appSize?: number;
  /**
   * Files of the root filesystem: the agent's fs/ files (`agent/agent-files.ts` reads them;
   * `fw demo-bundle` passes them by default). Per-device files are refused (§2.5). Without
   * this a firmware-only placeholder fs is built (for tests that do not run scripts).
   */
  fsFiles?: Record<string, Uint8Array>;
  name?: string;
  /** Fixes build_timestamp so bundles are reproducible. */
  buildTime?: Date;
  seed?: number;
}

export interface DemoFirmware {
  bundle: Uint8Array;
  manifest: Manifest;
  parts: { boot: Uint8Array; pt: Uint8Array; otadata: Uint8Array; app: Uint8Array; fs: Uint8Array };
}

const PLATFORM = 'esp32';

export function makeDemoFirmware(opts: DemoFirmwareOptions = {}): DemoFirmware {
  const version = opts.version ?? '1.0.0';
  const name = opts.name ?? 'espfleet-demo';
  const buildTime = opts.buildTime ?? new Date(Date.UTC(2026, 0, 1));
  const fsPartition = findPartition(MGOS_ESP32_PARTITIONS, 'fs_0');
  if (!fsPartition) throw new Error('default layout lacks fs_0');
  const fsFiles = { 'conf0.json': new TextEncoder().encode('{}\n'), ...(opts.fsFiles ?? placeholderFsFiles(name, version)) };
  const perDevice = Object.keys(fsFiles).filter(isPerDeviceFile);
  if (perDevice.length) throw new Error(`per-device files do not belong in a firmware fs (they would overwrite each board's own on update): ${perDevice.join(', ')}`);
  const parts = {
    boot: makeBootloaderImage(),
    pt: makePartitionTableImage(MGOS_ESP32_PARTITIONS),
    otadata: makeOtadataImage(1),
    app: makeAppImage({ version, projectName: name, appSize: opts.appSize, seed: opts.seed }),
    fs: buildLittlefs({
      size: fsPartition.size,
      files: Object.entries(fsFiles).map(([path, data]) => ({ path, data })),
    }),
  };
  const stamp = buildTime.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const manifest: Manifest = {
    name,
    platform: PLATFORM,
    version,
    build_id: `${stamp.replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}/${version}@espfleet-demo`,
    build_timestamp: stamp,
    parts: {
      boot: { type: 'boot', addr: MGOS_ESP32_OFFSETS.bootloader, src: 'bootloader.bin', encrypt: true, update: false },
      pt: { type: 'pt', addr: MGOS_ESP32_OFFSETS.partitionTable, src: 'partitions_mgos.bin', encrypt: true },
      otadata: { type: 'otadata', ptn: 'otadata', src: 'otadata.bin', encrypt: true },
      nvs: { type: 'nvs', ptn: 'nvs', size: 0x4000, fill: 0xff, encrypt: false },
      app: { type: 'app', ptn: 'app_0', src: `${name}.bin`, encrypt: true },
      fs: { type: 'fs', ptn: 'fs_0', src: 'fs.img', fs_size: fsPartition.size, fs_block_size: 4096, encrypt: true },
    },
  };
  const files = new Map<string, Uint8Array>([
    ['bootloader.bin', parts.boot],
    ['partitions_mgos.bin', parts.pt],
    ['otadata.bin', parts.otadata],
    [`${name}.bin`, parts.app],
    ['fs.img', parts.fs],
  ]);
  const bundle = writeBundle({ manifest, files });
  return { bundle, manifest, parts };
}

/**
 * conf1..9.json (and their .try files), certificates and keys are a board's own: §2.5's FS
 * merge keeps device copies only when the new firmware fs does not have the name.
 */
export function isPerDeviceFile(path: string): boolean {
  const name = path.replace(/^.*\//, '');
  return /^conf[1-9]\.json(\.try)?$/.test(name) || /\.(pem|crt|key|der)$/i.test(name);
}

/** A firmware-only fs for callers that pass no files: an init.js that says what it is (conf0.json is added always). */
function placeholderFsFiles(name: string, version: string): Record<string, Uint8Array> {
  const text = (s: string) => new TextEncoder().encode(s);
  return {
    'init.js': text(`// ${name} ${version}: placeholder root filesystem built by espfleet's test-firmware generator.\nprint('${name} ${version}');\n`),
  };
}
