// The serial download-mode command handler (spec esp32-rom-efuse-crypto.md §1): the ESP32
// ROM loader, and after MEM_END jumps to a known flasher stub, that stub's dialect (legacy
// stub as esptool-js ships it, or esptool 5's esp-flasher-stub). Frames in, replies out.
import { OPCODES as OP, ROM_ERR, ROM_SYNC_VALUE, STUB_ERR, STUBS, type StubKind } from './targets/esp32.ts';
import { dataChecksum, decodeRequest, encodeResponse, u32s, type Request } from './protocol.ts';
import { FlashWriter } from './flash-writer.ts';
import type { NorFlash } from './nor-flash.ts';
import type { RegisterBus } from './register-bus.ts';
import { ReadFlashStream } from './read-flash-stream.ts';
import type { Reply } from './reply.ts';
import { RamDownload, type RamResult } from './ram-download.ts';
import { eraseRegion, flashMd5, readFlashSlow } from './flash-queries.ts';

export type LoaderDialect = 'rom' | StubKind;

export interface LoaderEnv {
  flash: NorFlash;
  bus: RegisterBus;
  /** Queues one packet for the host (SLIP framing is done here by the caller). */
  send(packet: Uint8Array): void;
  changeBaud(baud: number): void;
  /** FLASH_END(0) from the ROM or the legacy stub: the chip resets and boots from flash. */
  reboot(): void;
  /** FLASH_END(1) / MEM_END into the app: the ROM leaves download mode and runs flash code. */
  runUserCode(): void;
  /** MEM_END to an entry that is no known stub: the double cannot run it, so the chip goes quiet. */
  runUnknownCode(entry: number): void;
  /** A known flasher stub took over (after its OHAI). */
  stubStarted(name: string): void;
  /** Encrypts data as the flash-encryption engine would at an address, if the chip can. */
  encryptor(): ((data: Uint8Array, address: number) => Uint8Array) | undefined;
  /** A flash-changing command completed (the CLI saves state then). */
  committed(op: number): void;
  /** Called before each command runs; returning false means power was lost right there. */
  beforeCommand(op: number): boolean;
  /** An internal error of the double while handling a frame: the chip must fault visibly. */
  fault(error: unknown): void;
}


export class RomLoader {
  dialect: LoaderDialect = 'rom';
  /** Name of the running stub, for logs and tests. */
  stubName: string | undefined;
  private writer: FlashWriter | undefined;
  private readonly ram = new RamDownload();
  private spiParamsSize: number | undefined;
  private reading: ReadFlashStream | undefined;
  private chain: Promise<void> = Promise.resolve();
  private alive = true;
  /** Host-visible command log (opcode names), useful when a test fails. */
  readonly history: number[] = [];

  constructor(private readonly env: LoaderEnv) {}

  /** Queues a received SLIP frame; commands run strictly one after another. */
  receiveFrame(frame: Uint8Array): void {
    this.chain = this.chain.then(() => this.handle(frame)).catch((e: unknown) => {
      // A host's bad frame gets a protocol error reply inside handle(); reaching here is a bug.
      if (this.alive) this.env.fault(e);
    });
  }

  /** Resolves when every queued frame has been handled. */
  idle(): Promise<void> {
    return this.chain;
  }

  /** Power loss or reset: the loader and everything it held in RAM is gone. */
  stop(): void {
    this.alive = false;
    this.writer?.close();
    this.writer = undefined;
    this.reading = undefined;
  }

  private get style(): 'rom' | 'stub' {
    return this.dialect === 'rom' ? 'rom' : 'stub';
  }

  private async handle(frame: Uint8Array): Promise<void> {
    if (!this.alive) return;
    if (this.reading) {
      // During READ_FLASH every host frame is an acknowledgement.
      if (!this.reading.ack(frame)) this.reading = undefined;
      return;
    }
    const req = decodeRequest(frame);
    if (!req) return; // not a request: the ROM ignores it
    if (!this.env.beforeCommand(req.op)) {
      this.stop();
      return;
    }
    this.history.push(req.op);
    const reply = await this.dispatch(req);
    if (!this.alive || reply.silent) {
      reply.after?.();
      return;
    }
    this.env.send(encodeResponse(req.op, reply.value ?? 0, reply.payload ?? new Uint8Array(0), this.style, reply.error ?? 0));
    reply.after?.();
  }

