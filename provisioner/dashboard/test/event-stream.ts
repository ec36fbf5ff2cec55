// The dashboard's /events read as a browser's EventSource would, for the tests: every
// `event:`/`data:` block collected in order, and a bounded wait for one that matches.
import { expect } from 'vitest';

export interface DashboardEvent {
  type: string;
  data: Record<string, unknown>;
}

export interface EventStream {
  events: DashboardEvent[];
  contentType: string | null;
  /** Polls (up to `tries` × 50 ms) until `ok`, then fails naming `what` and the events seen. */
  until(what: string, ok: () => boolean, tries?: number): Promise<void>;
  close(): Promise<void>;
}

export async function openEventStream(url: string): Promise<EventStream> {
  const events: DashboardEvent[] = [];
  const abort = new AbortController();
  const res = await fetch(url, { signal: abort.signal });
  const reading = (async () => {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body!) {
        buf += decoder.decode(chunk as Uint8Array, { stream: true });
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const type = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (type && data) events.push({ type, data: JSON.parse(data) as Record<string, unknown> });
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return {
    events,
    contentType: res.headers.get('content-type'),
    async until(what, ok, tries = 300) {
      for (let i = 0; i < tries && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(ok(), `${what}; events: ${JSON.stringify(events.map((e) => e.type))}`).toBe(true);
    },
    async close() {
      abort.abort();
      await reading;
    },
  };
}
