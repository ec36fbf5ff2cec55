// Turns a StationConfig (station.toml) into a ready PipelineContext: secrets resolved
// (file, environment, prompt — DESIGN.md invariant 3), CA, keystore, registry and audit
// log opened, the bundle read and its signatures checked — all before any board is touched.
import { readFileSync } from 'node:fs';
import { openCa, type Ca, type KeyEscrow } from '../../certs/index.ts';
import { readBundle, type Bundle } from '../../firmware-js/bundle/index.ts';
import { isEspfleetError } from '../../firmware-js/errors.ts';
import type { CliContext } from '../cli/context.ts';
import { resolvePassphrase } from '../cli/secrets.ts';
import { openStationAudit } from './audit-sql.ts';
import { openEscrow } from './escrow-stores.ts';
import { agentConf, caPassphraseSource, keystoreSecretSource, type PassphraseSource, type StationConfig } from './config.ts';
import { checkBundle, StationError, type PipelineContext } from './pipeline.ts';
import { openRegistryAt } from './open-registry.ts';
import type { AuditLog } from './records.ts';

/** Where secrets come from: the environment and, on a terminal, a prompt. */
export type SecretsIo = Pick<CliContext, 'env' | 'prompt'>;

export interface OpenStationOptions {
  /** Allow boards already provisioned to get a new identity and firmware. */
  reprovision?: boolean;
  onProgress?: (line: string) => void;
  /** Pipeline settings the config does not hold (tests, the demo): bootCheck, connect, clock… */
  overrides?: Partial<PipelineContext>;
}

export interface OpenStation {
  ctx: PipelineContext;
  config: StationConfig;
  /** Closes the registry (the audit log and keystore write durably as they go). */
  close(): Promise<void>;
}

function need<T>(value: T | null, keyPath: string, cfg: StationConfig, why: string): T {
  if (value === null) {
    throw new StationError('station.config_incomplete', `${cfg.source}: ${keyPath} is not set; ${why}`, {
      hint: `set ${keyPath} in the station config (see docs/station.example.toml)`,
    });
  }
  return value;
}

/** Where a passphrase was taken from, for the hint after a wrong one. */
function secretOrigin(source: PassphraseSource, io: SecretsIo): string {
  if (source.file !== undefined) return `the file ${source.file}`;
  if (io.env[source.envVar]) return `$${source.envVar}`;
  return 'the prompt';
}

/** A failure before the first board: the same code, said to have touched no board, with a station hint. */
function beforeBoards(e: unknown, hint?: string): never {
  if (!isEspfleetError(e)) throw e;
  const message = /no board was touched/.test(e.message) ? e.message : `${e.message}; no board was touched`;
  const h = hint ?? e.hint;
  throw new StationError(e.code, message, { cause: e, ...(h === undefined ? {} : { hint: h }) });
}

export async function openStation(config: StationConfig, io: SecretsIo, opts: OpenStationOptions = {}): Promise<OpenStation> {
  const caDir = need(config.ca.dir, 'ca.dir', config, 'the station issues device certificates from the fleet CA');
  const keystorePath = need(config.keystore.path, 'keystore.path', config, 'the station escrows flash-encryption keys there');
  const bundlePath = need(config.firmware.bundle, 'firmware.bundle', config, 'it names the firmware to flash');
  const mqtt = need(config.mqtt.server, 'mqtt.server', config, 'every board is configured with its broker');

  // Secrets, then the things they unlock: a wrong passphrase stops here, once.
  let ca: Ca;
  let keystore: KeyEscrow;
  let bundle: Bundle;
  let signingPublicKeys: string[];
  const caSource = caPassphraseSource(config);
  const ksSource = keystoreSecretSource(config);
  let hint: string | undefined;
  try {
    const caPassphrase = await resolvePassphrase(io as CliContext, caSource);
    hint = `the CA passphrase came from ${secretOrigin(caSource, io)}; ca.passphrase_file in ${config.source}, else $${caSource.envVar}, else a prompt`;
    ca = openCa(caDir, caPassphrase);
    hint = undefined;
    const secret = 'keyFile' in ksSource ? ksSource : { passphrase: await resolvePassphrase(io as CliContext, ksSource.passphrase) };
    if (!('keyFile' in ksSource)) {
      hint = `the keystore passphrase came from ${secretOrigin(ksSource.passphrase, io)}; keystore.passphrase_file in ${config.source}, else $${ksSource.passphrase.envVar}, else a prompt`;
    }
    keystore = await openEscrow(config, keystorePath, secret);
    hint = undefined;
    bundle = readBundle(readInput(bundlePath, 'firmware bundle (firmware.bundle)'));
    signingPublicKeys = config.firmware.signingKeys.map((p) => new TextDecoder().decode(readInput(p, 'signing public key (firmware.signing_keys)')));
    checkBundle({ bundle, signingPublicKeys, requireSignatures: config.firmware.requireSignatures });
  } catch (e) {
    const wrongSecret = isEspfleetError(e) && /bad_passphrase$/.test(e.code);
    beforeBoards(e, wrongSecret ? hint : undefined);
  }

  const registry = await openRegistryAt(config.paths.registry);
  let audit: AuditLog;
  try {
    // The registry anchors the audit chain (count + last hash), so a cut log is found; on
    // PostgreSQL it holds the chain itself, shared by every station.
    audit = await openStationAudit(registry, config.paths.audit);
  } catch (e) {
    await registry.close();
    throw e;
  }
  const ctx: PipelineContext = {
    ca,
    keystore,
    bundle,
    signingPublicKeys,
    requireSignatures: config.firmware.requireSignatures,
    deviceIdTemplate: config.device.idTemplate,
    mqttServer: mqtt.host.includes(':') ? `[${mqtt.host}]:${mqtt.port}` : `${mqtt.host}:${mqtt.port}`,
    agentSettings: agentConf(config) as Record<string, unknown>,
    encryptionMode: config.encryption.mode,
    registry,
    audit,
    journalDir: config.paths.journalDir,
    station: config.station.id,
    operator: config.station.operator,
    baud: config.serial.baud,
    ...(opts.reprovision ? { reprovision: true } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...opts.overrides,
  };
  let closed = false;
  return {
    ctx,
    config,
    async close() {
      if (closed) return;
      closed = true;
      await registry.close();
    },
  };
}

function readInput(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new StationError('station.unreadable', `cannot read the ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}