  private ramResult(r: RamResult): Reply {
    return r.ok ? {} : this.fail(r.rom, r.stub);
  }

  private fail(romCode: number, stubCode: number): Reply {
    return { error: this.dialect === 'rom' ? romCode : stubCode };
  }

  private async dispatch(req: Request): Promise<Reply> {
    const d = req.data;
    const rom = this.dialect === 'rom';
    switch (req.op) {
      case OP.SYNC:
        return this.sync(req);
      case OP.READ_REG:
        if (d.length !== 4) return this.fail(ROM_ERR.invalidMessage, STUB_ERR.badDataLen);
        return { value: this.env.bus.read(u32s(d, 1)[0] ?? 0) };
      case OP.WRITE_REG:
        return this.writeReg(d);
      case OP.SPI_SET_PARAMS: {
        if (d.length !== 24) return this.fail(ROM_ERR.invalidMessage, STUB_ERR.badDataLen);
        this.spiParamsSize = u32s(d, 2)[1];
        return { value: rom ? 0x00174020 : 0 };
      }
      case OP.SPI_ATTACH:
        // ROM: config word + 4 bytes [is_legacy, 0, 0, 0]; both stubs insist on exactly 4.
        if (rom ? d.length !== 8 && d.length !== 4 : d.length !== 4) return this.fail(ROM_ERR.invalidMessage, STUB_ERR.badDataLen);
        return {};
      case OP.CHANGE_BAUDRATE: {
        if (d.length !== 8) return this.fail(ROM_ERR.invalidMessage, STUB_ERR.badDataLen);
        const baud = u32s(d, 1)[0] ?? 0;
        if (baud < 300 || baud > 5_000_000) return this.fail(ROM_ERR.failedToAct, STUB_ERR.badDataLen);
        // The reply still goes out at the old rate; the switch happens after it.
        return { after: () => this.env.changeBaud(baud) };
      }
      case OP.FLASH_BEGIN:
      case OP.FLASH_DEFL_BEGIN:
        return this.flashBegin(req);
      case OP.FLASH_DATA:
      case OP.FLASH_DEFL_DATA:
      case OP.FLASH_ENCRYPT_DATA:
        return this.flashData(req);
      case OP.FLASH_END:
      case OP.FLASH_DEFL_END:
        return this.flashEnd(req);
      case OP.MEM_BEGIN:
        return this.ramResult(this.ram.begin(d));
      case OP.MEM_DATA:
        return this.ramResult(this.ram.data(req));
      case OP.MEM_END:
        return this.memEnd(d);
      case OP.SPI_FLASH_MD5:
        return flashMd5(this.env.flash, d, rom);
      case OP.READ_FLASH_SLOW:
        return rom ? readFlashSlow(this.env.flash, d, this.spiParamsSize) : { error: STUB_ERR.notImplemented };
      case OP.ERASE_FLASH:
        if (rom) return this.unsupported();
        this.env.flash.eraseAll();
        return { after: () => this.env.committed(req.op) };
      case OP.ERASE_REGION: {
        if (rom) return this.unsupported();
        const r = eraseRegion(this.env.flash, d, this.dialect);
        return r.error ? r : { after: () => this.env.committed(req.op) };
      }
      case OP.READ_FLASH:
        return rom ? this.unsupported() : this.readFlash(d);
      case OP.GET_SECURITY_INFO:
        // The ESP32 has no GET_SECURITY_INFO in ROM or stub (§1.7).
        return rom ? this.unsupported() : { error: STUB_ERR.notImplemented };
      default:
        return rom ? this.unsupported() : { error: this.dialect === 'legacy' ? STUB_ERR.notImplemented : STUB_ERR.invalidCommand };
    }
  }

