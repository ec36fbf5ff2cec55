// The Mongoose OS double as a firmware-host Firmware (spec mongoose-os.md §3–§5, §7): mounts
// the running slot's fs_N, layers the config, prints a boot log on UART0 and serves RPC there,
// then hands init.js / app.js to a script runner (the hook for the mJS APIs of §5.2).
import type { Firmware, FirmwareHost } from '../virtual-esp32/firmware-host.ts';
import type { ConfigTree } from './config-schema.ts';
import { ConfigStore, lookup } from './config-store.ts';
import { otaUpdateHandler } from './ota-http-client.ts';
import { OtaUpdater, type OtaReadings } from './ota-updater.ts';
import { RootFs } from './root-fs.ts';
import { RpcFail } from './rpc-fail.ts';
import { builtinHandlers, settleRpc, type RpcHandler } from './services.ts';
import { UartRpcChannel, echoId, type DeviceFrame } from './uart-channel.ts';

/** What a script runner gets: the board's files, config and RPC table, on the host's clock. */
export interface MgosScriptContext {
  host: FirmwareHost;
  fs: RootFs;
  config: ConfigStore;
  /** RPC.addHandler: the agent's handlers join the built-ins (and RPC.List). */
  addHandler(name: string, handler: RpcHandler): void;
  /** The handler an RPC.LOCAL call of `name` reaches (built-in or added). */
  handler(name: string): RpcHandler | undefined;
  log(line: string): void;
}

/**
 * Runs the agent's files after INIT_DONE (§5.1). Not built yet: the mJS engine binding of
 * MQTT/Cfg/Timer/Sys/RPC/File/Event/Net; a runner passed here gets everything it needs.
 */
export type MgosScriptRunner = (file: 'init.js' | 'app.js', source: string, ctx: MgosScriptContext) => void;

export interface MongooseOsOptions {
  mgVersion?: string;
  mgId?: string;
  fwId?: string;
  /** The app's config_schema additions (level-0 defaults for its own keys). */
  extraSchema?: ConfigTree;
  scripts?: MgosScriptRunner;
  /** Which reading of the updater's unconfirmed rules to model (ota-updater.ts). */
  ota?: OtaReadings;
}

/** ms before a scheduled reboot within which calls are answered 418 (§3.2). */
const REBOOT_GUARD_MS = 100;

export function mongooseOs(options: MongooseOsOptions = {}): Firmware {
  return { name: 'mongoose-os', start: (host) => boot(host, options) };
}

