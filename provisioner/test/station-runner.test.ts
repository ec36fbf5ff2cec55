// The station runner without boards: a connect that fails after a pause shows that ports run
// concurrently up to the limit, that progress lines read `[port] …`, that outcomes keep the
// order of the ports, and what the summary table looks like. Port selection from
// station.toml (urls + USB filters) and the port pre-flight are checked here too.
import { describe, expect, it } from 'vitest';
import type { Ca, Keystore } from '../../certs/index.ts';
import type { Bundle } from '../../firmware-js/bundle/index.ts';
import { TransportError } from '../transport/errors.ts';
import { checkPorts, matchesUsb, stationPorts, watchedPorts } from '../station/station-ports.ts';
import { parseStationConfig } from '../station/config.ts';
import type { BoardOutcome, PipelineContext } from '../station/pipeline.ts';
import type { AuditEntry, AuditLog, DeviceRecord, DeviceRegistry } from '../station/records.ts';
import { renderSummary, runStation, summaryRows } from '../station/runner.ts';

class NullRegistry implements DeviceRegistry {
  async upsert(_r: DeviceRecord): Promise<void> {}
  async get(): Promise<DeviceRecord | undefined> {
    return undefined;
  }
  async findByMac(): Promise<DeviceRecord | undefined> {
    return undefined;
  }
  async list(): Promise<DeviceRecord[]> {
    return [];
  }
  async close(): Promise<void> {}
}

class ListAudit implements AuditLog {
  readonly actions: string[] = [];
  async append(e: Pick<AuditEntry, 'action' | 'actor' | 'subject'>): Promise<AuditEntry> {
    this.actions.push(`${e.action} ${e.subject.port ?? ''}`);
    return e as AuditEntry;
  }
}

function fakeContext(connectMs: (url: string) => number, audit = new ListAudit()): { ctx: PipelineContext; peak: () => number } {
  let active = 0;
  let peak = 0;
  const ctx: PipelineContext = {
    ca: {} as Ca,
    keystore: {} as Keystore,
    bundle: { manifest: { version: '1.0.0' } } as unknown as Bundle,
    signingPublicKeys: [],
    requireSignatures: false,
    deviceIdTemplate: 'esp32_{mac6}',
    mqttServer: 'mqtt.example.net:8883',
    encryptionMode: 'off',
    registry: new NullRegistry(),
    audit,
    journalDir: '/nonexistent/journal',
    station: 's1',
    operator: 'tester',
    connect: async (url) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, connectMs(url)));
      active--;
      throw new TransportError('transport.not_found', `no board on ${url}`);
    },
  };
  return { ctx, peak: () => peak };
}