  private sync(req: Request): Reply {
    const d = req.data;
    const valid = d.length === 36 && d[0] === 0x07 && d[1] === 0x07 && d[2] === 0x12 && d[3] === 0x20 && d.subarray(4).every((b) => b === 0x55);
    if (!valid) return { silent: true };
    const value = this.dialect === 'rom' ? ROM_SYNC_VALUE : 0;
    // Eight identical replies; hosts count on all of them (§1.8). Stubs answer with value 0.
    return {
      value,
      after: () => {
        for (let i = 0; i < 7; i++) this.env.send(encodeResponse(OP.SYNC, value, new Uint8Array(0), this.style, 0));
      },
    };
  }

  /**
   * Unknown opcode in the ROM: eight 12-byte error replies (§1.6). The opcode they echo is
   * unconfirmed [U]; esptool only recognises "unsupported" when it differs from the request
   * (otherwise it would misdetect an ESP32 as an ESP32-S2), so the double echoes 0x00.
   */
  private unsupported(): Reply {
    const packet = encodeResponse(0x00, 0, new Uint8Array(0), 'rom', ROM_ERR.invalidMessage);
    return {
      silent: true,
      after: () => {
        for (let i = 0; i < 8; i++) this.env.send(packet);
      },
    };
  }

  private writeReg(d: Uint8Array): Reply {
    if (d.length === 0 || d.length % 16 !== 0) return this.fail(ROM_ERR.invalidMessage, STUB_ERR.notEnoughData);
    // Several 16-byte groups per packet: the stubs do it; for the ROM it is unconfirmed [U]
    // and esptool sends a second (delay) group, so the double accepts them everywhere.
    for (let at = 0; at < d.length; at += 16) {
      const [addr = 0, value = 0, mask = 0] = u32s(d.subarray(at, at + 16), 3);
      this.env.bus.writeMasked(addr, value, mask);
    }
    // Register writes can burn eFuses; the chip decides whether anything persistent changed.
    return { after: () => this.env.committed(OP.WRITE_REG) };
  }

  private flashBegin(req: Request): Reply {
    const d = req.data;
    const compressed = req.op === OP.FLASH_DEFL_BEGIN;
    // ROM: 16 bytes (esptool-js adds a 5th word [U]: accepted). Stubs: 16, or 20 with the
    // encrypted-write flag — esptool 5 sends 20 to both its stubs, so the legacy one takes it too.
    if (d.length !== 16 && d.length !== 20) return this.fail(ROM_ERR.invalidMessage, STUB_ERR.badDataLen);
    const [size = 0, numBlocks = 0, blockSize = 0, offset = 0, encryptWord = 0] = u32s(d, 5);
    if (this.dialect === 'legacy' && blockSize > 0x4000) return { error: STUB_ERR.badBlockSize };
    // The ROM has no encrypted writes (§5.5): it ignores a 5th word.
    const encrypt = this.dialect !== 'rom' && d.length === 20 && encryptWord !== 0;
    this.writer?.close();
    this.writer = new FlashWriter(
      { mode: this.dialect === 'rom' ? 'rom' : 'stub', compressed, size, numBlocks, blockSize, offset, encrypt },
      this.env.flash,
      this.env.encryptor(),
    );
    if (encrypt && !this.env.encryptor()) return { error: STUB_ERR.failedSpiOp };
    const erased = this.writer.eraseUpFront();
    if (!erased.ok) return this.fail(ROM_ERR.flashWrite, STUB_ERR.failedSpiOp);
    return { after: size > 0 && this.dialect === 'rom' ? () => this.env.committed(req.op) : undefined };
  }

