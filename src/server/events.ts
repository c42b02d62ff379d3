/**
 * `GET /v1/events`: a server-sent-events stream of this node's state for the
 * live dashboard (docs/API.md, "Live events"). Nothing here runs on the write
 * path: while someone watches, the state is sampled on a timer and only what
 * changed is pushed; while no one does, no timer runs. Each client's unsent
 * output is bounded: a client that does not keep up is cut.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import type { EventsEvent, EventsLatency, EventsNodeState, EventsRates, EventsSnapshot } from '../api/events-format.js';
import type { Logger } from '../util/log.js';

/** Cumulative counters the rates are computed from. */
export interface EventsCounters {
  readonly applied: number;
  readonly requests: number;
  readonly proposals: number;
  /** Messages sent to each peer (by name), by type name; cumulative. */
  readonly sent: ReadonlyMap<string, ReadonlyMap<string, number>>;
  /** Messages received from each peer (by name); cumulative. */
  readonly received: ReadonlyMap<string, number>;
}

/** A histogram's cumulative state: bucket upper bounds (seconds) with cumulative counts, sum (seconds) and count. */
export interface HistogramReading {
  readonly buckets: readonly (readonly [number, number])[];
  readonly sum: number;
  readonly count: number;
}

/** What the hub reads from the node. */
export interface EventsSource {
  /** The node's state now (without rates): synchronous, no I/O. */
  state(): Omit<EventsNodeState, 'rates'>;
  counters(): EventsCounters;
  /** The proposal and fsync latency histograms. */
  histograms(): Promise<{ readonly proposal: HistogramReading; readonly fsync: HistogramReading }>;
  /** Called with true when the first client connects and false when the last leaves (to count messages only then). */
  watching?(on: boolean): void;
}

export interface EventHubOptions {
  readonly source: EventsSource;
  readonly logger: Logger;
  /** How often the state is sampled while someone watches (ms). Default 200. */
  readonly sampleMs?: number;
  /** How often a heartbeat comment is sent (ms). Default 1000. */
  readonly heartbeatMs?: number;
  /** The window rates and latencies are computed over (ms). Default 1000. */
  readonly rateWindowMs?: number;
  /** A client with more unsent output than this is cut (bytes). Default 256 KiB. */
  readonly maxBufferedBytes?: number;
  /** Streams open at once; more are refused with 503. Default 32. */
  readonly maxClients?: number;
  /** Wall clock (ms since the epoch). */
  readonly now?: () => number;
}

/** How many recent events a new client is sent. */
const RECENT_EVENTS = 100;

interface Client {
  readonly out: Writable;
}

/** Counts of what the hub did, for tests and the log. */
export interface EventHubStats {
  readonly clients: number;
  /** Clients cut because their unsent output passed the bound. */
  readonly cut: number;
  /** Streams refused because {@link EventHubOptions.maxClients} were open. */
  readonly refused: number;
}

/** The windowed latency from two cumulative histogram readings; null if nothing was observed in between. */
export function windowLatency(before: HistogramReading | null, after: HistogramReading): EventsLatency | null {
  const count = after.count - (before?.count ?? 0);
  if (count <= 0) return null;
  const sum = after.sum - (before?.sum ?? 0);
  const delta = after.buckets.map(([le, c], i) => [le, c - (before?.buckets[i]?.[1] ?? 0)] as const);
  // A quantile by linear interpolation inside the bucket that holds it (as Prometheus' histogram_quantile).
  const quantile = (q: number): number => {
    const rank = q * count;
    let prevLe = 0;
    let prevCount = 0;
    for (const [le, c] of delta) {
      if (c >= rank) {
        if (!Number.isFinite(le)) return prevLe;
        const inBucket = c - prevCount;
        return inBucket <= 0 ? le : prevLe + ((le - prevLe) * (rank - prevCount)) / inBucket;
      }
      prevLe = le;
      prevCount = c;
    }
    return prevLe;
  };
  const ms = (s: number): number => Math.round(s * 1e6) / 1e3;
  return { count, meanMs: ms(sum / count), p50Ms: ms(quantile(0.5)), p99Ms: ms(quantile(0.99)) };
}

/**
 * The live-events hub of one node: keeps the latest events, and while clients
 * are connected samples the node every {@link EventHubOptions.sampleMs} and
 * sends them what changed.
 */
