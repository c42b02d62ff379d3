/**
 * The event-loop delay and GC time of a tsraft node, from its /metrics:
 * tsraft_event_loop_delay_seconds (src/server/metrics.ts), or on older builds prom-client's
 * nodejs_eventloop_lag_* (which count the 10 ms sampling interval in). Both read a
 * perf_hooks.monitorEventLoopDelay histogram and reset it on every scrape,
 * so a scrape right before a row and one right after give the delays of that row alone, as long
 * as nothing else scrapes the node meanwhile. The GC figure is a cumulative histogram: its
 * difference between the two scrapes is the GC time of the row.
 */

export interface EventLoopFigures {
  /** p99 of the event-loop delay since the previous scrape, ms. */
  readonly p99ms: number;
  /** Maximum event-loop delay since the previous scrape, ms. */
  readonly maxms: number;
  /** Seconds spent in GC since the process started (every kind), from nodejs_gc_duration_seconds_sum; NaN if absent. */
  readonly gcSeconds: number;
}

/** The value of a gauge (its first series) in a Prometheus text exposition; NaN if absent. */
export function gauge(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([^\\s]+)`, 'm').exec(text);
  return m === null ? NaN : Number(m[1]);
}

/** Reads the event-loop delay (p99, max) and the cumulative GC seconds from a /metrics text. */
export function parseEventLoopFigures(text: string): EventLoopFigures {
  // tsraft_event_loop_delay_seconds (how late, the sampling interval subtracted) where the node has it;
  // prom-client's figures (the whole 10 ms interval included) from older builds.
  const ours = (q: string): number => {
    const m = new RegExp(`^tsraft_event_loop_delay_seconds\\{quantile="${q}"[^}]*\\} ([^\\s]+)`, 'm').exec(text);
    return m === null ? NaN : Number(m[1]);
  };
  const own = Number.isFinite(ours('0.99'));
  const p99 = own ? ours('0.99') : gauge(text, 'nodejs_eventloop_lag_p99_seconds');
  const max = own ? ours('1') : gauge(text, 'nodejs_eventloop_lag_max_seconds');
  if (!Number.isFinite(p99) || !Number.isFinite(max)) throw new Error('no nodejs_eventloop_lag_p99_seconds / _max_seconds in the /metrics text');
  let gc = NaN;
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_sum(?:\{[^}]*\})? ([^\s]+)/gm)) gc = (Number.isNaN(gc) ? 0 : gc) + Number(m[1]);
  return { p99ms: p99 * 1000, maxms: max * 1000, gcSeconds: gc };
}

/** Scrapes one node's /metrics (which also resets its event-loop histogram). */
export async function scrapeEventLoop(port: number): Promise<EventLoopFigures> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (r.status !== 200) throw new Error(`GET /metrics on port ${port}: ${r.status}`);
  return parseEventLoopFigures(await r.text());
}

/** A node's V8 heap (used and total) and external memory in MiB, from its /metrics; NaN where absent. */
export async function scrapeHeap(port: number): Promise<{ heapUsedMiB: number; heapTotalMiB: number; externalMiB: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const mib = (name: string): number => Math.round(gauge(text, name) / 2 ** 20);
  return { heapUsedMiB: mib('nodejs_heap_size_used_bytes'), heapTotalMiB: mib('nodejs_heap_size_total_bytes'), externalMiB: mib('nodejs_external_memory_bytes') };
}
