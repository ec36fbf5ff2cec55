// The updater's boot state in ESP-IDF's NVS format (spec mongoose-os.md §2.3, §9): what the
// double writes is compared with what Espressif's esp-idf-nvs-partition-gen generates for the
// same state (the reference), and a power cut at every programmed byte of a write — including
// one that rolls a page over and collects the oldest — leaves the old value or the new one.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, mgosPublicKeyConfig } from '../../firmware-js/bundle/index.ts';
import { expectOk, nvsPartitionGen, oracleAvailable } from '../../scripts/lib/oracles.ts';
import type { VirtualEsp32 } from '../index.ts';
import { ENTRY_STATE, NvsStore, PAGE_STATE, encodeBootWord, parseNvs, type NvsFlash, type ParsedNvs } from '../mongoose-os/index.ts';
import { ROOT_FS_DESCRIPTION } from '../mongoose-os/ota-updater.ts';
import { RawUart, mgosBoard } from './helpers/mgos-board.ts';
import { demoBundle, rpcOver, runningVersionOf, waitRebooted } from './helpers/mgos-ota.ts';

const NVS = { offset: 0x9000, size: 0x4000 };
const FIRST_BOOT_0_TO_1 = encodeBootWord({ oldSlot: 0, newSlot: 1, firstBoot: true, mergeFs: true });

