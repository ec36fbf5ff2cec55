// A second client on a busy RFC 2217 port (issue 10): the server says who holds the port,
// the client reports transport.busy / session.port_busy in one line — not a wrong
// "no answer from the ROM loader" followed by a stray no_ack stack trace.
import { describe, expect, it } from 'vitest';
import { TransportError } from '../transport/errors.ts';
import { Rfc2217Transport } from '../transport/rfc2217-transport.ts';
import { espfleet } from './cli-harness.ts';
import { boardsPerTest } from './session-fixtures.ts';

const board = boardsPerTest();

async function holdPort(url: string): Promise<Rfc2217Transport> {
  const first = new Rfc2217Transport(url);
  await first.open();
  await first.setBaudRate(115200); // negotiated and acknowledged: the server has a client
  return first;
}

describe('a busy rfc2217:// port', () => {
  it('open() of a second client fails with transport.busy naming the holder', async () => {
    const b = board();
    const url = await b.rfc2217();
    const first = await holdPort(url);
    try {
      const second = new Rfc2217Transport(url);
      const err = await second.open().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TransportError);
      expect((err as TransportError).code).toBe('transport.busy');
      expect((err as TransportError).message).toMatch(/in use by 127\.0\.0\.1:\d+ since \d{4}-\d\d-\d\dT/);
    } finally {
      await first.close();
    }
  });

  it('espfleet info on a port held by another client: one line "in use", exit 1, no stack, no stray rejection', async () => {
    const b = board();
    const url = await b.rfc2217();
    const first = await holdPort(url);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const run = await espfleet(['info', '--port', url]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^error: rfc2217:\/\/127\.0\.0\.1:\d+ is in use by another client; the server says "port busy: in use by 127\.0\.0\.1:\d+ since [^"]+" \[session\.port_busy\]\nhint: .+\n$/);
      expect(run.stderr).not.toMatch(/no answer|internal error|\n\s+at /);
      // The no_ack timer (2 s) used to fire after the command had failed, as an unhandled rejection.
      await new Promise((r) => setTimeout(r, 2500));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await first.close();
    }
  });
});
