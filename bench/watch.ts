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
 * The load generator runs in this process and the watchers in another (bench/watch-readers.ts),
 * both on the same 2 cores as the three nodes: the figures are what this machine does with all
 * of it at once, and the CPU of each is reported.
 * BENCH_SECONDS sets the time per figure (default 5); BENCH_WATCHERS the watchers (default 1,000);
 * BENCH_WATCH_RATE the paced writes per second (default 1,000).
 * BENCH_PROFILE=1 runs only the paced row, with the nodes under `node --cpu-prof`, and prints
 * the leader's and one follower's CPU profile of that row (top functions by self time).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fork, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { load, startCluster, type Result } from './cluster.js';
import { profileTables, summarizeProfile, type CpuProfile } from './cpuprofile.js';
import { cpuTicksFromStat } from './compare-etcd.js';
import type { ReaderReply, ReaderRequest } from './watch-readers.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const WATCHERS = Number(process.env['BENCH_WATCHERS'] ?? 1000);
const RATE = Number(process.env['BENCH_WATCH_RATE'] ?? 1000);
/** bench/cluster.ts's load() writes keys `key0`..: the watchers watch all of them. */
const PREFIX = 'key';

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
        const body = JSON.stringify({ value: `t${(performance.timeOrigin + performance.now()).toFixed(3)}` });
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

/** The leader's delivery passes and events sent so far (its /metrics). */
async function passes(port: number): Promise<{ passes: number; sent: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const metric = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { passes: metric('tsraft_watch_delivery_passes_total'), sent: metric('tsraft_watch_events_sent_total') };
}

const passText = (a: { passes: number; sent: number }, b: { passes: number; sent: number }, secs: number): string =>
  `leader: ${Math.round((b.passes - a.passes) / secs)} delivery passes/s, ${((b.sent - a.sent) / Math.max(1, b.passes - a.passes)).toFixed(0)} events per pass`;

/** The watchers' process (bench/watch-readers.ts): one request at a time, each answered by one reply. */
class Readers {
  private readonly proc: ChildProcess;
  private waiting: ((r: ReaderReply) => void) | null = null;

