/**
 * The watchers of `npm run bench:watch`, in a process of their own (forked by bench/watch.ts),
 * so that reading a million events a second does not starve the load generator's event loop
 * and the CPU of each is measured apart. Driven over IPC:
 *   {type: 'open', ports, count, prefix}  → {type: 'opened', count}
 *   {type: 'latency', on: true}           → {type: 'latency'}            (start a histogram)
 *   {type: 'latency', on: false}          → {type: 'latency', figures}   (p50, p99, max, count)
 *   {type: 'stats'}                       → {type: 'stats', events, ended: {reason: n}}
 *   {type: 'close'}                       → exits
 * A write's value is `t<ms>`, its send time as performance.timeOrigin + performance.now()
 * (the same clock in every process): an event's latency is its read time minus that.
 */
import { request, type ClientRequest } from 'node:http';

const nowMs = (): number => performance.timeOrigin + performance.now();

/** Latencies in 10-µs buckets up to 10 s (a million events need no million-entry array). */
export class Histogram {
  private readonly buckets = new Uint32Array(1_000_000);
  count = 0;
  max = 0;
  add(ms: number): void {
    const b = Math.min(this.buckets.length - 1, Math.max(0, Math.round(ms * 100)));
    this.buckets[b]! += 1;
    this.count++;
    if (ms > this.max) this.max = ms;
  }
  percentile(p: number): number {
    const want = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!;
      if (seen >= want && seen > 0) return i / 100;
    }
    return NaN;
  }
}

/** One watch stream: counts the events it reads and, for values stamped `t<ms>`, their latency. */
class Watcher {
  started = false;
  events = 0;
  /** Why the stream ended, if it did (an `error` event's code, or the connection closing). */
  ended: string | null = null;
  private buf = '';
  private req: ClientRequest | null = null;

  constructor(
    private readonly port: number,
    private readonly prefix: string,
    private readonly hist: { current: Histogram | null },
  ) {}

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: this.port, path: `/v1/watch?prefix=${encodeURIComponent(this.prefix)}`, agent: false }, (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`watch on port ${this.port} answered ${res.statusCode}`));
          res.resume();
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          this.read(chunk);
          if (this.started) resolve();
        });
        res.on('end', () => (this.ended ??= 'closed'));
        res.on('error', () => (this.ended ??= 'connection error'));
      });
      req.on('error', (e) => {
        this.ended ??= `request error: ${e.message}`;
        reject(e);
      });
      req.end();
      this.req = req;
    });
  }

  private read(chunk: string): void {
    const now = nowMs();
    this.buf += chunk;
    let end: number;
    while ((end = this.buf.indexOf('\n\n')) >= 0) {
      const block = this.buf.slice(0, end);
      this.buf = this.buf.slice(end + 2);
      if (block.includes('event: start')) this.started = true;
      else if (block.includes('event: put')) {
        this.events++;
        const at = block.indexOf('"value":"t');
        if (at >= 0 && this.hist.current !== null) this.hist.current.add(now - Number.parseFloat(block.slice(at + 10, block.indexOf('"', at + 10))));
      } else if (block.includes('event: error')) this.ended = /"error":"([^"]+)"/.exec(block)?.[1] ?? 'error';
    }
  }

  close(): void {
    this.req?.destroy();
  }
}

export type ReaderRequest =
  | { readonly type: 'open'; readonly ports: readonly number[]; readonly count: number; readonly prefix: string }
  | { readonly type: 'latency'; readonly on: boolean }
  | { readonly type: 'stats' }
  | { readonly type: 'close' };

export type ReaderReply =
  | { readonly type: 'opened'; readonly count: number }
  | { readonly type: 'latency'; readonly figures?: { readonly p50ms: number; readonly p99ms: number; readonly maxms: number; readonly events: number } }
  | { readonly type: 'stats'; readonly events: number; readonly ended: Record<string, number> }
  | { readonly type: 'error'; readonly message: string };

const watchers: Watcher[] = [];
const hist: { current: Histogram | null } = { current: null };
const reply = (r: ReaderReply): void => void process.send?.(r);

async function handle(m: ReaderRequest): Promise<void> {
  switch (m.type) {
    case 'open': {
      for (let i = 0; i < m.count; i++) watchers.push(new Watcher(m.ports[i % m.ports.length]!, m.prefix, hist));
      for (let i = 0; i < watchers.length; i += 100) await Promise.all(watchers.slice(i, i + 100).map((w) => w.open()));
      return reply({ type: 'opened', count: watchers.length });
    }
    case 'latency': {
      if (m.on) {
        hist.current = new Histogram();
        return reply({ type: 'latency' });
      }
      const h = hist.current;
      hist.current = null;
      return reply({ type: 'latency', ...(h !== null && { figures: { p50ms: h.percentile(50), p99ms: h.percentile(99), maxms: h.max, events: h.count } }) });
    }
    case 'stats': {
      const ended: Record<string, number> = {};
      for (const w of watchers) if (w.ended !== null) ended[w.ended] = (ended[w.ended] ?? 0) + 1;
      return reply({ type: 'stats', events: watchers.reduce((n, w) => n + w.events, 0), ended });
    }
    case 'close':
      for (const w of watchers) w.close();
      process.disconnect?.();
      return;
  }
}

process.on('message', (m: ReaderRequest) => {
  handle(m).catch((e: unknown) => reply({ type: 'error', message: e instanceof Error ? e.message : String(e) }));
});
