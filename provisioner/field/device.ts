// A Mongoose OS board over USB for the field commands (spec mongoose-os.md §3.3): what mos
// call / config-get / config-set / ls / get / put / rm / reboot do, as data-returning
// functions over the RPC channel. The CLI only renders.
import { createTransport } from '../transport/open-transport.ts';
import type { Transport } from '../transport/transport.ts';
import { RpcChannel, type RpcChannelOptions } from '../rpc/channel.ts';
import { RpcError } from '../rpc/errors.ts';
import { MAX_FRAME_SIZE, asciiJson } from '../rpc/frame.ts';
import { assignmentTree, parseAssignments, type ConfigObject } from './config-assign.ts';
import { FieldError } from './errors.ts';

export type DeviceOptions = RpcChannelOptions;

export interface DeviceInfo {
  id: string;
  app: string;
  fwVersion: string;
  fwId: string;
  mgVersion: string;
  mac: string;
  arch: string;
  uptime: number;
  fsSize: number;
  fsFree: number;
  raw: Record<string, unknown>;
}

export interface Progress {
  done: number;
  total: number;
}

/** Largest raw file chunk whose FS.Put frame (ids up to 2^41, offsets up to 2^31) stays within the frame limit. */
export function maxPutChunk(filename: string, src = 'espfleet'): number {
  const overhead = asciiJson({ id: 2 ** 41, src, method: 'FS.Put', params: { filename, data: '', offset: 2 ** 31, append: true } }).length + 8;
  const chunk = Math.floor((MAX_FRAME_SIZE - overhead) / 4) * 3;
  if (chunk <= 0) throw new FieldError('field.fs.name_too_long', `the file name ${filename} leaves no room for data in a ${MAX_FRAME_SIZE}-byte frame`);
  return chunk;
}

/** FS.Get replies must fit the frame limit too; 2048 raw bytes are 2732 in base64. */
export const GET_CHUNK = 2048;

export class MgosDevice {
  private constructor(readonly channel: RpcChannel) {}

  static async open(port: string | Transport, opts: DeviceOptions = {}): Promise<MgosDevice> {
    const transport = typeof port === 'string' ? createTransport(port) : port;
    // Mongoose OS's UART runs at 115200 (rpc.uart.baud_rate) unless told otherwise.
    return new MgosDevice(await RpcChannel.open(transport, { baud: 115_200, ...opts }));
  }

  close(): Promise<void> {
    return this.channel.close();
  }

  call(method: string, params?: unknown, opts?: { timeoutMs?: number }): Promise<unknown> {
    return this.channel.call(method, params, opts);
  }

  async info(): Promise<DeviceInfo> {
    const r = (await this.channel.call('Sys.GetInfo')) as Record<string, unknown> | null;
    if (!r || typeof r !== 'object') throw new RpcError('rpc.bad_reply', `Sys.GetInfo returned ${JSON.stringify(r)}, not an object`);
    const s = (k: string) => (typeof r[k] === 'string' ? (r[k] as string) : '');
    const n = (k: string) => (typeof r[k] === 'number' ? (r[k] as number) : 0);
    return { id: s('id'), app: s('app'), fwVersion: s('fw_version'), fwId: s('fw_id'), mgVersion: s('mg_version'), mac: s('mac'), arch: s('arch'), uptime: n('uptime'), fsSize: n('fs_size'), fsFree: n('fs_free'), raw: r };
  }

  configGet(key?: string, level?: number): Promise<unknown> {
    const params: Record<string, unknown> = {};
    if (key) params.key = key;
    if (level !== undefined) params.level = level;
    return this.channel.call('Config.Get', params);
  }

