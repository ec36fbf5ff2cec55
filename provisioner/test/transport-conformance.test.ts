// Runs the Transport conformance suite on all three transports, each against a real far end:
// node-serialport over @serialport/binding-mock (which enforces the port lock and cancels
// reads on close like the OS bindings), RFC 2217 over the virtual board's server, and sim://.
import { SerialPortMock } from 'serialport';
import { VirtualEsp32, type FirmwareHost } from '../../hil-tests/index.ts';
import { Rfc2217Server } from '../../hil-tests/virtual-esp32/rfc2217-server.ts';
import { SimTransport } from '../../hil-tests/virtual-esp32/sim-transport.ts';
import { firmwareSet, place } from '../../hil-tests/test/helpers/firmware-set.ts';
import { NodeSerialTransport, type SerialBinding } from '../transport/node-serial-transport.ts';
import { Rfc2217Transport } from '../transport/rfc2217-transport.ts';
import type { SerialSignals } from '../transport/transport.ts';
import { transportSuite, type TransportPeer } from './transport-suite.ts';

/** A board whose firmware records what arrives on UART0 and can send anything back. */
async function uartPeerBoard(name: string): Promise<{ chip: VirtualEsp32; peer: Omit<TransportPeer, 'vanish'> }> {
  const rx: Uint8Array[] = [];
  let host: FirmwareHost | undefined;
  const chip = new VirtualEsp32({
    name,
    firmware: {
      name: 'uart-peer',
      start(h) {
        host = h;
        h.onReceive((b) => rx.push(Uint8Array.from(b)));
      },
    },
  });
  place(chip, firmwareSet({ version: '1.0.0' }));
  chip.powerOn();
  for (let i = 0; i < 200 && !host; i++) await new Promise((r) => setTimeout(r, 2));
  return {
    chip,
    peer: {
      received: () => Uint8Array.from(Buffer.concat(rx)),
      send: (bytes) => host?.print(bytes),
      signals: () => chip.getSignals(),
    },
  };
}

/** What the suite uses of binding-mock's port (its own types do not resolve under NodeNext). */
interface MockPort {
  recording: Buffer;
  emitData(data: Buffer): void;
  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }>;
  set(options: { dtr?: boolean; rts?: boolean }): Promise<void>;
}

interface MockBindingApi {
  createPort(path: string, options: { record: boolean }): void;
  list(): Promise<unknown[]>;
  open(options: unknown): Promise<MockPort>;
}

const MockBinding = SerialPortMock.binding as unknown as MockBindingApi;

let boards = 0;

transportSuite('sim:// (in-process virtual board)', async () => {
  const { chip, peer } = await uartPeerBoard(`conf-sim-${++boards}`);
  return {
    make: () => new SimTransport(chip),
    peer: { ...peer, vanish: () => chip.unplug() },
    dispose: async () => chip.powerOff(),
  };
});

transportSuite('rfc2217:// (the virtual board served over RFC 2217)', async () => {
  const { chip, peer } = await uartPeerBoard(`conf-rfc-${++boards}`);
  const server = new Rfc2217Server(chip);
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  return {
    make: () => new Rfc2217Transport(url),
    peer: { ...peer, vanish: () => server.close() },
    dispose: () => server.close(),
  };
});

/**
 * binding-mock with two things a real cable has: modem lines the far end can see, and a
 * disconnect (a read that fails, not one that is cancelled — what the OS binding reports).
 */
function pullableMockBinding(): { binding: SerialBinding; ports: MockPort[]; signals: SerialSignals; pull(): void } {
  const ports: MockPort[] = [];
  const signals: SerialSignals = { dtr: false, rts: false };
  let pulls: Array<() => void> = [];
  const binding = {
    ...MockBinding,
    list: () => MockBinding.list(),
    async open(options: unknown) {
      const port = await MockBinding.open(options);
      ports.push(port);
      const read = port.read.bind(port);
      port.read = (buffer: Buffer, offset: number, length: number) =>
        new Promise<{ buffer: Buffer; bytesRead: number }>((resolve, reject) => {
          pulls.push(() => reject(Object.assign(new Error('device disconnected (EIO)'), { disconnected: true })));
          read(buffer, offset, length).then(resolve, reject);
        });
      const set = port.set.bind(port);
      port.set = async (o: { dtr?: boolean; rts?: boolean }) => {
        await set(o);
        if (o.dtr !== undefined) signals.dtr = o.dtr;
        if (o.rts !== undefined) signals.rts = o.rts;
      };
      return port;
    },
  } as unknown as SerialBinding;
  return {
    binding,
    ports,
    signals,
    pull: () => {
      const now = pulls;
      pulls = [];
      now.forEach((p) => p());
    },
  };
}

transportSuite('node-serialport (binding-mock)', async () => {
  const path = `/dev/ttyMOCK${++boards}`;
  MockBinding.createPort(path, { record: true });
  const mock = pullableMockBinding();
  return {
    make: () => new NodeSerialTransport(path, path, { binding: mock.binding }),
    peer: {
      received: () => Uint8Array.from(Buffer.concat(mock.ports.map((p) => p.recording))),
      send: (bytes) => mock.ports.at(-1)?.emitData(Buffer.from(bytes)),
      signals: () => ({ ...mock.signals }),
      vanish: () => mock.pull(),
    },
    dispose: async () => undefined,
  };
});
