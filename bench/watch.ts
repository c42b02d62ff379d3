/**
 * `npm run bench:watch`: what watchers cost and how fast they hear of a change.
 * Three `tsraft serve` processes on loopback (peer TLS, fsync on, as bench/cluster.ts),
 * in one run, side by side:
 *  1. write throughput at 64 connections, no watcher;
 *  2. 1,000 watchers (`GET /v1/watch?prefix=key`, server-sent events) spread over the three
 *     nodes, and writes under that prefix paced at 1,000/s: the latency of each event at each
 *     watcher, from the moment the write was sent to the moment the watcher read the event;
 *  3. write throughput at 64 connections again, with those 1,000 watchers receiving every write;
 *  4. once more without watchers (the drift of the run itself).
 * The load generator and the watchers run in this process, on the same 2 cores as the three
 * nodes: the figures are what this machine does with all of it at once.
 * BENCH_SECONDS sets the time per figure (default 5); BENCH_WATCHERS the watchers (default 1,000);
 * BENCH_WATCH_RATE the paced writes per second (default 1,000).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request, type ClientRequest } from 'node:http';
import { load, startCluster, type Result } from './cluster.js';
import { cpuTicksFromStat } from './compare-etcd.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const WATCHERS = Number(process.env['BENCH_WATCHERS'] ?? 1000);
const RATE = Number(process.env['BENCH_WATCH_RATE'] ?? 1000);
/** bench/cluster.ts's load() writes keys `key0`..: the watchers watch all of them. */
const PREFIX = 'key';

/** Latencies in 10-µs buckets up to 10 s (a million events need no million-entry array). */
class Histogram {
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
    private readonly hist: { current: Histogram | null },
  ) {}

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: this.port, path: `/v1/watch?prefix=${PREFIX}`, agent: false }, (res) => {
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
    const now = performance.now();
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

/** Writes stamped with their send time, paced at `rate` per second for `seconds`; returns how many were acknowledged. */
async function pacedWrites(port: number, rate: number, seconds: number): Promise<{ acked: number; errors: number; lateMs: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const total = Math.round(rate * seconds);
  const t0 = performance.now() + 50;
  let next = 0;
  let acked = 0;
  let errors = 0;
  let lateMs = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < total) {
        const i = next++;
        const due = t0 + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        else lateMs = Math.max(lateMs, -wait);
        const body = JSON.stringify({ value: `t${performance.now().toFixed(3)}` });
        const status = await new Promise<number>((resolve) => {
          const req = request({ host: '127.0.0.1', port, method: 'PUT', path: `/v1/kv/${PREFIX}${i % 1000}`, agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', () => resolve(0));
          req.end(body);
        });
        if (status === 200) acked++;
        else errors++;
      }
    }),
  );
  agent.destroy();
  return { acked, errors, lateMs };
}

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU seconds so far of the node processes (together) and of this process (load generator and watchers). */
function cpu(pids: readonly number[]): { nodes: number; bench: number } {
  let ticks = 0;
  for (const pid of pids) ticks += cpuTicksFromStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const u = process.cpuUsage();
  return { nodes: ticks / 100, bench: (u.user + u.system) / 1e6 };
}

/** Runs `fn` and says how many CPU seconds the nodes and this process spent per wall second meanwhile. */
async function measured<T>(pids: readonly number[], fn: () => Promise<T>): Promise<{ value: T; cpu: { nodes: number; bench: number } }> {
  const a = cpu(pids);
  const t = performance.now();
  const value = await fn();
  const b = cpu(pids);
  const secs = (performance.now() - t) / 1000;
  return { value, cpu: { nodes: (b.nodes - a.nodes) / secs, bench: (b.bench - a.bench) / secs } };
}

const cpuText = (c: { nodes: number; bench: number }): string => `CPU: nodes ${c.nodes.toFixed(2)} cores, load generator and watchers ${c.bench.toFixed(2)}`;