  private async flashData(req: Request): Promise<Reply> {
    const d = req.data;
    if (d.length < 16) return this.fail(ROM_ERR.invalidMessage, STUB_ERR.notEnoughData);
    const [len = 0, seq = 0] = u32s(d, 2);
    const payload = d.subarray(16);
    if (len !== payload.length) return this.fail(ROM_ERR.invalidMessage, this.dialect === 'legacy' ? STUB_ERR.badDataLen : STUB_ERR.tooMuchData);
    if (dataChecksum(payload) !== (req.checksum & 0xff)) return this.fail(ROM_ERR.badChecksum, STUB_ERR.badChecksum);
    const writer = this.writer;
    if (!writer) return this.fail(ROM_ERR.failedToAct, STUB_ERR.notInFlashMode);
    if ((req.op === OP.FLASH_DEFL_DATA) !== writer.params.compressed) return this.fail(ROM_ERR.invalidMessage, STUB_ERR.notInFlashMode);
    if (req.op === OP.FLASH_ENCRYPT_DATA) {
      if (this.dialect !== 'legacy') return this.fail(ROM_ERR.invalidMessage, STUB_ERR.invalidCommand);
      writer.params.encrypt = true;
      if (!this.env.encryptor()) return { error: STUB_ERR.failedSpiOp };
    }
    const outcome = await writer.block(seq, payload);
    if (!outcome.ok) {
      if (outcome.reason === 'inflate') return this.fail(ROM_ERR.deflate, STUB_ERR.inflate);
      if (outcome.reason === 'too_much') return this.fail(ROM_ERR.flashWrite, STUB_ERR.tooMuchData);
      return this.fail(ROM_ERR.flashWrite, STUB_ERR.failedSpiOp);
    }
    return { after: () => this.env.committed(req.op) };
  }

  private flashEnd(req: Request): Reply {
    if (req.data.length !== 4) return this.fail(ROM_ERR.invalidMessage, STUB_ERR.badDataLen);
    const stay = (u32s(req.data, 1)[0] ?? 0) !== 0;
    const writer = this.writer;
    if (this.dialect !== 'rom') {
      if (!writer) return { error: STUB_ERR.notInFlashMode };
      if (writer.remaining > 0) return { error: this.dialect === 'legacy' ? STUB_ERR.notEnoughData : STUB_ERR.badDataLen };
    }
    writer?.close();
    this.writer = undefined;
    if (this.dialect === 'rom') {
      // 0 = reboot, 1 = leave the loader and run the code in flash (§1.7, trap 4).
      return { after: () => (stay ? this.env.runUserCode() : this.env.reboot()) };
    }
    // The legacy stub reboots on 0; esp-flasher-stub leaves its reboot as a TODO and stays.
    if (!stay && this.dialect === 'legacy') return { after: () => this.env.reboot() };
    return {};
  }

  private memEnd(d: Uint8Array): Reply {
    const r = this.ram.end(d);
    if (!r.ok) return this.fail(r.rom, r.stub);
    if (!('entry' in r) || r.entry === undefined) return {};
    const { entry, loaded } = r;
    const stub = STUBS.find((s) => s.entry === entry);
    return {
      // The MEM_END reply goes out first, then the stub's OHAI (esptool-js needs that order, §1.9).
      after: () => {
        if (!stub || !loaded) return this.env.runUnknownCode(entry);
        this.dialect = stub.kind;
        this.stubName = stub.name;
        this.writer?.close();
        this.writer = undefined;
        this.ram.clear();
        this.env.send(new TextEncoder().encode('OHAI'));
        this.env.stubStarted(stub.name);
      },
    };
  }

  private readFlash(d: Uint8Array): Reply {
    if (d.length !== 16) return { error: STUB_ERR.badDataLen };
    const [offset = 0, length = 0, packetSize = 0, maxInFlight = 0] = u32s(d, 4);
    if (!this.env.flash.contains(offset, length)) return { error: STUB_ERR.failedSpiOp };
    // Both stubs read into a 4 KiB buffer.
    if (packetSize === 0 || packetSize > 0x1000) return { error: STUB_ERR.badDataLen };
    const stream = new ReadFlashStream(
      this.env.flash.bytes.subarray(offset, offset + length),
      packetSize,
      // Legacy stub compares bytes in flight with max_in_flight; esp-flasher-stub uses one packet.
      this.dialect === 'legacy' ? { bytesInFlight: maxInFlight } : { packetsInFlight: 1 },
      (frame) => this.env.send(frame),
    );
    return {
      after: () => {
        this.reading = stream;
        if (stream.start()) this.reading = undefined;
      },
    };
  }
}

