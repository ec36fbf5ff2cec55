// What firmware running on the virtual ESP32 may do and be told: the plug-in contract for
// firmware doubles (the Mongoose OS double attaches here). Everything the firmware owns —
// timers, sockets, open files — is handed out by the host, so a reset or a power loss can
// take it all away at once, as it does on a real chip.
import type { Duplex } from 'node:stream';
import type { BootSlot } from './boot/boot-sequence.ts';

/** Why the running firmware stopped. */
export type StopReason = 'reset' | 'power-off' | 'power-loss' | 'restart' | 'fault';

/** A firmware image as the double runs it: started once per boot that selects its slot. */
export interface Firmware {
  /** A name for logs (e.g. `mongoose-os`). */
  readonly name: string;
  start(host: FirmwareHost): void | Promise<void>;
}

/** Time as firmware sees it; tests inject a manual clock to step rollouts and expiries. */
export interface Clock {
  /** Milliseconds since the Unix epoch (the board's RTC / SNTP time). */
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The board's IP stack; fleet tests inject one so many boards share loopback. */
export interface Network {
  /** Opens a TCP connection; TLS, when wanted, goes on top (`tls.connect({ socket })`). */
  connect(options: { host: string; port: number }): Duplex;
}

/** Flash through the cache, as app code reads and writes it. */
export interface FirmwareFlash {
  readonly size: number;
  /** True when FLASH_CRYPT_CNT is odd: reads decrypt and `write` encrypts. */
  readonly encrypted: boolean;
  read(offset: number, length: number): Uint8Array;
  /** Reads bytes as stored, bypassing decryption (`esp_flash_read`: unencrypted partitions such as nvs). */
  readRaw(offset: number, length: number): Uint8Array;
  /**
   * Programs bytes (NOR rules: bits only go 1→0, erase first). With flash encryption on, the
   * data goes through the encryption engine like `esp_flash_write_encrypted`, which needs
   * 16-byte alignment of address and length.
   */
  write(offset: number, data: Uint8Array): void;
  /** Programs bytes as they are, bypassing the engine (`esp_flash_write`: unencrypted partitions). */
  writeRaw(offset: number, data: Uint8Array): void;
  /** Erases whole 4 KiB sectors; offset and length must be sector aligned. */
  erase(offset: number, length: number): void;
}

/** A handle the host closes when the firmware stops (files, servers, subscriptions). */
export interface Disposable {
  dispose(): void;
}

export interface FirmwareHost {
  /** The app partition the bootloader chose, with its esp_app_desc_t. */
  readonly slot: BootSlot;
  /** The chip's factory MAC (BLK0), for device ids. */
  readonly mac: Uint8Array;
  readonly flash: FirmwareFlash;
  /** UART0: what the firmware prints reaches the host's serial port. */
  print(text: string | Uint8Array): void;
  /** Bytes the host sends on UART0. */
  onReceive(listener: (bytes: Uint8Array) => void): () => void;
  /** Time since the firmware started, ms (the uptime counter). */
  uptimeMs(): number;
  /** The board's wall clock. */
  now(): number;
  /** A timer that the host cancels when the firmware stops. */
  setTimeout(callback: () => void, ms: number): number;
  setInterval(callback: () => void, ms: number): number;
  clearTimer(id: number): void;
  /** A TCP connection that the host destroys when the firmware stops. */
  connect(options: { host: string; port: number }): Duplex;
  /** Registers something to close when the firmware stops. */
  own(resource: Disposable): void;
  /** Fires once when the firmware stops, before its resources are closed. */
  onStop(listener: (reason: StopReason) => void): void;
  /** Aborted when the firmware stops, for code that takes an AbortSignal. */
  readonly signal: AbortSignal;
  /** esp_restart(): a software reset that boots from flash again. */
  restart(): void;
  /**
   * A bug or an impossible state inside the double: the chip halts visibly (state
   * `faulted`, a panic line on the console) instead of going quiet.
   */
  fault(error: unknown): void;
}