async function main(): Promise<void> {
  const c = await startCluster({ peerTls: true });
  const watchers: Watcher[] = [];
  try {
    console.log(`bench:watch: 3 nodes on loopback, peer TLS on, fsync on; ${WATCHERS.toLocaleString('en-US')} watchers of prefix "${PREFIX}" spread over the nodes; ${SECONDS} s per figure`);
    // A warm-up the figures do not count (JIT, connection setup, the first segments of the logs).
    await load('write', 64, c.leaderPort, Math.max(1, SECONDS / 2));
    const { value: without, cpu: cpuWithout } = await measured(c.pids, () => load('write', 64, c.leaderPort, SECONDS));
    console.log(`writes, 64 connections, no watcher:        ${Math.round(without.opsPerSec).toLocaleString('en-US').padStart(7)} ops/s  p50 ${without.p50ms.toFixed(2)} ms  p99 ${without.p99ms.toFixed(2)} ms  (${without.errors} errors); ${cpuText(cpuWithout)}`);

    const hist: { current: Histogram | null } = { current: null };
    const t0 = performance.now();
    for (let i = 0; i < WATCHERS; i++) watchers.push(new Watcher(c.nodes[i % c.nodes.length]!.api, hist));
    for (let i = 0; i < watchers.length; i += 100) await Promise.all(watchers.slice(i, i + 100).map((w) => w.open()));
    console.log(`${watchers.length} watchers connected in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const latency = new Histogram();
    hist.current = latency;
    const before = watchers.reduce((s, w) => s + w.events, 0);
    const { value: paced, cpu: cpuPaced } = await measured(c.pids, () => pacedWrites(c.leaderPort, RATE, SECONDS));
    await settle(2000);
    hist.current = null;
    const delivered = watchers.reduce((s, w) => s + w.events, 0) - before;
    const cutDuringPaced = watchers.filter((w) => w.ended !== null).length;
    const lat = { p50ms: latency.percentile(50), p99ms: latency.percentile(99), maxms: latency.max, events: latency.count };
    console.log(
      `event latency, ${RATE.toLocaleString('en-US')} writes/s (${paced.acked} acknowledged, ${paced.errors} errors${paced.lateMs > 50 ? `, the writer fell up to ${paced.lateMs.toFixed(0)} ms behind its pace` : ''}): ` +
        `p50 ${lat.p50ms.toFixed(2)} ms  p99 ${lat.p99ms.toFixed(2)} ms  max ${lat.maxms.toFixed(1)} ms over ${delivered.toLocaleString('en-US')} events (of ${(paced.acked * watchers.length).toLocaleString('en-US')} due); ${cutDuringPaced} watcher(s) cut; ${cpuText(cpuPaced)}`,
    );

    const beforeC = watchers.reduce((s, w) => s + w.events, 0);
    const { value: withW, cpu: cpuWith } = await measured(c.pids, () => load('write', 64, c.leaderPort, SECONDS));
    await settle(2000);
    const deliveredC = watchers.reduce((s, w) => s + w.events, 0) - beforeC;
    const ends = new Map<string, number>();
    for (const w of watchers) if (w.ended !== null) ends.set(w.ended, (ends.get(w.ended) ?? 0) + 1);
    const endText = [...ends].map(([k, n]) => `${n} ${k}`).join(', ') || 'none';
    console.log(`writes, 64 connections, ${watchers.length} watchers: ${Math.round(withW.opsPerSec).toLocaleString('en-US').padStart(7)} ops/s  p50 ${withW.p50ms.toFixed(2)} ms  p99 ${withW.p99ms.toFixed(2)} ms  (${withW.errors} errors); ${deliveredC.toLocaleString('en-US')} events delivered; streams ended: ${endText}; ${cpuText(cpuWith)}`);
    for (const w of watchers) w.close();
    await settle(1000);
    // Again without watchers: the difference between the two figures without is the drift of the run itself.
    const { value: after, cpu: cpuAfter } = await measured(c.pids, () => load('write', 64, c.leaderPort, SECONDS));
    console.log(`writes, 64 connections, watchers closed:   ${Math.round(after.opsPerSec).toLocaleString('en-US').padStart(7)} ops/s  p50 ${after.p50ms.toFixed(2)} ms  p99 ${after.p99ms.toFixed(2)} ms  (${after.errors} errors); ${cpuText(cpuAfter)}`);
    console.log(`with watchers / without (mean of before and after): ${((withW.opsPerSec / ((without.opsPerSec + after.opsPerSec) / 2)) * 100).toFixed(0)}% of the write throughput`);

    const results: { cpu: Record<string, { nodes: number; bench: number }>; without: Result; after: Result; latency: typeof lat & { rate: number; acked: number; delivered: number; cut: number }; with: Result & { delivered: number; ended: Record<string, number> } } = {
      cpu: { without: cpuWithout, paced: cpuPaced, with: cpuWith, after: cpuAfter },
      without,
      after,
      latency: { ...lat, rate: RATE, acked: paced.acked, delivered, cut: cutDuringPaced },
      with: { ...withW, delivered: deliveredC, ended: Object.fromEntries(ends) },
    };
    mkdirSync('bench/results', { recursive: true });
    const file = 'bench/results/watch.json';
    writeFileSync(file, JSON.stringify({ bench: 'watch', date: new Date().toISOString(), node: process.version, seconds: SECONDS, watchers: WATCHERS, results }, null, 2) + '\n');
    console.log(`results written to ${file}`);
  } finally {
    for (const w of watchers) w.close();
    await c.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