describe('runStation', () => {
  it('runs every port at once by default, in port order, one [port] line per step', async () => {
    const audit = new ListAudit();
    const { ctx, peak } = fakeContext((url) => (url.endsWith('1') ? 60 : 10), audit);
    const lines: string[] = [];
    const ports = ['sim://p1', 'sim://p2', 'sim://p3'];
    const outcomes = await runStation(ctx, ports, { onLine: (l) => lines.push(l) });
    expect(peak()).toBe(3);
    expect(outcomes.map((o) => o.portUrl)).toEqual(ports);
    for (const o of outcomes) expect(o).toMatchObject({ ok: false, error: { code: 'transport.not_found' } });
    for (const p of ports) {
      expect(lines.filter((l) => l.startsWith(`[${p}] `)).map((l) => l.replace(/\(\d+\.\ds\)$/, '(t)'))).toEqual([
        `[${p}] connecting`,
        `[${p}] FAILED: no board on ${p}`,
        `[${p}] failed: transport.not_found (t)`,
      ]);
    }
    // p1 is slowest: it finishes last although it started first.
    expect(lines.at(-1)).toMatch(/^\[sim:\/\/p1\] failed/);
    expect(audit.actions.sort()).toEqual(ports.map((p) => `provision.failed ${p}`));
  });

  it('keeps at most `concurrency` boards in flight, and drops duplicate ports', async () => {
    const { ctx, peak } = fakeContext(() => 15);
    const outcomes = await runStation(ctx, ['a', 'b', 'c', 'd', 'e', 'a'], { concurrency: 2 });
    expect(peak()).toBe(2);
    expect(outcomes.map((o) => o.portUrl)).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('still calls the context\'s own onProgress', async () => {
    const seen: string[] = [];
    const { ctx } = fakeContext(() => 1);
    await runStation({ ...ctx, onProgress: (l) => seen.push(l) }, ['x']);
    expect(seen[0]).toBe('x: connecting');
  });
});

describe('renderSummary', () => {
  const outcome = (o: Partial<BoardOutcome>): BoardOutcome => ({
    portUrl: '/dev/ttyUSB0',
    ok: true,
    mac: '24:0a:c4:12:34:56',
    deviceId: 'esp32_123456',
    record: null,
    error: null,
    resumed: false,
    steps: [],
    revoked: [],
    durationMs: 12_345,
    ...o,
  });

  it('aligns device id, MAC, result, time and reason, then counts', () => {
    const outcomes = [
      outcome({}),
      outcome({ portUrl: 'rfc2217://rig:4000', resumed: true, durationMs: 800 }),
      outcome({ portUrl: '/dev/ttyUSB2', ok: false, mac: null, deviceId: null, durationMs: 51, error: { code: 'session.no_sync', message: 'no answer from the ROM loader' } }),
    ];
    expect(renderSummary(outcomes)).toEqual([
      'PORT                DEVICE ID     MAC                RESULT                 TIME   REASON',
      '/dev/ttyUSB0        esp32_123456  24:0a:c4:12:34:56  provisioned            12.3s',
      'rfc2217://rig:4000  esp32_123456  24:0a:c4:12:34:56  provisioned (resumed)  0.8s',
      '/dev/ttyUSB2        -             -                  failed                 0.1s   session.no_sync: no answer from the ROM loader',
      '2 provisioned, 1 failed',
    ]);
    expect(summaryRows(outcomes)[2]).toEqual({
      port: '/dev/ttyUSB2',
      deviceId: null,
      mac: null,
      result: 'failed',
      resumed: false,
      durationMs: 51,
      reason: 'session.no_sync: no answer from the ROM loader',
    });
  });
});

describe('station ports', () => {
  const cfg = parseStationConfig(
    `[station]\nid = "s"\noperator = "o"\n[ports]\nurls = ["rfc2217://rig:4000", "/dev/ttyUSB9"]\n[[ports.usb]]\nvid = "10c4"\npid = "ea60"\n[[ports.usb]]\nvid = "0x1a86"\n`,
    { baseDir: '/tmp' },
  );
  const listing = [
    { path: '/dev/ttyUSB0', vendorId: '10c4', productId: 'ea60' },
    { path: '/dev/ttyUSB1', vendorId: '10c4', productId: 'ea70' },
    { path: '/dev/ttyUSB2', vendorId: '1a86', productId: '7523' },
    { path: '/dev/ttyS0', vendorId: null, productId: null },
    { path: '/dev/ttyUSB9', vendorId: '10c4', productId: 'ea60' },
  ].map((p) => ({ ...p, manufacturer: null, serialNumber: null, bridge: null, likelyEsp: false }));

  it('takes ports.urls plus the attached ports matching a VID/PID filter, once each', async () => {
    expect(await stationPorts(cfg, [], async () => listing)).toEqual(['rfc2217://rig:4000', '/dev/ttyUSB9', '/dev/ttyUSB0', '/dev/ttyUSB2']);
    expect(matchesUsb({ vendorId: '1A86', productId: null }, cfg.ports.usb)).toBe(true);
  });

  it('--watch sees the ports matching the filters, or every likely ESP bridge without filters', async () => {
    expect(await watchedPorts(cfg, async () => listing)).toEqual(['/dev/ttyUSB0', '/dev/ttyUSB2', '/dev/ttyUSB9']);
    const bare = parseStationConfig('[station]\nid = "s"\noperator = "o"\n', { baseDir: '/tmp' });
    const marked = listing.map((p) => ({ ...p, likelyEsp: p.vendorId === '1a86' }));
    expect(await watchedPorts(bare, async () => marked)).toEqual(['/dev/ttyUSB2']);
  });

  it('--port replaces the config\'s ports and lists nothing', async () => {
    expect(await stationPorts(cfg, ['sim://a', 'sim://a'], async () => {
      throw new Error('must not list');
    })).toEqual(['sim://a']);
  });

  it('checkPorts names a missing device path or virtual board; network ports are not probed', () => {
    expect(() => checkPorts(['/dev/espfleet-no-such-tty'])).toThrow(/port \/dev\/espfleet-no-such-tty does not exist/);
    expect(() => checkPorts(['serial:///dev/espfleet-no-such-tty'])).toThrow(/does not exist/);
    expect(() => checkPorts(['sim://espfleet-no-such-board'])).toThrow(/no virtual board named "espfleet-no-such-board"/);
    expect(() => checkPorts(['rfc2217://127.0.0.1:1', '/dev/null'])).not.toThrow();
  });
});