function boot(host: FirmwareHost, options: MongooseOsOptions): void {
  const versions = { mgVersion: options.mgVersion ?? '2.20.0', mgId: options.mgId ?? '20230313-101010', fwId: options.fwId ?? '20261201-000000' };
  const macHex = Array.from(host.mac, (b) => b.toString(16).padStart(2, '0')).join('').toUpperCase();
  const log = (line: string) => host.print(`[${stamp(host.uptimeMs())}] ${line}\r\n`);
  const app = host.slot.app;
  log(`mgos_init            Mongoose OS ${versions.mgVersion} (${versions.mgId})`);
  log(`mgos_init            App ${app?.projectName ?? '?'} ${app?.version ?? '?'} (${versions.fwId})`);
  log(`mgos_init            CPU: 160 MHz, FreeRTOS 10.2.1, heap: 294912 total, 180000 free`);

  let fs: RootFs;
  try {
    fs = RootFs.mount(host);
  } catch (e) {
    log(`mgos_vfs_mount       Failed to mount root FS: ${(e as Error).message}`);
    host.fault(e);
    return;
  }
  log(`mgos_vfs_mount       ${fs.partition.label} @ 0x${fs.partition.offset.toString(16)}: LFS, size ${fs.usage().size}, free ${fs.usage().free}`);
  // Before the config is read: a first boot after an update tombstones and merges the old FS.
  let otaStart: ReturnType<typeof OtaUpdater.start> | undefined;
  try {
    otaStart = OtaUpdater.start(host, fs, log, options.ota);
  } catch (e) {
    log(`mgos_upd_init        OTA unavailable: ${(e as Error).message}`);
  }
  const config = new ConfigStore({ fs, macHex, log, ...(options.extraSchema ? { extraSchema: options.extraSchema } : {}) });
  config.load();
  const deviceId = () => String(lookup(config.get(), 'device.id'));
  log(`mgos_sys_config_init MAC: ${macHex.replace(/(..)(?!$)/g, '$1:')}`);
  log(`mgos_sys_config_init device.id: ${deviceId()}`);

  let rebootAt: number | undefined;
  let rebootTimer: number | undefined;
  const scheduleReboot = (ms: number) => {
    if (rebootTimer !== undefined) host.clearTimer(rebootTimer);
    rebootAt = host.uptimeMs() + ms;
    rebootTimer = host.setTimeout(() => {
      log('mgos_system_restart  Rebooting');
      host.restart();
    }, ms);
  };
  const handlers = new Map<string, RpcHandler>();
  for (const [name, fn] of builtinHandlers({
    host,
    fs,
    config,
    macHex,
    versions,
    scheduleReboot,
    abortReboot: () => {
      if (rebootTimer !== undefined) host.clearTimer(rebootTimer);
      rebootTimer = rebootAt = undefined;
    },
    methods: () => [...handlers.keys()],
    has: (name) => handlers.has(name),
  })) {
    handlers.set(name, fn);
  }
  const ota = otaStart?.(config, scheduleReboot);
  if (ota) {
    for (const [name, fn] of ota.handlers()) handlers.set(name, fn);
    handlers.set(
      'OTA.Update',
      otaUpdateHandler({
        host,
        fs,
        config,
        log,
        updater: ota,
        readings: options.ota ?? {},
        identity: () => ({ deviceId: deviceId(), mac: macHex, app: app?.projectName ?? '', fwVersion: app?.version ?? '', fwId: versions.fwId, mgVersion: versions.mgVersion }),
      }),
    );
  }

  const maxFrameSize = Number(lookup(config.get(), 'rpc.max_frame_size') ?? 4096);
  const channel = new UartRpcChannel({
    send: (b) => host.print(b),
    log,
    deviceId,
    maxFrameSize,
    onFrame: (req, reply) => dispatch(req, reply),
  });
  host.onReceive((b) => channel.receive(b));

  function dispatch(req: DeviceFrame, reply: (f: DeviceFrame) => void): void {
    const method = req.method;
    if (typeof method !== 'string') return; // a reply to a call of ours: none are made yet
    const src = typeof req.src === 'string' ? req.src : '';
    const answer = (body: { result: unknown } | { error: { code: number; message: string } }) => {
      if (req.id === undefined) return; // a notification: no reply (§3.2)
      const frame: DeviceFrame = { id: echoId(req.id), src: deviceId() };
      if (src) frame.dst = src;
      if (typeof req.tag === 'string') frame.tag = req.tag;
      reply({ ...frame, ...body });
    };
    if (rebootAt !== undefined && rebootAt - host.uptimeMs() < REBOOT_GUARD_MS) {
      return answer({ error: { code: 418, message: 'Reboot in progress' } });
    }
    const handler = handlers.get(method);
    if (!handler) return answer({ error: { code: 404, message: `No handler for ${method}` } });
    settleRpc(
      host,
      () => handler(req.params ?? req.args ?? null, src),
      (r) => answer({ result: r === undefined ? null : r }),
      (e) => answer({ error: { code: e.code, message: e.message } }),
    );
  }

  log(`mgos_init            Init done, RAM: 294912 total, 180000 free`);
  for (const file of ['init.js', 'app.js'] as const) {
    if (!fs.exists(file)) continue;
    if (!options.scripts) {
      log(`mgos_mjs_init        ${file} present; this double has no mJS runner attached, not run`);
      continue;
    }
    options.scripts(file, new TextDecoder().decode(fs.read(file)), { host, fs, config, log, addHandler: (name, fn) => void handlers.set(name, fn), handler: (name) => handlers.get(name) });
  }
}

/** mgos log prefix: seconds since boot with milliseconds. */
function stamp(ms: number): string {
  return `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}`;
}