export class EventHub {
  private readonly clients = new Set<Client>();
  private readonly recent: EventsEvent[] = [];
  private seq = 0;
  private readonly sampleMs: number;
  private readonly heartbeatMs: number;
  private readonly rateWindowMs: number;
  private readonly maxBuffered: number;
  private readonly maxClients: number;
  private readonly now: () => number;
  private sampleTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  /** The state as last sent, field by field (JSON), to send only what changed. */
  private sent = new Map<string, string>();
  private rates: EventsRates | null = null;
  private window: { at: number; counters: EventsCounters; hist: { proposal: HistogramReading; fsync: HistogramReading } | null } | null = null;
  private ratesBusy = false;
  private cutCount = 0;
  private refusedCount = 0;
  private closed = false;

  constructor(private readonly opts: EventHubOptions) {
    this.sampleMs = opts.sampleMs ?? 200;
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.rateWindowMs = opts.rateWindowMs ?? 1000;
    this.maxBuffered = opts.maxBufferedBytes ?? 256 << 10;
    this.maxClients = opts.maxClients ?? 32;
    this.now = opts.now ?? Date.now;
  }

  get stats(): EventHubStats {
    return { clients: this.clients.size, cut: this.cutCount, refused: this.refusedCount };
  }

  /** Records an event and sends it to every client. Cheap: events are rare (elections, snapshots, changes). */
  record(e: Omit<EventsEvent, 'at' | 'seq'>): void {
    const ev: EventsEvent = { at: this.now(), seq: ++this.seq, ...e };
    this.recent.push(ev);
    if (this.recent.length > RECENT_EVENTS) this.recent.shift();
    if (this.clients.size === 0) return;
    // The state the event changed goes first, so a client never sees an event ahead of its state.
    this.sample();
    this.broadcast(frame('event', ev));
  }