  /**
   * mos config-set: read the config, check every key and type, send Config.Set with the diff,
   * fall back to Config.Save if the board did not save, and wait out a reboot.
   */
  async configSet(args: readonly string[], opts: { save?: boolean; reboot?: boolean; tryOnce?: boolean; level?: number } = {}): Promise<{ set: ConfigObject; saved: boolean; rebooted: boolean }> {
    const save = opts.save ?? true;
    const reboot = save && (opts.reboot ?? true);
    const current = await this.channel.call('Config.Get', opts.level === undefined ? {} : { level: opts.level });
    const set = assignmentTree(parseAssignments(args, current));
    const watch = reboot ? this.channel.watchReboot() : undefined;
    const params: Record<string, unknown> = { config: set, save, reboot, try_once: opts.tryOnce ?? false };
    if (opts.level !== undefined) params.level = opts.level;
    const r = (await this.channel.call('Config.Set', params)) as { saved?: unknown } | null;
    let saved = r?.saved === true;
    if (save && !saved) {
      const s = (await this.channel.call('Config.Save', { reboot, try_once: opts.tryOnce ?? false })) as { saved?: unknown } | null;
      saved = s?.saved === true;
    }
    if (watch) await watch.wait();
    return { set, saved, rebooted: reboot };
  }

  async fsList(path = '/'): Promise<Array<{ name: string; size: number }>> {
    const r = await this.channel.call('FS.ListExt', { path });
    if (!Array.isArray(r)) throw new RpcError('rpc.bad_reply', `FS.ListExt returned ${JSON.stringify(r)}, not a list`);
    return r.map((e: { name?: unknown; size?: unknown }) => ({ name: String(e.name), size: Number(e.size) }));
  }

  async fsGet(filename: string, onProgress?: (p: Progress) => void): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let offset = 0;
    for (;;) {
      const r = (await this.channel.call('FS.Get', { filename, offset, len: GET_CHUNK })) as { data?: unknown; left?: unknown } | null;
      if (!r || typeof r.data !== 'string' || typeof r.left !== 'number') throw new RpcError('rpc.bad_reply', `FS.Get returned ${JSON.stringify(r)?.slice(0, 80)}`);
      const chunk = new Uint8Array(Buffer.from(r.data, 'base64'));
      parts.push(chunk);
      offset += chunk.length;
      onProgress?.({ done: offset, total: offset + r.left });
      if (r.left === 0) break;
      if (chunk.length === 0) throw new RpcError('rpc.bad_reply', `FS.Get of ${filename} returned no data at offset ${offset} with ${r.left} bytes left`);
    }
    return new Uint8Array(Buffer.concat(parts));
  }

  /** mos put: first chunk offset 0 (truncate), then offset N with append; each chunk retried by the channel. */
  async fsPut(filename: string, data: Uint8Array, opts: { chunkSize?: number; onProgress?: (p: Progress) => void } = {}): Promise<{ bytes: number; chunks: number }> {
    const max = maxPutChunk(filename);
    const chunk = opts.chunkSize ?? max;
    if (chunk > max) throw new FieldError('field.fs.chunk_too_big', `a ${chunk}-byte chunk of ${filename} would not fit the ${MAX_FRAME_SIZE}-byte frame limit`, { hint: `use --chunk-size ${max} or less` });
    let chunks = 0;
    for (let offset = 0; offset === 0 || offset < data.length; offset += chunk) {
      const part = data.subarray(offset, offset + chunk);
      await this.channel.call('FS.Put', { filename, data: Buffer.from(part).toString('base64'), offset, append: offset > 0 });
      chunks++;
      opts.onProgress?.({ done: Math.min(data.length, offset + chunk), total: data.length });
      if (data.length === 0) break;
    }
    const listed = (await this.fsList('/')).find((e) => e.name === filename.replace(/^\//, ''));
    if (listed && listed.size !== data.length) {
      throw new RpcError('rpc.fs.size_mismatch', `${filename} is ${listed.size} bytes on the board after the upload, not ${data.length}`, { hint: 'run the command again' });
    }
    return { bytes: data.length, chunks };
  }

  async fsRemove(filename: string): Promise<void> {
    await this.channel.call('FS.Remove', { filename });
  }

  async reboot(opts: { delayMs?: number; wait?: boolean } = {}): Promise<void> {
    const watch = opts.wait === false ? undefined : this.channel.watchReboot();
    await this.channel.call('Sys.Reboot', { delay_ms: opts.delayMs ?? 100 }, { expectReboot: true, retries: 0 });
    await watch?.wait();
  }
}

export async function withDevice<T>(port: string, opts: DeviceOptions, fn: (d: MgosDevice) => Promise<T>): Promise<T> {
  const device = await MgosDevice.open(port, opts);
  try {
    return await fn(device);
  } finally {
    await device.close();
  }
}
