export {
  encryptFlash,
  decryptFlash,
  expandFlashKey,
  padForEncryption,
  DEFAULT_FLASH_CRYPT_CONFIG,
} from './flash-encryption.ts';
export { keyFileToBlk1Words, blk1WordsToKeyFile } from './key-order.ts';
export { tweakKey } from './tweak.ts';