  /**
   * Answers `GET /v1/events` on `res`: the headers (with `headers` added, e.g. CORS), a `snapshot`,
   * then `state` and `event` messages and heartbeats until the client goes or {@link close}.
   */
  serve(req: IncomingMessage, res: ServerResponse, headers: Record<string, string> = {}): void {
    if (this.closed || this.clients.size >= this.maxClients) {
      this.refusedCount += 1;
      const why = this.closed ? 'this node is shutting down' : `${this.maxClients} event streams are open on this node already`;
      const body = JSON.stringify({ error: 'unavailable', message: why });
      res.writeHead(503, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'retry-after': '1' });
      res.end(body);
      return;
    }
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // Proxies must pass each message on as it comes.
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    const client = this.attach(res);
    req.on('close', () => this.detach(client));
  }

  /** Adds a client writing to `out` and sends it the snapshot (exported for tests with their own stream). */
  attach(out: Writable): Client {
    const client: Client = { out };
    out.on('close', () => this.detach(client));
    out.on('error', () => this.detach(client));
    if (this.clients.size === 0) this.startWatching();
    this.clients.add(client);
    const node: EventsNodeState = { ...this.opts.source.state(), rates: this.rates };
    // Later clients get their own snapshot: a field they then receive again unchanged does no harm.
    if (this.clients.size === 1) this.sent = new Map(Object.entries(node).map(([k, v]) => [k, JSON.stringify(v)]));
    const snap: EventsSnapshot = { v: 1, at: this.now(), sampleMs: this.sampleMs, heartbeatMs: this.heartbeatMs, node, events: this.recent };
    // `retry:` tells EventSource clients how soon to reconnect.
    this.write(client, `retry: 1000\n${frame('snapshot', snap)}`);
    return client;
  }

  /** Ends every stream and stops the timers; later streams are refused. */
  close(): void {
    this.closed = true;
    for (const c of [...this.clients]) {
      this.detach(c);
      c.out.end();
    }
  }

  private detach(c: Client): void {
    if (!this.clients.delete(c)) return;
    if (this.clients.size === 0) this.stopWatching();
  }

  private startWatching(): void {
    this.opts.source.watching?.(true);
    this.window = null;
    this.rates = null;
    this.sampleTimer = setInterval(() => this.sample(), this.sampleMs);
    this.heartbeatTimer = setInterval(() => this.broadcast(`: hb ${this.now()}\n\n`), this.heartbeatMs);
    void this.updateRates();
  }

  private stopWatching(): void {
    if (this.sampleTimer !== null) clearInterval(this.sampleTimer);
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.sampleTimer = this.heartbeatTimer = null;
    this.opts.source.watching?.(false);
  }

  /** Sends the fields that changed since the last message, if any; starts a new rate window when one is due. */
  private sample(): void {
    if (this.clients.size === 0) return;
    const at = this.now();
    if (this.window === null || at - this.window.at >= this.rateWindowMs) void this.updateRates();
    const state: Record<string, unknown> = { ...this.opts.source.state(), rates: this.rates };
    const changed: Record<string, unknown> = {};
    let any = false;
    for (const [k, v] of Object.entries(state)) {
      const json = JSON.stringify(v);
      if (this.sent.get(k) === json) continue;
      this.sent.set(k, json);
      changed[k] = v;
      any = true;
    }
    if (any) this.broadcast(frame('state', { at, ...changed }));
  }

  /** Closes the current rate window and opens the next. */
  private async updateRates(): Promise<void> {
    if (this.ratesBusy) return;
    this.ratesBusy = true;
    try {
      const at = this.now();
      const counters = this.opts.source.counters();
      let hist: { proposal: HistogramReading; fsync: HistogramReading } | null = null;
      try {
        hist = await this.opts.source.histograms();
      } catch (e) {
        this.opts.logger.debug({ err: e }, 'events: histograms unavailable');
      }
      const prev = this.window;
      this.window = { at, counters, hist };
      if (prev === null) return;
      const dt = (at - prev.at) / 1000;
      if (dt <= 0) return;
      const per = (a: number, b: number): number => Math.round(((a - b) / dt) * 10) / 10;
      const sent: Record<string, { total: number; byType: Record<string, number> }> = {};
      for (const [peer, types] of counters.sent) {
        const before = prev.counters.sent.get(peer);
        const byType: Record<string, number> = {};
        let total = 0;
        for (const [t, n] of types) {
          const r = per(n, before?.get(t) ?? 0);
          if (r > 0) byType[t] = r;
          total += r;
        }
        sent[peer] = { total: Math.round(total * 10) / 10, byType };
      }
      const received: Record<string, number> = {};
      for (const [peer, n] of counters.received) received[peer] = per(n, prev.counters.received.get(peer) ?? n);
      this.rates = {
        windowMs: Math.round(dt * 1000),
        appliedPerSec: per(counters.applied, prev.counters.applied),
        requestsPerSec: per(counters.requests, prev.counters.requests),
        proposalsPerSec: per(counters.proposals, prev.counters.proposals),
        sent,
        received,
        proposal: hist === null || prev.hist === null ? null : windowLatency(prev.hist.proposal, hist.proposal),
        fsync: hist === null || prev.hist === null ? null : windowLatency(prev.hist.fsync, hist.fsync),
      };
    } finally {
      this.ratesBusy = false;
    }
  }

  private broadcast(chunk: string): void {
    for (const c of [...this.clients]) this.write(c, chunk);
  }

  /** Writes to one client, cutting it if its unsent output would pass the bound. */
  private write(c: Client, chunk: string): void {
    if (c.out.writableLength + chunk.length > this.maxBuffered) {
      this.cutCount += 1;
      this.opts.logger.info({ buffered: c.out.writableLength, bound: this.maxBuffered }, 'events: a client that does not keep up was cut');
      this.detach(c);
      c.out.destroy();
      return;
    }
    c.out.write(chunk);
  }
}

/** One server-sent event. JSON has no raw newlines, so the data is one line. */
function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A prom-client histogram's cumulative state (unlabelled histograms). */
export async function histogramReading(h: { get(): Promise<{ values: readonly { value: number; labels: Readonly<Record<string, string | number | undefined>>; metricName?: string }[] }> }): Promise<HistogramReading> {
  const { values } = await h.get();
  const buckets: [number, number][] = [];
  let sum = 0;
  let count = 0;
  for (const v of values) {
    if (v.metricName?.endsWith('_bucket') === true) {
      const le = v.labels['le'];
      buckets.push([le === '+Inf' ? Infinity : Number(le), v.value]);
    } else if (v.metricName?.endsWith('_sum') === true) sum = v.value;
    else if (v.metricName?.endsWith('_count') === true) count = v.value;
  }
  buckets.sort((a, b) => a[0] - b[0]);
  return { buckets, sum, count };
}
