// A plain TCP byte pipe to a virtual ESP32 (no Telnet, no modem lines): for bridges such as a
// pseudo-terminal relay, where the host's tty carries no baud rate or DTR/RTS to forward.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { VirtualEsp32 } from './virtual-esp32.ts';

export class RawTcpServer {
  private server: Server | undefined;
  private client: Socket | undefined;

  constructor(readonly chip: VirtualEsp32) {}

  async listen(host = '127.0.0.1', port = 0): Promise<{ host: string; port: number }> {
    this.chip.setHostFollowsChipBaud(true);
    const server = createServer((socket) => {
      if (this.client) return void socket.destroy();
      this.client = socket;
      socket.setNoDelay(true);
      const off = this.chip.onTransmit((b) => void socket.write(b));
      socket.on('data', (b: Buffer) => this.chip.receive(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        off();
        this.client = undefined;
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  async close(): Promise<void> {
    this.client?.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
