/** What the stream tests share: an SSE response read in the background, its messages kept, and waits on them. */
import { readSse, type SseMessage } from '../../src/client/sse.js';

export class SseStream<M extends { readonly event: string }> {
  readonly messages: M[] = [];
  ended = false;
  private waiters: (() => void)[] = [];

  constructor(
    readonly response: Response,
    private readonly ac: AbortController,
    parse: (m: SseMessage) => M,
    opts: { comments?: boolean } = {},
  ) {
    if (response.ok && response.body !== null) void this.pump(response.body as unknown as AsyncIterable<Uint8Array>, parse, opts);
    else this.ended = true;
  }

  private async pump(body: AsyncIterable<Uint8Array>, parse: (m: SseMessage) => M, opts: { comments?: boolean }): Promise<void> {
    try {
      for await (const m of readSse(body, opts)) {
        this.messages.push(parse(m));
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

  /** Waits until `pred` holds of the messages; rejects after `timeoutMs`, or if the stream ends first. */
  async until(pred: (ms: readonly M[]) => boolean, timeoutMs = 5000, what = 'the condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (pred(this.messages)) return;
      if (this.ended) throw new Error(`the stream ended before ${what} (${this.messages.length} messages: ${this.messages.map((x) => x.event).join(' ')})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`not ${what} within ${timeoutMs} ms (${this.messages.length} messages: ${this.messages.map((x) => x.event).join(' ')})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.ac.abort();
  }
}