/** Espressif's generator: the partition a real board holds for these rows (after `mgos,namespace`). */
async function reference(rows: Array<{ key: string; type: 'u32' | 'string'; value: number | string }>): Promise<Uint8Array> {
  const dir = mkdtempSync(join(tmpdir(), 'nvs-gen-'));
  const quote = (s: string) => (/[",]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const csv = ['key,type,encoding,value', 'mgos,namespace,,', ...rows.map((r) => `${r.key},data,${r.type},${quote(String(r.value))}`)].join('\n');
  writeFileSync(join(dir, 'in.csv'), `${csv}\n`);
  expectOk(await nvsPartitionGen(['generate', join(dir, 'in.csv'), join(dir, 'out.bin'), `0x${NVS.size.toString(16)}`]), 'esp-idf-nvs-partition-gen');
  return new Uint8Array(readFileSync(join(dir, 'out.bin')));
}

/** A partition image in memory; `budget` programmed bytes (an erase counts one) before the power goes. */
class CutFlash implements NvsFlash {
  programmed = 0;
  erases = 0;
  constructor(
    readonly image: Uint8Array,
    private budget = Infinity,
  ) {}
  read(o: number, l: number): Uint8Array {
    return this.image.slice(o - NVS.offset, o - NVS.offset + l);
  }
  write(o: number, d: Uint8Array): void {
    for (let i = 0; i < d.length; i++) {
      if (this.budget-- <= 0) throw new PowerCut();
      this.image[o - NVS.offset + i]! &= d[i]!; // NOR: programming only clears bits
      this.programmed++;
    }
  }
  erase(o: number, l: number): void {
    if (this.budget-- <= 0) throw new PowerCut();
    this.image.fill(0xff, o - NVS.offset, o - NVS.offset + l);
    this.erases++;
  }
}
class PowerCut extends Error {}

const blank = () => new Uint8Array(NVS.size).fill(0xff);
const store = (f: NvsFlash) => new NvsStore(f, NVS.offset, NVS.size);
const liveEntry = (p: ParsedNvs, key: string) => [...p.live.values()].find((i) => i.key === key && i.ns !== 0);

describe.skipIf(!oracleAvailable('nvs-gen'))('boot state NVS against esp-idf-nvs-partition-gen', () => {
  const states: Array<[string, number]> = [
    ['first boot 0 → 1 with FS merge', FIRST_BOOT_0_TO_1],
    ['first boot 1 → 0 with FS merge', encodeBootWord({ oldSlot: 1, newSlot: 0, firstBoot: true, mergeFs: true })],
    ['committed on 1 after 0', encodeBootWord({ oldSlot: 0, newSlot: 1, firstBoot: false, mergeFs: false })],
    ['tombstoned (0, 0)', 0],
  ];
  for (const [what, word] of states) {
    it(`${what} (update = ${word}): the double's partition is the generator's, byte for byte`, async () => {
      const ref = await reference([
        { key: 'update_old_fs', type: 'string', value: ROOT_FS_DESCRIPTION },
        { key: 'update', type: 'u32', value: word },
      ]);
      const f = new CutFlash(blank());
      store(f).set('mgos', 'update_old_fs', { type: 'str', value: ROOT_FS_DESCRIPTION });
      store(f).set('mgos', 'update', { type: 'u32', value: word });
      expect(Buffer.from(f.image).equals(Buffer.from(ref))).toBe(true);
      // and our parser reads the reference as the generator meant it
      const p = parseNvs(ref);
      expect(p.pages.map((pg) => [pg.state, pg.seq, pg.headerCrcOk])).toEqual([[PAGE_STATE.active, 0, true], [PAGE_STATE.empty, 0xffffffff, true], [PAGE_STATE.empty, 0xffffffff, true], [PAGE_STATE.empty, 0xffffffff, true]]);
      expect(p.namespaces.get('mgos')).toBe(1);
      expect(store(new CutFlash(ref.slice())).get('mgos', 'update')).toBe(word);
      expect(store(new CutFlash(ref.slice())).get('mgos', 'update_old_fs')).toBe(ROOT_FS_DESCRIPTION);
    });
  }

  describe('on the board, through an update', () => {
    const signer = generateSigningKey();
    const good = demoBundle({ signer, other: signer });
    let server: Server;
    let url: string;
    let chip: VirtualEsp32 | undefined;
    let uart: RawUart;
    beforeAll(async () => {
      server = createServer((_req, res) => {
        res.writeHead(200, { 'Content-Length': good.zip.length });
        res.end(Buffer.from(good.zip));
      });
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fw.zip`;
    });
    afterAll(() => new Promise((ok) => server.close(ok)));
    afterEach(() => {
      uart?.close();
      chip?.powerOff();
    });

    it('after finalize the nvs partition is the generator\'s for (0 → 1, first boot, merge); after tombstone and commit the live entries are the generator\'s for (0, 1)', async () => {
      chip = await mgosBoard({ files: { 'conf9.json': JSON.stringify({ update: { key0: mgosPublicKeyConfig(signer.publicKeyPem), sig_req_mask: 1 } }) } });
      uart = new RawUart(chip);
      expect(chip.flash.read(NVS.offset, NVS.size).every((b) => b === 0xff)).toBe(true); // as `mos flash` leaves it
      const finalized = new Promise<Uint8Array>((ok) => {
        // The image the moment otadata switches: after finalize, before the reboot.
        const off = chip!.onCommit(() => {
          if (!runningVersionOf(chip!)?.startsWith('app_0')) return;
          const nv = chip!.flash.read(NVS.offset, NVS.size).slice();
          if (parseNvs(nv).live.size >= 3) {
            off();
            ok(nv);
          }
        });
      });
      expect((await rpcOver(uart, 'OTA.Update', { url, commit_timeout: 300 }, 15_000)).error).toEqual({ code: 0, message: 'Update applied, finalizing' });
      const atFinalize = await finalized;
      const ref = await reference([
        { key: 'update_old_fs', type: 'string', value: ROOT_FS_DESCRIPTION },
        { key: 'update', type: 'u32', value: FIRST_BOOT_0_TO_1 },
      ]);
      expect(Buffer.from(atFinalize).equals(Buffer.from(ref))).toBe(true);

      await waitRebooted(uart);
      expect(runningVersionOf(chip)).toBe('app_1 1.3.0');
      expect((await rpcOver(uart, 'OTA.Commit')).error).toBeUndefined();
      const mine = parseNvs(chip.flash.read(NVS.offset, NVS.size).slice());
      const committed = parseNvs(await reference([
        { key: 'update_old_fs', type: 'string', value: ROOT_FS_DESCRIPTION },
        { key: 'update', type: 'u32', value: encodeBootWord({ oldSlot: 0, newSlot: 1, firstBoot: false, mergeFs: false }) },
      ]));
      // Position-independent: an entry's CRC covers ns, type, span, chunk, key and data, not its index.
      for (const key of ['update', 'update_old_fs']) expect(Buffer.from(liveEntry(mine, key)!.raw).toString('hex')).toBe(Buffer.from(liveEntry(committed, key)!.raw).toString('hex'));
      expect(Buffer.from(chip.flash.read(NVS.offset, 32)).equals(Buffer.from(ref.subarray(0, 32)))).toBe(true); // page 0 header: ACTIVE, seq 0
      // Three `update` values were written (first boot, tombstone, commit); the two old ones are ERASED.
      const updates = mine.pages[0]!.entries.filter((e) => Buffer.from(e.raw.subarray(8, 15)).toString('latin1') === 'update\u0000');
      expect(updates.map((e) => e.state)).toEqual([ENTRY_STATE.erased, ENTRY_STATE.erased, ENTRY_STATE.written]);
    }, 30_000);
  });
});

describe('boot state NVS under power cuts', () => {
  /** Cuts the write at every programmed byte: the value read back is the old one, then the new one, never anything else. */
  function sweep(start: Uint8Array, key: string, next: number): { steps: number; switchedAt: number } {
    const dry = new CutFlash(start.slice());
    const before = store(dry).get('mgos', key);
    store(dry).set('mgos', key, { type: 'u32', value: next });
    const steps = dry.programmed + dry.erases;
    let switchedAt = -1;
    for (let k = 0; k <= steps; k++) {
      const f = new CutFlash(start.slice(), k);
      try {
        store(f).set('mgos', key, { type: 'u32', value: next });
      } catch (e) {
        if (!(e instanceof PowerCut)) throw e;
      }
      const after = new CutFlash(f.image);
      const got = store(after).get('mgos', key);
      if (switchedAt < 0 && got === next) switchedAt = k;
      expect(got, `cut after ${k} of ${steps}`).toBe(switchedAt >= 0 ? next : before);
      expect(store(after).get('mgos', 'update_old_fs'), `cut after ${k}`).toBe(ROOT_FS_DESCRIPTION);
      // The board writes again after the cut: that works, and leaves one live copy.
      store(after).set('mgos', key, { type: 'u32', value: 0x77 });
      expect(store(after).get('mgos', key)).toBe(0x77);
      expect([...store(after).parse().live.values()].filter((i) => i.key === key)).toHaveLength(1);
    }
    return { steps, switchedAt };
  }

  const finalized = () => {
    const f = new CutFlash(blank());
    store(f).set('mgos', 'update_old_fs', { type: 'str', value: ROOT_FS_DESCRIPTION });
    store(f).set('mgos', 'update', { type: 'u32', value: FIRST_BOOT_0_TO_1 });
    return f.image;
  };

  it('the first-boot tombstone (0x310 → 0): the new value counts only once its bitmap state is WRITTEN', () => {
    const { steps, switchedAt } = sweep(finalized(), 'update', 0);
    expect(steps).toBe(32 + 1 + 1); // the entry, its state byte, the old one's state byte
    expect(switchedAt).toBe(33);
  });

  it('a write that fills the page, rolls over and collects the oldest page', () => {
    // Toggle the word until a write erases (the collection of a full page), then sweep that write.
    let image = finalized();
    let value = 1;
    for (;;) {
      const f = new CutFlash(image.slice());
      store(f).set('mgos', 'update', { type: 'u32', value });
      if (f.erases > 0) break;
      image = f.image;
      value = value === 1 ? 2 : 1;
    }
    const p = parseNvs(image);
    // two FULL, the ACTIVE one with no entry left, one spare
    expect(p.pages.map((pg) => pg.state)).toEqual([PAGE_STATE.full, PAGE_STATE.full, PAGE_STATE.active, PAGE_STATE.empty]);
    expect(p.pages[2]!.nextFree).toBe(126);
    const { steps, switchedAt } = sweep(image, 'update', value);
    expect(steps).toBeGreaterThan(40);
    expect(switchedAt).toBeGreaterThan(0);
  });

  it('an erased (0xFF) partition, as `mos flash` leaves it, holds no boot state', () => {
    expect(store(new CutFlash(blank())).get('mgos', 'update')).toBeUndefined();
  });
});
