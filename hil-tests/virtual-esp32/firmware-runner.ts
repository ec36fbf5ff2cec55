// The plug-in point for firmware doubles (e.g. the Mongoose OS one): when a flash boot passes
// the boot check, the runner gets the decrypted flash view and the selected app slot.
import type { FlashView } from './boot/flash-view.ts';
import type { BootSlot } from './boot/boot-sequence.ts';
import type { VirtualEsp32 } from './virtual-esp32.ts';

export interface FirmwareContext {
  chip: VirtualEsp32;
  /** Flash as the CPU reads it (decrypted when flash encryption is on). */
  flash: FlashView;
  /** The app partition the bootloader chose, with its esp_app_desc_t. */
  slot: BootSlot;
  /** Writes to UART0 (the host sees it). */
  print(text: string | Uint8Array): void;
  /** Bytes the host sends while the app runs; listeners are dropped at the next reset. */
  onReceive(listener: (bytes: Uint8Array) => void): () => void;
}

export type FirmwareRunner = (ctx: FirmwareContext) => void;
