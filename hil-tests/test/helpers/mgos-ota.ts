// What the OTA tests of the Mongoose OS double share: RPC over the raw UART, demo bundles
// signed (or not) by a test key, the running slot from the boot log, otadata's slot, a power
// cycle, and reading an encrypted app back through esptool + espsecure.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { signBundle, writeBundle } from '../../../firmware-js/bundle/index.ts';
import { parseOtadata } from '../../../firmware-js/partition/otadata.ts';
import { makeDemoFirmware } from '../../../firmware-js/testgen/demo-firmware.ts';
import { espsecure, esptool, expectOk } from '../../../scripts/lib/oracles.ts';
import { Rfc2217Server, type VirtualEsp32 } from '../../index.ts';
import { waitFor, type RawUart } from './mgos-board.ts';
import { clean } from './served-board.ts';

export const APP_1 = 0x1d0000;

export type Reply = { id: number; result?: unknown; error?: { code: number; message: string } };

let nextId = 1;

/** One RPC frame over UART0 and its reply (by id). */
export async function rpcOver(uart: RawUart, method: string, params?: unknown, ms = 3_000): Promise<Reply> {
  const id = nextId++;
  uart.send(`${JSON.stringify({ id, method, ...(params === undefined ? {} : { params }) })}\n`);
  const rx = await uart.until((r) => r.includes(`{"id":${id},`) && /\{"id":\d+,[^\n]*\}\n/.test(r.slice(r.indexOf(`{"id":${id},`))), method, ms);
  const line = rx.split('\n').find((l) => l.startsWith(`{"id":${id},`));
  return JSON.parse(line!) as Reply;
}

export interface BundleOptions {
  version?: string;
  platform?: string;
  /** 'good' signs with `keys.signer`, 'other' with `keys.other`. */
  sign?: 'good' | 'other' | 'none';
  slot?: number;
}

/** The demo firmware as a fw.zip (re-packed when the platform changes), signed as asked. */
export function demoBundle(keys: { signer: { privateKeyPem: string }; other: { privateKeyPem: string } }, opts: BundleOptions = {}): { zip: Uint8Array; app: Uint8Array } {
  const fw = makeDemoFirmware({ version: opts.version ?? '1.3.0', seed: 7 });
  let zip = fw.bundle;
  if (opts.platform) {
    const name = fw.manifest.name ?? 'espfleet-demo';
    const files = new Map<string, Uint8Array>([
      ['bootloader.bin', fw.parts.boot],
      ['partitions_mgos.bin', fw.parts.pt],
      ['otadata.bin', fw.parts.otadata],
      [`${name}.bin`, fw.parts.app],
      ['fs.img', fw.parts.fs],
    ]);
    zip = writeBundle({ manifest: { ...fw.manifest, platform: opts.platform }, files });
  }
  if (opts.sign !== 'none') zip = signBundle(zip, opts.sign === 'other' ? keys.other.privateKeyPem : keys.signer.privateKeyPem, opts.slot ?? 0);
  return { zip, app: fw.parts.app };
}

/** Waits for the software reset and the next "Init done", then clears the UART buffer. */
export async function waitRebooted(uart: RawUart, ms = 3_000): Promise<void> {
  await waitFor(() => uart.peek().includes('SW_CPU_RESET') && uart.peek().includes('Init done'), 'the reboot', ms);
  uart.take();
}

/** "app_1 1.3.0": the slot and version the boot check ran last. */
export function runningVersionOf(chip: VirtualEsp32): string | undefined {
  return /would run app '(\w+)' at 0x[0-9a-f]+, version (\S+)/.exec(chip.bootLog())?.slice(1).join(' ');
}

/** The app slot otadata selects for the next boot (read through the chip's flash, as the bootloader does). */
export function otadataSlotOf(chip: VirtualEsp32): number | undefined {
  const c = parseOtadata(chip.flash.read(0xd000, 0x2000)).bootSlot(2);
  return c.kind === 'ota' ? c.index : undefined;
}

export async function powerCycleBoard(chip: VirtualEsp32, uart: RawUart): Promise<void> {
  chip.powerOff();
  uart.take();
  chip.powerOn();
  await waitFor(() => chip.state === 'app' && chip.bootLog().includes('Init done'), 'the boot after power-on');
  uart.take();
}

/**
 * esptool read-flash over RFC 2217 + espsecure decrypt-flash-data: asserts app_1 holds
 * ciphertext on flash and `app` once decrypted with `key`.
 */
export async function expectEncryptedApp1(chip: VirtualEsp32, key: Uint8Array, app: Uint8Array): Promise<void> {
  const server = new Rfc2217Server(chip);
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  try {
    const dir = mkdtempSync(join(tmpdir(), 'mgos-ota-'));
    const raw = join(dir, 'raw.bin');
    const len = Math.ceil(app.length / 0x1000) * 0x1000;
    const out = await esptool(['--port', url, '--after', 'no-reset', 'read-flash', `0x${APP_1.toString(16)}`, `0x${len.toString(16)}`, raw], { timeoutMs: 170_000 });
    expect(out.code, clean(out)).toBe(0);
    expect(Buffer.from(readFileSync(raw)).subarray(0, app.length).equals(Buffer.from(app))).toBe(false); // ciphertext on flash
    writeFileSync(join(dir, 'key.bin'), key);
    const plain = join(dir, 'plain.bin');
    expectOk(await espsecure(['decrypt-flash-data', '--keyfile', join(dir, 'key.bin'), '--address', `0x${APP_1.toString(16)}`, '--output', plain, raw]), 'espsecure');
    expect(Buffer.from(readFileSync(plain)).subarray(0, app.length).equals(Buffer.from(app))).toBe(true);
  } finally {
    await server.close();
  }
}
