// What the driver knows about the fleet from the broker (docs/ota-protocol.md §2–3): every
// board's retained `status` (online, fw_version) and last `ota/status`, and the `events`
// as they come. One subscription per process; the driver listens, `start` reads the map
// before it plans the waves. The MQTT side is a small bus interface so the driver runs
// against a real broker or an in-memory one in unit tests.
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { parseDeviceStatus, splitDeviceTopic } from './ota-messages.ts';

/** The driver's view of MQTT: QoS 1 publish, subscribe, and when the connection is gone. */
export interface RolloutBus {
  publish(topic: string, payload: string): Promise<void>;
  subscribe(filters: readonly string[], onMessage: (topic: string, payload: Uint8Array) => void): Promise<void>;
  /** Resolves once the messages the broker queued before now (the retained ones) arrived. */
  flush?(): Promise<void>;
  /** Resolves when the connection is lost for good. */
  closed?: Promise<void>;
}

/** A connected mqtt.js client as a bus (QoS 1 everywhere, never retained: commands are not). */
export function mqttBus(client: MqttClient, opts: { flushTimeoutMs?: number } = {}): RolloutBus {
  const closed = new Promise<void>((resolve) => {
    if (!client.connected) return resolve();
    client.once('close', () => resolve());
  });
  return {
    closed,
    publish: async (topic, payload) => void (await client.publishAsync(topic, payload, { qos: 1, retain: false })),
    async subscribe(filters, onMessage) {
      client.on('message', (topic, payload) => onMessage(topic, payload));
      await client.subscribeAsync([...filters], { qos: 1 });
    },
    async flush() {
      // The broker sends a subscription's retained messages right after its SUBACK, before
      // anything published later: a marker we publish and receive comes after all of them.
      // (Operators may write devices/+/cmd/#; no board is named `_espfleet`.)
      const marker = `devices/_espfleet/cmd/sync-${randomBytes(6).toString('hex')}`;
      const seen = new Promise<void>((resolve) => {
        const t = setTimeout(done, opts.flushTimeoutMs ?? 3000);
        function done() {
          clearTimeout(t);
          client.off('message', onMessage);
          resolve();
        }
        function onMessage(topic: string) {
          if (topic === marker) done();
        }
        client.on('message', onMessage);
      });
      await client.subscribeAsync(marker, { qos: 1 });
      await client.publishAsync(marker, '{}', { qos: 1 });
      await seen;
      await client.unsubscribeAsync(marker).catch(() => undefined);
    },
  };
}

export interface BoardFacts {
  online: boolean;
  /** fw_version of its last status. */
  version?: string;
}

export type WatchMessage = { kind: 'status'; id: string; facts: BoardFacts; was?: BoardFacts } | { kind: 'ota'; id: string; payload: Uint8Array } | { kind: 'event'; id: string; payload: Uint8Array };

export const WATCH_FILTERS = ['devices/+/status', 'devices/+/ota/status', 'devices/+/events'] as const;

export class FleetWatch {
  readonly boards = new Map<string, BoardFacts>();
  /** The last ota/status of each board (retained semantics): a driver that attaches later replays it. */
  readonly lastOta = new Map<string, Uint8Array>();
  private readonly listeners = new Set<(m: WatchMessage) => void>();

  private constructor(readonly bus: RolloutBus) {}

  /** Subscribes and waits for the retained messages, so the map is the fleet's last word. */
  static async open(bus: RolloutBus): Promise<FleetWatch> {
    const w = new FleetWatch(bus);
    await bus.subscribe(WATCH_FILTERS, (topic, payload) => w.receive(topic, payload));
    await bus.flush?.();
    return w;
  }

  /** The planner's fleet: which boards are online now. */
  online(): Map<string, { online: boolean }> {
    return new Map([...this.boards].map(([id, b]) => [id, { online: b.online }]));
  }

  listen(fn: (m: WatchMessage) => void): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  /** @internal (and for tests): one message from the broker. */
  receive(topic: string, payload: Uint8Array): void {
    const parts = splitDeviceTopic(topic);
    if (!parts) return;
    const [id, rest] = parts;
    let m: WatchMessage;
    if (rest === 'status') {
      const was = this.boards.get(id);
      const facts = parseDeviceStatus(payload);
      // The will ({"online":false}) carries no version: keep the last one known.
      const merged: BoardFacts = { online: facts.online, ...((facts.version ?? was?.version) !== undefined ? { version: facts.version ?? was!.version! } : {}) };
      this.boards.set(id, merged);
      m = { kind: 'status', id, facts: merged, ...(was ? { was } : {}) };
    } else if (rest === 'ota/status') {
      this.lastOta.set(id, payload);
      m = { kind: 'ota', id, payload };
    } else if (rest === 'events') {
      m = { kind: 'event', id, payload };
    } else return;
    for (const fn of this.listeners) fn(m);
  }
}
