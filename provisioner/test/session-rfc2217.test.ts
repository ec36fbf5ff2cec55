// The same board session over RFC 2217 (the lead's Rfc2217Transport against the virtual
// board's server): reset through COM-PORT-OPTION control lines, baud change, sector-
// skipping writes, and a server that goes away mid-write.
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { connectBoard, type BoardSession } from '../session/index.ts';
import { SessionError } from '../session/errors.ts';
import { flashBytes, testBoard, type TestBoard } from './session-fixtures.ts';

const boards: TestBoard[] = [];
const sessions: BoardSession[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) await s.close();
  for (const b of boards.splice(0)) await b.dispose();
});
function board(opts: Parameters<typeof testBoard>[0] = {}): TestBoard {
  const b = testBoard(opts);
  boards.push(b);
  return b;
}
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
const fill = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * seed + (i >>> 9)) & 0xff);

describe('board session over RFC 2217', () => {
  it('reads the facts, writes, skips what matches, and verifies', async () => {
    const b = board({ mac: '30:ae:a4:01:02:03', flashSize: '16MB' });
    const url = await b.rfc2217();
    const s = await connectBoard(url, { baud: 460800 });
    sessions.push(s);
    expect(b.server?.baudHistory).toContain(460800);
    const f = await s.chipFacts();
    expect(f).toMatchObject({ mac: '30:ae:a4:01:02:03', revision: { major: 3 }, flash: { sizeBytes: 16 << 20 }, crystalMHz: 40 });

    const data = fill(0x18000, 13);
    const [first] = await s.writeRegions([{ address: 0x9000, bytes: data }]);
    expect(first).toMatchObject({ sectorsWritten: 0x18, sectorsSkipped: 0, md5: md5(data) });
    expect(flashBytes(b.chip, 0x9000, data.length)).toEqual(data);
    const [second] = await s.writeRegions([{ address: 0x9000, bytes: data }]);
    expect(second).toMatchObject({ sectorsWritten: 0, sectorsSkipped: 0x18 });
    expect(await s.readFlash(0x9000, 0x2100)).toEqual(data.subarray(0, 0x2100));
  });

  it('a wrong chip over the network is refused the same way', async () => {
    const b = board({ chipMagic: 0x000007c6 }); // ESP32-S2's magic
    const err = await connectBoard(await b.rfc2217(), {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionError);
    expect((err as SessionError).code).toBe('session.wrong_chip');
    expect((err as SessionError).message).toContain('0x000007c6');
  });

  it('a second client turned away by the server fails opening the port, saying who holds it', async () => {
    const b = board();
    const url = await b.rfc2217();
    const first = await connectBoard(url, {});
    sessions.push(first);
    const err = await connectBoard(url, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionError);
    // Refused in open(), before any reset or sync: no ROM-loader timeouts are involved.
    expect((err as SessionError).code).toBe('session.port_busy');
    expect((err as SessionError).message).toMatch(/in use by 127\.0\.0\.1:\d+ since /);
    expect((err as SessionError).hint).toMatch(/close the other program/);
    expect((await first.chipFacts()).chip).toBe('ESP32'); // the first session is untouched
  });

  it('a port with nothing listening is one clear error', async () => {
    const err = await connectBoard('rfc2217://127.0.0.1:1', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionError);
    expect((err as SessionError).code).toBe('session.port_not_found');
    expect((err as SessionError).message).toContain('rfc2217://127.0.0.1:1');
  });

  it('the server going away mid-write gives session.port_vanished, and a re-run repairs', async () => {
    const b = board();
    const url = await b.rfc2217();
    const s = await connectBoard(url, {});
    sessions.push(s);
    const data = fill(0x30000, 5);
    let cut = false;
    const err = await s
      .writeRegions([{ address: 0x110000, bytes: data }], {
        onProgress: (p) => {
          if (!cut && p.phase === 'write' && p.done > 0) {
            cut = true;
            void b.server?.close();
          }
        },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionError);
    expect((err as SessionError).code).toBe('session.port_vanished');

    b.server = undefined;
    const again = await connectBoard(await b.rfc2217(), {});
    sessions.push(again);
    await again.writeRegions([{ address: 0x110000, bytes: data }]);
    expect(flashBytes(b.chip, 0x110000, data.length)).toEqual(data);
  });
});
