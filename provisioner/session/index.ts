// The board session: one ESP32 in download mode, over any Transport (DESIGN.md "Board session").
export { BoardSession } from './board-session.ts';
export { openBoardSession, type BoardSessionOptions } from './open-board-session.ts';
export { connectBoard, withBoard, type ConnectOptions } from './connect.ts';
export { decodeChipFacts, type ChipFacts, type EfuseSecurityState, type RawChipReadings } from './chip-facts.ts';
export { SessionError } from './errors.ts';
export { decodeMd5Payload } from './flash-commands.ts';
export type { ResetMode } from './resets.ts';
export { WebSerialAdapter } from './web-serial-adapter.ts';
export { changedRuns, checkRegions, md5Hex, type RegionResult, type WriteProgress, type WriteRegion, type WritePhase } from './write-regions.ts';
export { EfuseError, type EfuseErrorCode } from './efuse-errors.ts';
export {
  readEfuses, summarizeEfuses, fieldValue, valueOf, codingScheme, keyBlockWords, blockReadProtected, blockWriteProtected, fieldWriteProtected, fieldReadProtected,
  type EfuseRegisters, type EfuseSnapshot, type EfuseSummary, type EfuseFieldReport, type EfuseBlockReport,
} from './efuse-state.ts';
export { burnEfuses, checkBurn, describeBurn, expectCurrent, type EfuseBurnPlan, type BurnOptions, type BurnResult, type CheckedBurn, type FieldChange, type BlockChange, type BurnStep } from './efuse-programmer.ts';
export { EFUSE_FIELDS, EFUSE_BLOCKS, findField, type EfuseFieldInfo, type KeyBlockIndex } from './targets/esp32-efuses.ts';