  constructor() {
    this.proc = fork(new URL('./watch-readers.js', import.meta.url).pathname, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.proc.on('message', (r: ReaderReply) => {
      const w = this.waiting;
      this.waiting = null;
      w?.(r);
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  ask<T extends ReaderReply['type']>(m: ReaderRequest, want: T): Promise<Extract<ReaderReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.waiting = (r) => (r.type === want ? resolve(r as Extract<ReaderReply, { type: T }>) : reject(new Error(`watchers' process: ${r.type === 'error' ? r.message : `expected ${want}, got ${r.type}`}`)));
      this.proc.send(m);
    });
  }

  async open(ports: readonly number[]): Promise<number> {
    return (await this.ask({ type: 'open', ports, count: WATCHERS, prefix: PREFIX }, 'opened')).count;
  }

  close(): void {
    if (this.proc.connected) this.proc.send({ type: 'close' } satisfies ReaderRequest);
    setTimeout(() => this.proc.kill('SIGKILL'), 2000).unref();
  }
}

interface Cpu {
  readonly nodes: number;
  readonly generator: number;
  readonly watchers: number;
}

/** CPU seconds so far of the node processes (together), this process (the load generator) and the watchers' process. */
function cpu(pids: readonly number[], readers: number): Cpu {
  let ticks = 0;
  for (const pid of pids) ticks += cpuTicksFromStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const u = process.cpuUsage();
  let watchers = 0;
  try {
    watchers = cpuTicksFromStat(readFileSync(`/proc/${readers}/stat`, 'utf8')) / 100;
  } catch {
    // The watchers' process has exited (the last row has none).
  }
  return { nodes: ticks / 100, generator: (u.user + u.system) / 1e6, watchers };
}

/** Runs `fn` and says how many CPU seconds each part spent per wall second meanwhile. */
async function measured<T>(pids: readonly number[], readers: number, fn: () => Promise<T>): Promise<{ value: T; cpu: Cpu }> {
  const a = cpu(pids, readers);
  const t = performance.now();
  const value = await fn();
  const b = cpu(pids, readers);
  const secs = (performance.now() - t) / 1000;
  return { value, cpu: { nodes: (b.nodes - a.nodes) / secs, generator: (b.generator - a.generator) / secs, watchers: (b.watchers - a.watchers) / secs } };
}

const cpuText = (c: Cpu): string => `CPU: nodes ${c.nodes.toFixed(2)} cores, load generator ${c.generator.toFixed(2)}, watchers ${c.watchers.toFixed(2)}`;
const ops = (r: Result): string => `${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(7)} ops/s  p50 ${r.p50ms.toFixed(2)} ms  p99 ${r.p99ms.toFixed(2)} ms  max ${r.maxms.toFixed(1)} ms  (${r.errors} errors)`;

/** BENCH_PROFILE=1: where the nodes' CPU goes while the watchers hear of paced writes. */
async function profileMain(): Promise<void> {
  const profDir = mkdtempSync(path.join(tmpdir(), 'tsraft-bench-watch-prof-'));
  const c = await startCluster({ peerTls: true, cpuProfDir: profDir });
  const readers = new Readers();
  let stopped = false;
  try {
    await readers.open(c.nodes.map((n) => n.api));
    await readers.ask({ type: 'latency', on: true }, 'latency');
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const paced = await pacedWrites(c.leaderPort, RATE, SECONDS);
    const toUs = Number(process.hrtime.bigint() / 1000n);
    await settle(1000);
    const lat = (await readers.ask({ type: 'latency', on: false }, 'latency')).figures;
    console.log(`under the profiler: ${paced.acked} writes acknowledged at ${RATE}/s to ${WATCHERS} watchers; event latency p50 ${lat?.p50ms.toFixed(2)} ms p99 ${lat?.p99ms.toFixed(2)} ms`);
    readers.close();
    const leader = c.nodes.find((n) => n.api === c.leaderPort)!;
    const follower = c.nodes.find((n) => n.api !== c.leaderPort)!;
    await c.stop();
    stopped = true;
    const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
    for (const [role, n] of [['leader', leader], ['follower', follower]] as const) {
      const dir = path.join(profDir, n.name);
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      if (file === undefined) throw new Error(`no .cpuprofile from ${n.name} in ${dir}`);
      const summary = summarizeProfile(JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile, { fromUs, toUs });
      console.log(`\nthe ${role}'s (${n.name}) CPU profile during the paced row, self time:`);
      console.log(profileTables(summary, 20, root));
    }
  } finally {
    readers.close();
    if (!stopped) await c.stop();
    rmSync(profDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const c = await startCluster({ peerTls: true });
  const readers = new Readers();
  try {
    console.log(`bench:watch: 3 nodes on loopback, peer TLS on, fsync on; ${WATCHERS.toLocaleString('en-US')} watchers of prefix "${PREFIX}" spread over the nodes (in a process of their own); ${SECONDS} s per figure`);
    // A warm-up the figures do not count (JIT, connection setup, the first segments of the logs).
    await load('write', 64, c.leaderPort, Math.max(1, SECONDS / 2));
    const { value: without, cpu: cpuWithout } = await measured(c.pids, readers.pid, () => load('write', 64, c.leaderPort, SECONDS));
    console.log(`writes, 64 connections, no watcher:        ${ops(without)}; ${cpuText(cpuWithout)}`);

    const t0 = performance.now();
    const opened = await readers.open(c.nodes.map((n) => n.api));
    console.log(`${opened} watchers connected in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    await readers.ask({ type: 'latency', on: true }, 'latency');
    const before = (await readers.ask({ type: 'stats' }, 'stats')).events;
    const p0 = await passes(c.leaderPort);
    const { value: paced, cpu: cpuPaced } = await measured(c.pids, readers.pid, () => pacedWrites(c.leaderPort, RATE, SECONDS));
    const p1 = await passes(c.leaderPort);
    await settle(2000);
    const figures = (await readers.ask({ type: 'latency', on: false }, 'latency')).figures;
    const afterPaced = await readers.ask({ type: 'stats' }, 'stats');
    const delivered = afterPaced.events - before;
    const cutDuringPaced = Object.values(afterPaced.ended).reduce((n, x) => n + x, 0);
    const lat = { p50ms: figures?.p50ms ?? NaN, p99ms: figures?.p99ms ?? NaN, maxms: figures?.maxms ?? NaN, events: figures?.events ?? 0 };
    console.log(
      `event latency, ${RATE.toLocaleString('en-US')} writes/s (${paced.acked} acknowledged, ${paced.errors} errors${paced.lateMs > 50 ? `, the writer fell up to ${paced.lateMs.toFixed(0)} ms behind its pace` : ''}): ` +
        `p50 ${lat.p50ms.toFixed(2)} ms  p99 ${lat.p99ms.toFixed(2)} ms  max ${lat.maxms.toFixed(1)} ms over ${delivered.toLocaleString('en-US')} events (of ${(paced.acked * opened).toLocaleString('en-US')} due); ${cutDuringPaced} watcher(s) cut; ${cpuText(cpuPaced)}; ${passText(p0, p1, SECONDS)}`,
    );

    const beforeC = (await readers.ask({ type: 'stats' }, 'stats')).events;
    const p2 = await passes(c.leaderPort);
    const { value: withW, cpu: cpuWith } = await measured(c.pids, readers.pid, () => load('write', 64, c.leaderPort, SECONDS));
    const p3 = await passes(c.leaderPort);
    await settle(2000);
    const afterC = await readers.ask({ type: 'stats' }, 'stats');
    const deliveredC = afterC.events - beforeC;
    const endText = Object.entries(afterC.ended).map(([k, n]) => `${n} ${k}`).join(', ') || 'none';
    console.log(`writes, 64 connections, ${opened} watchers: ${ops(withW)}; ${deliveredC.toLocaleString('en-US')} events delivered (of ${(withW.ops * opened).toLocaleString('en-US')} due); streams ended: ${endText}; ${cpuText(cpuWith)}; ${passText(p2, p3, SECONDS)}`);
    readers.close();
    await settle(1000);
    // Again without watchers: the difference between the two figures without is the drift of the run itself.
    const { value: after, cpu: cpuAfter } = await measured(c.pids, readers.pid, () => load('write', 64, c.leaderPort, SECONDS));
    console.log(`writes, 64 connections, watchers closed:   ${ops(after)}; ${cpuText(cpuAfter)}`);
    console.log(`with watchers / without (mean of before and after): ${((withW.opsPerSec / ((without.opsPerSec + after.opsPerSec) / 2)) * 100).toFixed(0)}% of the write throughput`);

    const results = {
      cpu: { without: cpuWithout, paced: cpuPaced, with: cpuWith, after: cpuAfter },
      without,
      after,
      latency: { ...lat, rate: RATE, acked: paced.acked, delivered, cut: cutDuringPaced },
      with: { ...withW, delivered: deliveredC, ended: afterC.ended },
    };
    mkdirSync('bench/results', { recursive: true });
    const file = 'bench/results/watch.json';
    writeFileSync(file, JSON.stringify({ bench: 'watch', date: new Date().toISOString(), node: process.version, seconds: SECONDS, watchers: WATCHERS, results }, null, 2) + '\n');
    console.log(`results written to ${file}`);
  } finally {
    readers.close();
    await c.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await (process.env['BENCH_PROFILE'] === '1' ? profileMain() : main());
