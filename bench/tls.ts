/**
 * `npm run bench:tls`: what peer TLS costs. The benchmark of bench/cluster.ts
 * (3 `tsraft serve` processes on loopback, fsync on, 256-byte values, HTTP
 * keep-alive to the leader) at 64 concurrent writers, with peer TLS on
 * (`--tls-dir`) and off (`--insecure-peers`), in alternating rows (a fresh
 * cluster each), 3 rounds; the medians of writes/s and p99 per mode.
 * BENCH_SECONDS sets the time per row (default 5), BENCH_ROUNDS the rounds (default 3).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { load, startCluster, type Result } from './cluster.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const CLIENTS = 64;

interface Row extends Result {
  readonly round: number;
  readonly peerTls: boolean;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function row(round: number, peerTls: boolean): Promise<Row> {
  const c = await startCluster({ peerTls });
  try {
    await load('write', CLIENTS, c.leaderPort, 1); // warm-up: connections, JIT
    const r = await load('write', CLIENTS, c.leaderPort);
    return { ...r, round, peerTls };
  } finally {
    await c.stop();
  }
}

async function main(): Promise<void> {
  console.log(`bench:tls: 3 nodes on loopback, fsync on, ${CLIENTS} concurrent writers to the leader; peer TLS on vs off, alternating, ${ROUNDS} rounds`);
  const rows: Row[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternate which mode goes first, so a drift of the machine does not favour one.
    for (const peerTls of round % 2 === 1 ? [true, false] : [false, true]) {
      const r = await row(round, peerTls);
      rows.push(r);
      console.log(`round ${round}  peer TLS ${peerTls ? 'on ' : 'off'}  ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(6)} writes/s  p50 ${r.p50ms.toFixed(2)} ms  p99 ${r.p99ms.toFixed(2)} ms  (${r.errors} errors)`);
    }
  }
  const summary = [true, false].map((peerTls) => {
    const rs = rows.filter((r) => r.peerTls === peerTls);
    return { peerTls, writesPerSec: median(rs.map((r) => r.opsPerSec)), p99ms: median(rs.map((r) => r.p99ms)), errors: rs.reduce((a, r) => a + r.errors, 0) };
  });
  console.log('');
  console.log('| peer TLS | writes/s (median) | p99 ms (median) | errors |');
  console.log('|---|---:|---:|---:|');
  for (const s of summary) console.log(`| ${s.peerTls ? 'on' : 'off'} | ${Math.round(s.writesPerSec).toLocaleString('en-US')} | ${s.p99ms.toFixed(1)} | ${s.errors} |`);
  const [on, off] = summary as [(typeof summary)[0], (typeof summary)[0]];
  console.log(`TLS on / off: writes/s ${((on.writesPerSec / off.writesPerSec) * 100).toFixed(0)} %, p99 ${((on.p99ms / off.p99ms) * 100).toFixed(0)} %`);
  mkdirSync('bench/results', { recursive: true });
  const file = 'bench/results/tls.json';
  writeFileSync(file, JSON.stringify({ bench: 'tls', date: new Date().toISOString(), node: process.version, clients: CLIENTS, seconds: Number(process.env['BENCH_SECONDS'] ?? 5), rounds: ROUNDS, rows, summary }, null, 2) + '\n');
  console.log(`results written to ${file}`);
}

await main();
