// The Mongoose OS double for the virtual ESP32 (spec mongoose-os.md §3–§5, §7).
export { mongooseOs, type MongooseOsOptions, type MgosScriptContext, type MgosScriptRunner } from './firmware.ts';
export { ConfigStore, aclAllows, expandPlaceholders } from './config-store.ts';
export { MGOS_DEFAULTS, type ConfigTree, type ConfigValue } from './config-schema.ts';
export { RootFs } from './root-fs.ts';
export { UartRpcChannel } from './uart-channel.ts';
export { RpcFail } from './rpc-fail.ts';
export { mjsRunner, type MjsRunnerOptions, type FfiProvider } from './mjs-runner.ts';
export { MgosMqtt, MG_EV, ESP32_TLS_CIPHERS, topicMatches } from './mqtt-conn.ts';
export { MJS_NET_API_FILES, MGOS_EVENT } from './mjs-api-net.ts';
export type { RpcHandler } from './services.ts';
export { OtaUpdater, compareVersions, type OtaReadings } from './ota-updater.ts';
export { BundleStream, OtaRefused } from './ota-bundle-stream.ts';
export { otaUpdateHandler, parseResponseHead, buildRequest, MAX_REDIRECTS } from './ota-http-client.ts';
export { NvsStore, parseNvs, encodeItem, encodePageHeader, PAGE_STATE, ENTRY_STATE, NVS_TYPE, NVS_PAGE_SIZE, NVS_ENTRIES_PER_PAGE, type NvsFlash, type NvsValue, type ParsedNvs, type NvsItem, type NvsPage } from './nvs.ts';
export { encodeBootWord, decodeBootWord } from './ota-state.ts';
