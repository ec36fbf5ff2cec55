// The Transport conformance suite (provisioner/transport/transport.ts "Contract"): one set of
// tests that every transport passes against a real far end — node-serialport over
// binding-mock, RFC 2217 over the virtual board's server, `sim://` in process. A new
// transport runs it too; differences between transports show up here, not in the field.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransportError } from '../transport/errors.ts';
import type { SerialSignals, Transport } from '../transport/transport.ts';

/** The board side of the wire, as the suite needs to see it. */
export interface TransportPeer {
  /** Every byte the far end has received so far, in order. */
  received(): Uint8Array;
  /** Sends bytes from the far end to the host. */
  send(bytes: Uint8Array): void;
  /** DTR/RTS as the far end last saw them. */
  signals(): SerialSignals;
  /** The far end goes away without the host closing (cable pulled, server gone). */
  vanish(): void | Promise<void>;
}

export interface TransportFixture {
  /** A new Transport object for the same port (a second opener, when called twice). */
  make(): Transport;
  peer: TransportPeer;
  dispose(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (done()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting until ${what}`);
}

function collect(t: Transport): { bytes(): Uint8Array } {
  const chunks: Uint8Array[] = [];
  t.onData((c) => chunks.push(c));
  return { bytes: () => Uint8Array.from(Buffer.concat(chunks)) };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(TransportError);
    return (e as TransportError).code;
  }
  return 'resolved';
}

export function transportSuite(name: string, makeFixture: () => Promise<TransportFixture>): void {
  describe(`Transport contract: ${name}`, () => {
    let fx: TransportFixture;
    let opened: Transport[] = [];
    const make = () => {
      const t = fx.make();
      opened.push(t);
      return t;
    };

    beforeEach(async () => {
      fx = await makeFixture();
      opened = [];
    });
    afterEach(async () => {
      for (const t of opened) await t.close();
      await fx.dispose();
    });

    it('refuses every call before open with transport.not_open', async () => {
      const t = make();
      expect(await codeOf(t.write(Uint8Array.of(1)))).toBe('transport.not_open');
      expect(await codeOf(t.setSignals({ dtr: false, rts: false }))).toBe('transport.not_open');
      expect(await codeOf(t.setBaudRate(115200))).toBe('transport.not_open');
    });

    it('carries bytes both ways, in order', async () => {
      const t = make();
      await t.open();
      const got = collect(t);
      const up = Uint8Array.from(randomBytes(300));
      await t.write(up.subarray(0, 100));
      await t.write(up.subarray(100));
      await until('the far end has 300 bytes', () => fx.peer.received().length >= 300);
      expect(Buffer.from(fx.peer.received()).equals(up)).toBe(true);
      const down = Uint8Array.from(randomBytes(200));
      fx.peer.send(down.subarray(0, 50));
      fx.peer.send(down.subarray(50));
      await until('the host has 200 bytes', () => got.bytes().length >= 200);
      expect(Buffer.from(got.bytes()).equals(down)).toBe(true);
    });

    it('keeps large concurrent writes whole and in order (back-pressure, no overlap)', async () => {
      const t = make();
      await t.open();
      const parts = [0, 1, 2, 3].map(() => Uint8Array.from(randomBytes(64 * 1024)));
      await Promise.all(parts.map((p) => t.write(p)));
      const all = Buffer.concat(parts);
      await until('the far end has 256 KiB', () => fx.peer.received().length >= all.length);
      expect(Buffer.from(fx.peer.received()).equals(all)).toBe(true);
    });

    it('sets DTR and RTS together in one call', async () => {
      const t = make();
      await t.open();
      await t.setSignals({ dtr: true, rts: false });
      await until('the far end sees DTR on', () => fx.peer.signals().dtr);
      expect(fx.peer.signals()).toEqual({ dtr: true, rts: false });
      await t.setSignals({ dtr: false, rts: true });
      await until('the far end sees RTS on', () => fx.peer.signals().rts);
      expect(fx.peer.signals()).toEqual({ dtr: false, rts: true });
    });

    it('has one opener at a time: a second is refused with transport.busy until the first closes', async () => {
      const first = make();
      await first.open();
      const second = make();
      expect(await codeOf(second.open())).toBe('transport.busy');
      await first.close();
      await second.open();
      await second.write(Uint8Array.of(0x5a));
      await until('the far end has the byte', () => fx.peer.received().includes(0x5a));
    });

    it('closes idempotently: onClose fires once with no reason, later calls reject with transport.closed', async () => {
      const t = make();
      await t.open();
      const reasons: (Error | undefined)[] = [];
      t.onClose((r) => reasons.push(r));
      await t.close();
      await t.close();
      expect(reasons).toEqual([undefined]);
      expect(await codeOf(t.write(Uint8Array.of(1)))).toBe('transport.closed');
      expect(await codeOf(t.setSignals({ dtr: false, rts: false }))).toBe('transport.closed');
      expect(await codeOf(t.setBaudRate(115200))).toBe('transport.closed');
    });

    it('delivers nothing after close, and rejects writes still queued behind a pending one', async () => {
      const t = make();
      await t.open();
      const got = collect(t);
      const pending = t.write(Uint8Array.from(randomBytes(64 * 1024)));
      const queued = t.write(Uint8Array.of(1, 2, 3));
      pending.catch(() => undefined);
      await t.close();
      expect(await codeOf(queued)).toBe('transport.closed');
      await sleep(20);
      const before = got.bytes().length;
      try {
        fx.peer.send(Uint8Array.of(9, 9, 9));
      } catch {
        // Some far ends cannot send with nobody listening; that is fine too.
      }
      await sleep(30);
      expect(got.bytes().length).toBe(before);
    });

    it('opens again after a close, and a vanish after the reopen reads as transport.vanished', async () => {
      const t = make();
      await t.open();
      await t.close();
      await t.open();
      await t.write(Uint8Array.of(0x42));
      await until('the far end has the byte', () => fx.peer.received().includes(0x42));
      const reasons: (Error | undefined)[] = [];
      t.onClose((r) => reasons.push(r));
      await fx.peer.vanish();
      await until('onClose fired', () => reasons.length > 0);
      expect(reasons).toHaveLength(1);
      expect(reasons[0]).toBeInstanceOf(TransportError);
      expect((reasons[0] as TransportError).code).toBe('transport.vanished');
      expect(await codeOf(t.write(Uint8Array.of(1)))).toBe('transport.closed');
    });
  });
}
