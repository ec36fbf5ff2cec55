// SimTransport keeps the Transport contract (provisioner/transport/transport.ts): open first,
// ordered writes, signals in one call, idempotent close, closed transports reject.
import { describe, expect, it } from 'vitest';
import { createTransport } from '../../provisioner/transport/open-transport.ts';
import { SimTransport, VirtualEsp32, registerSimBoard } from '../index.ts';
import { slipEncode } from '../virtual-esp32/slip.ts';
import { sleep } from './helpers/slip-host.ts';

describe('SimTransport', () => {
  it('resolves sim://name, delivers the banner after a reset and the reply to a request', async () => {
    const chip = new VirtualEsp32({ name: 'unit' });
    const off = registerSimBoard('unit', chip);
    chip.powerOn();
    const t = createTransport('sim://unit');
    expect(t.info).toEqual({ url: 'sim://unit', kind: 'sim' });
    await expect(t.write(Uint8Array.of(1))).rejects.toMatchObject({ code: 'transport.not_open' });
    await t.open();
    const got: number[] = [];
    t.onData((b) => got.push(...b));
    await t.setSignals({ dtr: false, rts: true });
    await t.setSignals({ dtr: true, rts: false });
    await sleep(20);
    await t.setSignals({ dtr: false, rts: false });
    expect(Buffer.from(got).toString('latin1')).toContain('waiting for download');
    got.length = 0;
    await t.write(slipEncode(Uint8Array.from([0, 0x0a, 4, 0, 0, 0, 0, 0, 0x00, 0x10, 0x00, 0x40])));
    await chip.idle();
    expect(Buffer.from(got).toString('hex')).toBe('c0010a0400831df00000000000c0');
    let closed = 0;
    t.onClose(() => closed++);
    await t.close();
    await t.close();
    expect(closed).toBe(1);
    await expect(t.setSignals({ dtr: false, rts: false })).rejects.toMatchObject({ code: 'transport.closed' });
    off();
    expect(() => createTransport('sim://unit')).toThrow(expect.objectContaining({ code: 'transport.not_found' }));
    expect(new SimTransport(chip).info.url).toBe('sim://unit');
  });
});
