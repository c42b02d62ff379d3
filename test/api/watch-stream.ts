/** A test client of `GET /v1/watch`: reads the stream with fetch (through the client's SSE reader) and keeps its messages. */
import { readSse } from '../../src/client/sse.js';

export interface WatchMessage {
  readonly event: string;
  readonly id?: string;
  readonly data: Record<string, unknown>;
}

export class WatchStream {
  readonly messages: WatchMessage[] = [];
  private waiters: (() => void)[] = [];
  ended = false;

  private constructor(
    readonly response: Response,
    private readonly ac: AbortController,
  ) {}

  /** Opens `GET base/v1/watch?query`; resolves once the headers are in (whatever the status). */
  static async open(base: string, query: Record<string, string>, headers: Record<string, string> = {}): Promise<WatchStream> {
    const ac = new AbortController();
    const res = await fetch(`${base}/v1/watch?${new URLSearchParams(query).toString()}`, { headers, signal: ac.signal });
    const s = new WatchStream(res, ac);
    if (res.ok && res.body !== null) void s.pump(res.body as unknown as AsyncIterable<Uint8Array>);
    return s;
  }

  private async pump(body: AsyncIterable<Uint8Array>): Promise<void> {
    try {
      for await (const m of readSse(body)) {
        this.messages.push({ event: m.event, data: JSON.parse(m.data) as Record<string, unknown>, ...(m.id !== undefined && { id: m.id }) });
        this.wake();
      }
    } catch {
      // aborted or cut
    }
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The change events (put, delete) received so far. */
  get changes(): Record<string, unknown>[] {
    return this.messages.filter((m) => m.event === 'put' || m.event === 'delete').map((m) => m.data);
  }

  /** Waits until `pred` holds of the messages; rejects after `timeoutMs` or if the stream ends first. */
  async until(pred: (ms: readonly WatchMessage[]) => boolean, timeoutMs = 5000, what = 'the condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (pred(this.messages)) return;
      if (this.ended) throw new Error(`the stream ended before ${what} (${this.messages.map((x) => x.event).join(' ')})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`not ${what} within ${timeoutMs} ms (${this.messages.map((x) => x.event).join(' ')})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for the stream to end. */
  async end(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error('the stream did not end');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.ac.abort();
  }
}
