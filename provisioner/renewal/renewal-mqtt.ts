// The thin MQTT side of `ca renewd`: subscribes to devices/+/cert/csr and devices/+/status
// and hands each message to the service one at a time. A QoS 1 message is acknowledged
// only after the service has dealt with it (journal, CA index, answer published), and the
// session is persistent (clean: false), so a CSR that arrives while renewd is down or is
// cut off mid-way is delivered again by the broker. (The session is MQTT 5: see connectOptions.)
import type { IClientOptions, MqttClient } from 'mqtt';
import { CSR_TOPIC, STATUS_TOPIC } from './csr-request.ts';
import type { RenewalService } from './renewal-service.ts';

export const RENEWAL_SUBSCRIPTIONS = ['devices/+/cert/csr', 'devices/+/status'] as const;

export interface RenewalPump {
  /** Connect options that route every message through the pump (pass to the connect). */
  connectOptions(clientId: string): Partial<IClientOptions>;
  /** Subscribes and serves until `signal` aborts or a message handler fails with a bug. */
  serve(client: MqttClient, signal: AbortSignal): Promise<void>;
}

export function renewalPump(service: RenewalService, log: (line: string) => void): RenewalPump {
  let chain: Promise<unknown> = Promise.resolve();
  let failed: ((e: unknown) => void) | undefined;
  let failure: unknown;
  const handle = (topic: string, payload: Buffer): Promise<void> => {
    const run = chain.then(async () => {
      if (failure !== undefined) throw failure;
      const csr = CSR_TOPIC.exec(topic);
      if (csr) {
        await service.handleCsr(csr[1]!, payload);
        return;
      }
      const status = STATUS_TOPIC.exec(topic);
      if (status) await service.handleStatus(status[1]!, payload);
    });
    chain = run.catch(() => undefined);
    return run.catch((e: unknown) => {
      // A bug or a broken registry/CA: stop without acknowledging, so the broker keeps the message.
      failure ??= e;
      log(`stopping: handling ${topic} failed: ${(e as Error).message}`);
      failed?.(e);
      throw e;
    });
  };
  return {
    connectOptions: (clientId) => ({
      // MQTT 5: mqtt.js honours customHandleAcks (the late ack) only on v5; the session
      // outlives a crash for a week (v5 ends a clean: false session at once without this).
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 7 * 86_400 },
      clean: false,
      clientId,
      resubscribe: true,
      customHandleAcks: (topic, message, _packet, done) => {
        handle(topic, message).then(
          () => done(0),
          () => undefined, // never acknowledged: delivered again after a restart
        );
      },
    }),
    async serve(client, signal) {
      client.on('message', (topic, payload, packet) => {
        if (packet.qos === 0) void handle(topic, payload).catch(() => undefined);
      });
      client.on('offline', () => log('broker connection lost; reconnecting'));
      client.on('reconnect', () => log('reconnecting to the broker'));
      await client.subscribeAsync([...RENEWAL_SUBSCRIPTIONS], { qos: 1 });
      await new Promise<void>((resolve, reject) => {
        if (signal.aborted) return resolve();
        signal.addEventListener('abort', () => resolve(), { once: true });
        failed = reject;
      });
      await chain;
    },
  };
}
