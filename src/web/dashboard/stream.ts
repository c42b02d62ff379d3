/**
 * One node's `GET /v1/events` stream, read with fetch (not EventSource: it can
 * send an Authorization header, and it sees the heartbeat comments that tell
 * a live node from a dead one). Reconnects every second while the node is down.
 */

/** A parsed server-sent event. */
export interface SseMessage {
  readonly event: string;
  readonly data: string;
}

/** Splits a server-sent-events byte stream into messages and comments (the HTML spec's parsing, minus `id`). */
export class SseParser {
  private buf = '';
  private event = '';
  private data: string[] = [];

  constructor(
    private readonly onMessage: (m: SseMessage) => void,
    private readonly onComment: (text: string) => void,
  ) {}

  push(text: string): void {
    this.buf += text;
    for (;;) {
      const nl = this.buf.search(/\r\n|\r|\n/);
      if (nl < 0) return;
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + (this.buf.startsWith('\r\n', nl) ? 2 : 1));
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.onMessage({ event: this.event || 'message', data: this.data.join('\n') });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return this.onComment(line.slice(1).trim());
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
  }
}

export type StreamStatus = { readonly kind: 'connecting' } | { readonly kind: 'open' } | { readonly kind: 'down'; readonly why: string } | { readonly kind: 'unauthorized'; readonly why: string };

export interface StreamHandlers {
  onMessage(m: SseMessage): void;
  onStatus(s: StreamStatus): void;
}

/** How long without a byte before a node counts as down (its heartbeat comes every second). */
export const SILENCE_MS = 1600;

/** A stream to one node that keeps itself open: reconnects after a failure or a silence. */
export class NodeStream {
  private abort: AbortController | null = null;
  private lastByte = 0;
  private timer: number | null = null;
  private status: StreamStatus['kind'] = 'connecting';
  private retryAt = 0;
  private closed = false;

  constructor(
    readonly url: string,
    private readonly token: () => string | null,
    private readonly h: StreamHandlers,
  ) {}

  start(): void {
    this.connect();
    this.timer = window.setInterval(() => this.watch(), 250);
  }

  /** Drops the connection and opens a new one now (e.g. after a token was given). */
  restart(): void {
    this.abort?.abort();
    this.connect();
  }

  close(): void {
    this.closed = true;
    this.abort?.abort();
    if (this.timer !== null) window.clearInterval(this.timer);
  }

  private set(s: StreamStatus): void {
    this.status = s.kind;
    this.h.onStatus(s);
  }

  private watch(): void {
    const now = performance.now();
    if (this.status === 'open' && now - this.lastByte > SILENCE_MS) {
      this.abort?.abort();
      this.set({ kind: 'down', why: `no heartbeat for ${((now - this.lastByte) / 1000).toFixed(1)} s` });
      this.retryAt = now + 500;
    }
    if ((this.status === 'down' || this.status === 'unauthorized') && now >= this.retryAt) this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    this.abort?.abort();
    const ac = new AbortController();
    this.abort = ac;
    this.status = 'connecting';
    this.retryAt = performance.now() + 1000;
    const token = this.token();
    const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
    // A connection that hangs before its first byte counts as down after the silence bound too.
    const guard = window.setTimeout(() => {
      if (this.abort === ac && this.status === 'connecting') {
        ac.abort();
        this.set({ kind: 'down', why: 'no answer' });
      }
    }, SILENCE_MS);
    void (async () => {
      try {
        const res = await fetch(`${this.url}/v1/events`, { headers, signal: ac.signal, cache: 'no-store' });
        if (res.status === 401 || res.status === 403) {
          const body = (await res.json().catch(() => ({}))) as { message?: string };
          this.set({ kind: 'unauthorized', why: body.message ?? `HTTP ${res.status}` });
          this.retryAt = performance.now() + 5000;
          return;
        }
        if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`);
        this.lastByte = performance.now();
        this.set({ kind: 'open' });
        const parser = new SseParser(
          (m) => this.h.onMessage(m),
          () => {},
        );
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          this.lastByte = performance.now();
          parser.push(value);
        }
        if (this.abort === ac) this.set({ kind: 'down', why: 'the stream ended' });
      } catch (e) {
        if (this.abort === ac && this.status !== 'down') this.set({ kind: 'down', why: e instanceof Error ? e.message : String(e) });
      } finally {
        window.clearTimeout(guard);
        this.retryAt = Math.max(this.retryAt, performance.now() + 1000);
      }
    })();
  }
}
