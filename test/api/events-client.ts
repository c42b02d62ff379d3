/** A test client of `GET /v1/events`: reads the stream with fetch and hands out its messages. */

export interface StreamMessage {
  /** `snapshot`, `state`, `event`, or `comment` for a `:` line. */
  readonly event: string;
  readonly data: unknown;
  /** The raw text of a comment. */
  readonly text?: string;
}

export class EventsClient {
  readonly messages: StreamMessage[] = [];
  private waiters: (() => void)[] = [];
  ended = false;

  private constructor(
    readonly response: Response,
    private readonly ac: AbortController,
  ) {}

  /** Opens the stream; resolves once the headers are in (whatever the status). */
  static async open(url: string, headers: Record<string, string> = {}): Promise<EventsClient> {
    const ac = new AbortController();
    const res = await fetch(`${url}/v1/events`, { headers, signal: ac.signal });
    const c = new EventsClient(res, ac);
    if (res.ok && res.body !== null) void c.pump(res.body);
    return c;
  }

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) this.messages.push({ event: 'comment', data: null, text: line.slice(1).trim() });
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) this.messages.push({ event, data: JSON.parse(data.join('\n')) as unknown });
          this.wake();
        }
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

  /** The first message (from `from` on) that satisfies `pred`; rejects after `timeoutMs`. */
  async next(pred: (m: StreamMessage) => boolean, timeoutMs = 5000, from = 0): Promise<StreamMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.messages.slice(from).find(pred);
      if (m !== undefined) return m;
      if (this.ended) throw new Error(`the stream ended before the message came (${this.messages.length} messages)`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no such message within ${timeoutMs} ms (${this.messages.length} messages: ${this.messages.map((x) => x.event).join(' ')})`);
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
