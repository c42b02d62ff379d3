/** A test client of `GET /v1/watch`: reads the stream with fetch (through the client's SSE reader) and keeps its messages. */
import { SseStream } from './sse-stream.js';

export interface WatchMessage {
  readonly event: string;
  readonly id?: string;
  readonly data: Record<string, unknown>;
}

export class WatchStream extends SseStream<WatchMessage> {
  /** Opens `GET base/v1/watch?query`; resolves once the headers are in (whatever the status). */
  static async open(base: string, query: Record<string, string>, headers: Record<string, string> = {}): Promise<WatchStream> {
    const ac = new AbortController();
    const res = await fetch(`${base}/v1/watch?${new URLSearchParams(query).toString()}`, { headers, signal: ac.signal });
    return new WatchStream(res, ac, (m) => ({ event: m.event, data: JSON.parse(m.data) as Record<string, unknown>, ...(m.id !== undefined && { id: m.id }) }));
  }

  /** The change events (put, delete) received so far. */
  get changes(): Record<string, unknown>[] {
    return this.messages.filter((m) => m.event === 'put' || m.event === 'delete').map((m) => m.data);
  }

  /** Waits for the stream to end. */
  async end(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error('the stream did not end');
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
