/**
 * `npm run bench:stall`: the tail latency of writes while the store snapshots.
 * A 3-node cluster (real processes, fsync, peer TLS) is filled with BENCH_KEYS
 * (default 100,000) keys of 256-byte values, then takes BENCH_CONNECTIONS (default 64) concurrent writers on those keys for
 * BENCH_SECONDS (default 25) at the leader: with 16 MiB of log per snapshot,
 * several snapshots of ~27 MiB of state are taken during the row. Prints
 * writes/s, p50, p99 and max, how many snapshots the leader took, and the leader's
 * event-loop delay (p99, max) and GC seconds during the row (bench/event-loop.ts).
 *
 * BENCH_COMPARE_CLI=/other/checkout/dist/src/cli/main.js adds rows of that
 * build, alternating with this one (3 rounds): a before/after in one run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { SERVE_ARGS, fill, load, startCluster, type Result } from './cluster.js';
import { scrapeEventLoop } from './event-loop.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 25);
const OTHER = process.env['BENCH_COMPARE_CLI'];
/** BENCH_KEYS: the keys written first and then written at random (default 100,000; the issue's aim is stated for 1,000,000). */
const KEYS = Number(process.env['BENCH_KEYS'] ?? 100_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? (OTHER === undefined ? 1 : 3));
/** BENCH_CONNECTIONS: concurrent writers (default 64, the issue's load). */
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 64);

async function snapshotsTaken(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  // Builds from before the metric have none: NaN.
  const m = /^tsraft_snapshots_total\{kind="taken"[^}]*\} (\d+)/m.exec(text);
  return m === null ? NaN : Number(m[1]);
}

/** A row: the load's figures, the snapshots the leader took, and the leader's event-loop delay (p99, max) and GC seconds during it. */
type StallRow = Result & { build: string; snapshots: number; loopP99ms: number; loopMaxms: number; gcSeconds: number };

async function row(build: string, cli: string | undefined): Promise<StallRow> {
  const c = await startCluster({ peerTls: true, serveArgs: SERVE_ARGS, ...(cli !== undefined && { cli }) });
  try {
    // Every key once (so snapshots hold all of them), then the measured row.
    const secs = await fill(c.leaderPort, KEYS);
    console.log(`${build}: ${KEYS.toLocaleString('en-US')} keys written in ${secs.toFixed(1)} s`);
    const before = await snapshotsTaken(c.leaderPort);
    // This scrape resets the leader's event-loop histogram: the one after the row covers the row alone.
    const loop0 = await scrapeEventLoop(c.leaderPort).catch(() => undefined);
    const r = await load('write', CONNECTIONS, c.leaderPort, SECONDS, KEYS);
    const loop1 = await scrapeEventLoop(c.leaderPort).catch(() => undefined);
    return {
      ...r,
      build,
      snapshots: (await snapshotsTaken(c.leaderPort)) - before,
      loopP99ms: loop1?.p99ms ?? NaN,
      loopMaxms: loop1?.maxms ?? NaN,
      gcSeconds: loop0 !== undefined && loop1 !== undefined ? loop1.gcSeconds - loop0.gcSeconds : NaN,
    };
  } finally {
    await c.stop();
  }
}

const rows: StallRow[] = [];
console.log(`bench:stall: ${CONNECTIONS} writers for ${SECONDS} s on ${KEYS.toLocaleString('en-US')} keys of 256 bytes, snapshots every 16 MiB of log${SERVE_ARGS.length > 0 ? `, serve ${SERVE_ARGS.join(' ')}` : ''}${OTHER !== undefined ? `; this build vs ${OTHER}, alternating` : ''}`);
for (let round = 1; round <= ROUNDS; round++) {
  const order: [string, string | undefined][] = OTHER === undefined ? [['this', undefined]] : round % 2 === 1 ? [['this', undefined], ['other', OTHER]] : [['other', OTHER], ['this', undefined]];
  for (const [build, cli] of order) {
    const r = await row(build, cli);
    rows.push(r);
    console.log(`round ${round}  ${build.padEnd(5)}  ${Math.round(r.opsPerSec).toLocaleString('en-US')} writes/s  p50 ${r.p50ms.toFixed(1)} ms  p99 ${r.p99ms.toFixed(1)} ms  max ${r.maxms.toFixed(1)} ms  snapshots ${r.snapshots}  errors ${r.errors}  leader event loop p99 ${r.loopP99ms.toFixed(1)} max ${r.loopMaxms.toFixed(1)} ms, GC ${r.gcSeconds.toFixed(2)} s`);
  }
}
mkdirSync('bench/results', { recursive: true });
const file = 'bench/results/stall.json';
writeFileSync(file, JSON.stringify({ bench: 'stall', date: new Date().toISOString(), node: process.version, seconds: SECONDS, keys: KEYS, other: OTHER ?? null, rows }, null, 2) + '\n');
console.log(`results written to ${file}`);
