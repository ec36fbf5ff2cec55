// Virtual boards for the board-session and CLI tests: in-process (`sim://` through the
// transport registry) and over RFC 2217, with the chip's state open to inspection.
import { afterEach } from 'vitest';
import { openBoardSession, type BoardSession } from '../session/index.ts';
import { Rfc2217Server, SimTransport, VirtualEsp32, registerSimBoard, type VirtualEsp32Options } from '../../hil-tests/virtual-esp32/index.ts';

let counter = 0;

export interface TestBoard {
  chip: VirtualEsp32;
  /** `sim://…` URL that createTransport resolves in this process. */
  simUrl: string;
  transport(): SimTransport;
  /** Starts an RFC 2217 server for the board (once) and returns its URL. */
  rfc2217(): Promise<string>;
  server: Rfc2217Server | undefined;
  dispose(): Promise<void>;
}

export function testBoard(opts: VirtualEsp32Options = {}): TestBoard {
  const name = opts.name ?? `board${++counter}-${process.pid}`;
  const chip = new VirtualEsp32({ ...opts, name });
  chip.powerOn();
  // The CLI reaches boards through createTransport; each open gets a fresh wire.
  const unregister = registerSimBoard(name, chip);
  const board: TestBoard = {
    chip,
    simUrl: `sim://${name}`,
    transport: () => new SimTransport(chip, `sim://${name}`),
    server: undefined,
    async rfc2217() {
      if (!board.server) {
        board.server = new Rfc2217Server(chip);
        await board.server.listen();
      }
      return board.server.url;
    },
    async dispose() {
      unregister();
      await board.server?.close();
    },
  };
  return board;
}

/** A board maker for one test file: every board it makes is disposed after each test. */
export function boardsPerTest(): (opts?: VirtualEsp32Options) => TestBoard {
  const boards: TestBoard[] = [];
  afterEach(async () => {
    for (const b of boards.splice(0)) await b.dispose();
  });
  return (opts = {}) => {
    const b = testBoard(opts);
    boards.push(b);
    return b;
  };
}

/** Flash bytes of the virtual board (a copy). */
export function flashBytes(chip: VirtualEsp32, address: number, length: number): Uint8Array {
  return chip.flash.bytes.slice(address, address + length);
}

/** Sectors (4 KiB) whose content differs between two images of the same region. */
export function differingSectors(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let s = 0; s < Math.max(a.length, b.length); s += 0x1000) {
    const x = a.subarray(s, s + 0x1000);
    const y = b.subarray(s, s + 0x1000);
    if (x.length !== y.length || !x.every((v, i) => v === y[i])) n++;
  }
  return n;
}

/**
 * A session on the board whose wire is cut the moment the chip loses power, as a
 * USB-powered board takes its USB bridge with it: the port vanishes at once instead of
 * the host waiting out a command timeout.
 */
export async function connectWatched(b: TestBoard): Promise<BoardSession> {
  const transport = b.transport();
  const session = await openBoardSession(transport, { connectAttempts: 2 });
  const timer = setInterval(() => {
    if (b.chip.state === 'dead') void transport.close();
  }, 2);
  const close = session.close.bind(session);
  session.close = async () => {
    clearInterval(timer);
    await close();
  };
  return session;
}
