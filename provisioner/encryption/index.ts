// Flash-encryption enablement with an escrowed key, encrypted flashing, key export
// (DESIGN.md invariant 2; spec esp32-rom-efuse-crypto.md §3, §5).
export { enableFlashEncryption, encryptionState, defaultDeviceId, FLASH_KEY_KIND, type EnableOptions, type EnableResult, type EncryptionBoard, type EncryptionState } from './enable.ts';
export { flashWithEscrowedKey, type EscrowedFlashResult } from './escrowed-flash.ts';
export { exportFlashKey, exportLogPath, type ExportRecord } from './key-export.ts';
export { keyEvidence, judgeBootloaderSector, looksLikeImageHeader, type KeyEvidence } from './key-evidence.ts';
export { keyToBlockWords, blockWordsToKey } from './key-words.ts';
export { preEncryptRegions, type PlannedRegion } from './pre-encrypt.ts';
export { ENCRYPTION_MODES, configTargets, protectionTargets, counterTarget, type EncryptionMode } from './modes.ts';
export { EncryptionError, type EncryptionErrorCode } from './errors.ts';
