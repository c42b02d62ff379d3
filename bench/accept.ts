/**
 * `npm run bench:accept`: how long a crowd of new client connections waits
 * for a loaded leader (docs/PERFORMANCE.md, "New connections wait for the
 * event loop"). A 3-node cluster (real processes, fsync, peer TLS) holds
 * 100,000 keys; wrk keeps BENCH_CONNECTIONS (default 64) keep-alive writers on
 * the leader; meanwhile BENCH_CROWD (default 256) new connections are opened
 * at once, each sending one PUT, BENCH_CROWDS times (default 5, 2 s apart).
 * For each crowd: how long from the first connect call until the first and the
 * last answer, and the median connection. Also prints the leader's
 * `tsraft_api_accept_bursts_total` and wrk's own figures.
 *
 * BENCH_COMPARE_CLI=/other/checkout/dist/src/cli/main.js adds a cluster of
 * that build, alternating with this one (2 rounds): a before/after in one run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { fill, startCluster } from './cluster.js';
import { gauge } from './event-loop.js';
import { okRequests, runWrk, type WrkResult } from './wrk.js';

const KEYS = 100_000;
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 64);
const CROWD = Number(process.env['BENCH_CROWD'] ?? 256);
const CROWDS = Number(process.env['BENCH_CROWDS'] ?? 5);
const OTHER = process.env['BENCH_COMPARE_CLI'];
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? (OTHER === undefined ? 1 : 2));
const BODY = JSON.stringify({ value: 'v'.repeat(256) });

/** Opens `n` connections at once, each sending one PUT; the ms from the start until each answer's first bytes, in order. */
async function crowd(port: number, n: number, tag: string): Promise<number[]> {
  const t0 = performance.now();
  const one = (i: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      const key = `crowd-${tag}-${i}`;
      s.once('connect', () => s.write(`PUT /v1/kv/${key} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${BODY.length}\r\nconnection: close\r\n\r\n${BODY}`));
      let head = '';
      s.on('data', (d: Buffer) => {
        head += d.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        const ms = performance.now() - t0;
        s.destroy();
        if (!head.startsWith('HTTP/1.1 200')) reject(new Error(`crowd connection ${i}: ${head.split('\r\n')[0]}`));
        else resolve(ms);
      });
      s.once('error', reject);
    });
  const times = await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
  return times.sort((a, b) => a - b);
}

/** The leader's count of accept bursts; NaN on builds from before the metric. */
async function acceptBursts(port: number): Promise<number> {
  return gauge(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), 'tsraft_api_accept_bursts_total');
}

interface CrowdRow {
  readonly build: string;
  readonly round: number;
  readonly firstMs: number;
  readonly p50Ms: number;
  readonly lastMs: number;
}
interface LoadRow {
  readonly build: string;
  readonly round: number;
  readonly writesPerSec: number;
  readonly p99ms: number;
  readonly maxms: number;
  readonly bursts: number;
}

const crowds: CrowdRow[] = [];
const loads: LoadRow[] = [];

async function round(build: string, cli: string | undefined, r: number): Promise<void> {
  const c = await startCluster({ peerTls: true, ...(cli !== undefined && { cli }) });
  try {
    await fill(c.leaderPort, KEYS);
    const bursts0 = await acceptBursts(c.leaderPort);
    const seconds = 3 + 2 * CROWDS;
    const load: Promise<WrkResult> = runWrk({ system: 'tsraft', op: 'put', connections: CONNECTIONS, port: c.leaderPort, seconds, keys: KEYS, valueBytes: 256 });
    for (let k = 0; k < CROWDS; k++) {
      await new Promise((res) => setTimeout(res, k === 0 ? 3000 : 2000));
      const t = await crowd(c.leaderPort, CROWD, `${build}-${r}-${k}`);
      const row: CrowdRow = { build, round: r, firstMs: t[0]!, p50Ms: t[t.length >> 1]!, lastMs: t[t.length - 1]! };
      crowds.push(row);
      console.log(`round ${r}  ${build.padEnd(5)}  crowd ${k + 1}: ${CROWD} connections answered from ${row.firstMs.toFixed(1)} to ${row.lastMs.toFixed(1)} ms (median ${row.p50Ms.toFixed(1)} ms)`);
    }
    const w = await load;
    const bursts = (await acceptBursts(c.leaderPort)) - bursts0;
    const lr: LoadRow = { build, round: r, writesPerSec: okRequests(w) / (w.duration_us / 1e6), p99ms: w.latency_us.p99 / 1000, maxms: w.latency_us.max / 1000, bursts };
    loads.push(lr);
    console.log(`round ${r}  ${build.padEnd(5)}  wrk at ${CONNECTIONS} connections meanwhile: ${Math.round(lr.writesPerSec).toLocaleString('en-US')} writes/s, p99 ${lr.p99ms.toFixed(1)} ms, max ${lr.maxms.toFixed(1)} ms; bursts counted by the leader: ${lr.bursts}`);
  } finally {
    await c.stop();
  }
}

console.log(`bench:accept: ${CROWD} new connections at once, ${CROWDS} times, against a leader under ${CONNECTIONS} keep-alive writers (3-node cluster, fsync, peer TLS, ${KEYS.toLocaleString('en-US')} keys)${OTHER !== undefined ? `; this build vs ${OTHER}, alternating` : ''}`);
for (let r = 1; r <= ROUNDS; r++) {
  const order: [string, string | undefined][] = OTHER === undefined ? [['this', undefined]] : r % 2 === 1 ? [['this', undefined], ['other', OTHER]] : [['other', OTHER], ['this', undefined]];
  for (const [build, cli] of order) await round(build, cli, r);
}
for (const build of OTHER === undefined ? ['this'] : ['this', 'other']) {
  const last = crowds.filter((c) => c.build === build).map((c) => c.lastMs).sort((a, b) => a - b);
  if (last.length > 0) console.log(`${build}: the last connection of a crowd was answered after ${last[0]!.toFixed(1)}–${last[last.length - 1]!.toFixed(1)} ms (median of ${last.length} crowds ${last[last.length >> 1]!.toFixed(1)} ms)`);
}
mkdirSync('bench/results', { recursive: true });
const file = 'bench/results/accept.json';
writeFileSync(file, JSON.stringify({ bench: 'accept', date: new Date().toISOString(), node: process.version, connections: CONNECTIONS, crowd: CROWD, crowds: CROWDS, other: OTHER ?? null, crowdRows: crowds, loadRows: loads }, null, 2) + '\n');
console.log(`results written to ${file}`);
