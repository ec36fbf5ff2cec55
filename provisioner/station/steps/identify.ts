// Step 1, identify: what the board is (chip facts over the ROM loader), which device id
// it gets, and whether it may be provisioned now — a board already provisioned (or
// carrying another board's id) is refused before anything is changed.
import type { ChipFacts } from '../../session/index.ts';
import { deviceIdFor } from '../device-id.ts';
import { readJournal, type BoardJournal } from '../journal.ts';
import type { PipelineContext } from '../pipeline.ts';
import type { DeviceRecord } from '../records.ts';
import { StationError } from './errors.ts';
import { nowIso } from './run-state.ts';

export interface Identified {
  deviceId: string;
  /** The journal to continue (a fresh one when there is none, or when reprovisioning). */
  journal: BoardJournal;
  /** True when an earlier run's journal is continued. */
  resumed: boolean;
  existing: DeviceRecord | undefined;
}

export async function identify(ctx: PipelineContext, portUrl: string, facts: ChipFacts): Promise<Identified> {
  const mac = facts.mac;
  const deviceId = deviceIdFor(ctx.deviceIdTemplate, mac);
  const existing = await ctx.registry.findByMac(mac);
  const byId = await ctx.registry.get(deviceId);
  if (byId && byId.mac !== mac) {
    throw new StationError('station.device_id_taken', `device id ${deviceId} (for ${mac} on ${portUrl}) is already recorded for another board, ${byId.mac}; nothing was changed`, {
      hint: 'the device id template does not tell these boards apart; use {mac} or {mac6}',
    });
  }
  const journal = readJournal(ctx.journalDir, mac);
  // A crash between the registry write and the journal's last write leaves a provisioned
  // record with an unfinished journal for the same certificate: that is finished, not refused.
  const unfinished = journal !== undefined && journal.status !== 'done' && existing?.status === 'provisioned' && journal.cert !== null && journal.cert.serial === existing.certSerial;
  const provisioned = !unfinished && (existing?.status === 'provisioned' || journal?.status === 'done');
  if (provisioned && !ctx.reprovision) {
    const enc = facts.efuse.encryptionEnabled ? `flash encryption on (FLASH_CRYPT_CNT 0x${facts.efuse.flashCryptCnt.toString(16)})` : 'flash encryption off';
    throw new StationError(
      'station.already_provisioned',
      `the board on ${portUrl} (${mac}) is already provisioned as ${existing?.deviceId ?? journal?.deviceId ?? deviceId}` +
        `${existing ? ` by ${existing.station} at ${existing.updatedAt}, certificate ${existing.certSerial ?? 'none'}` : ''}; ${enc}; nothing was changed`,
      { hint: 'to give it a new identity and firmware, run again with reprovision (its certificate is then revoked as superseded)' },
    );
  }
  const at = nowIso(ctx);
  if (journal && journal.status !== 'done' && !provisioned) {
    return { deviceId: journal.deviceId, journal: { ...journal, runs: journal.runs + 1, status: 'in-progress' }, resumed: true, existing };
  }
  const fresh: BoardJournal = {
    format: 'espfleet-journal',
    version: 1,
    mac,
    deviceId,
    chipRevision: `${facts.revision.major}.${facts.revision.minor}`,
    station: ctx.station,
    operator: ctx.operator,
    encryptionMode: ctx.encryptionMode,
    firmwareVersion: ctx.bundle.manifest.version ?? null,
    status: 'in-progress',
    startedAt: at,
    updatedAt: at,
    runs: 1,
    steps: {},
    cert: null,
    abandoned: [],
    regions: [],
    flash: null,
    boot: null,
    lastError: null,
    previous: null,
  };
  if (provisioned) {
    // Reprovisioning: the identity the board had is superseded by the one made now.
    const oldSerial = existing?.certSerial ?? journal?.cert?.serial ?? null;
    fresh.previous = { deviceId: existing?.deviceId ?? journal?.deviceId ?? deviceId, certSerial: oldSerial, finishedAt: existing?.updatedAt ?? journal?.updatedAt ?? at };
    if (oldSerial) fresh.abandoned.push({ serial: oldSerial, revokedAt: null, why: 'reprovisioned' });
  }
  return { deviceId, journal: fresh, resumed: false, existing };
}
