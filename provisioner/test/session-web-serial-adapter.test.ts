// The Web-Serial-shaped adapter esptool-js drives, over a recording Transport: one
// setSignals call per change with the other line kept, in-place baud changes, stream
// lifetime; and the reset sequences as the board sees them (spec §1.13).
import { describe, expect, it } from 'vitest';
import { Transport as EsptoolTransport } from 'esptool-js';
import type { SerialSignals, Transport, TransportInfo } from '../transport/transport.ts';
import { WebSerialAdapter } from '../session/web-serial-adapter.ts';
import { TightReset, hardReset, resetConstructorFor } from '../session/resets.ts';

class RecordingTransport implements Transport {
  readonly info: TransportInfo = { url: 'test://rec', kind: 'serial', vendorId: '10c4', productId: 'ea60' };
  readonly calls: string[] = [];
  readonly signals: SerialSignals[] = [];
  readonly written: Uint8Array[] = [];
  private data = new Set<(c: Uint8Array) => void>();
  private closers = new Set<(r?: Error) => void>();
  async open() { this.calls.push('open'); }
  async close() { this.calls.push('close'); this.closers.forEach((l) => l()); }
  async write(d: Uint8Array) { this.written.push(d.slice()); }
  async setBaudRate(b: number) { this.calls.push(`baud ${b}`); }
  async setSignals(s: SerialSignals) { this.signals.push({ ...s }); }
  onData(l: (c: Uint8Array) => void) { this.data.add(l); return () => void this.data.delete(l); }
  onClose(l: (r?: Error) => void) { this.closers.add(l); return () => void this.closers.delete(l); }
  emit(bytes: number[]) { this.data.forEach((l) => l(Uint8Array.from(bytes))); }
}

describe('WebSerialAdapter', () => {
  it('maps each Web Serial setSignals to ONE transport call, keeping the other line', async () => {
    const t = new RecordingTransport();
    const a = new WebSerialAdapter(t);
    await a.setSignals({ requestToSend: true });
    await a.setSignals({ dataTerminalReady: true });
    await a.setSignals({ dataTerminalReady: false, requestToSend: false });
    expect(t.signals).toEqual([
      { dtr: false, rts: true },
      { dtr: true, rts: true },
      { dtr: false, rts: false },
    ]);
  });

  it('opens the transport once, changes baud in place, and reports USB ids', async () => {
    const t = new RecordingTransport();
    const a = new WebSerialAdapter(t);
    await a.open({ baudRate: 115200 });
    await a.close();
    await a.open({ baudRate: 115200 }); // esptool-js reopens after a failed detect
    await a.setBaudRate(921600);
    expect(t.calls).toEqual(['open', 'baud 115200', 'baud 115200', 'baud 921600']);
    expect(a.getInfo()).toEqual({ usbVendorId: 0x10c4, usbProductId: 0xea60 });
  });

  it('streams received bytes and ends the stream when the port closes', async () => {
    const t = new RecordingTransport();
    const a = new WebSerialAdapter(t);
    await a.open({ baudRate: 115200 });
    const reader = (a.readable as ReadableStream<Uint8Array>).getReader();
    t.emit([0xc0, 1, 2]);
    expect((await reader.read()).value).toEqual(Uint8Array.of(0xc0, 1, 2));
    const writer = (a.writable as WritableStream<Uint8Array>).getWriter();
    await writer.write(Uint8Array.of(9, 8));
    expect(t.written).toEqual([Uint8Array.of(9, 8)]);
    await t.close();
    expect((await reader.read()).done).toBe(true);
  });

  it('esptool-js SLIP-frames writes through it', async () => {
    const t = new RecordingTransport();
    const a = new WebSerialAdapter(t);
    await a.open({ baudRate: 115200 });
    const et = new EsptoolTransport(a as never, false);
    await et.write(Uint8Array.of(0xc0, 0xdb, 1));
    expect(t.written).toEqual([Uint8Array.of(0xc0, 0xdb, 0xdc, 0xdb, 0xdd, 1, 0xc0)]);
  });
});

describe('reset sequences (§1.13)', () => {
  const lines = (t: RecordingTransport) => t.signals.map((s) => `${+s.dtr}${+s.rts}`);
  async function run(make: (et: EsptoolTransport) => Promise<void>): Promise<string[]> {
    const t = new RecordingTransport();
    const a = new WebSerialAdapter(t);
    await a.open({ baudRate: 115200 });
    await make(new EsptoolTransport(a as never, false));
    return lines(t);
  }
  it('classic: EN low, then IO0 low with EN released, then both released', async () => {
    const classic = resetConstructorFor('classic');
    expect(await run((et) => (classic as NonNullable<typeof classic>)(et, 5).reset())).toEqual(['01', '10', '00']);
  });
  it('tight: never passes through a state that boots the app by accident', async () => {
    expect(await run((et) => new TightReset(et, 5).reset())).toEqual(['00', '11', '01', '10', '00']);
  });
  it('none: no reset constructor at all', () => expect(resetConstructorFor('none')).toBeUndefined());
  it('hard reset: EN pulsed with IO0 high', async () => {
    expect(await run((et) => hardReset(et))).toEqual(['01', '00']);
  });
});
