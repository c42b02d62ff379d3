/**
 * `npm run bench:resources`: the figures of issue 12, item 6, on a 3-node
 * cluster of real processes (fsync, peer TLS, production timing, snapshots
 * every 16 MiB of log):
 *   - memory: the resident set (VmRSS) of every node idle, after 1,000,000
 *     writes of 256-byte values on 100,000 keys, and after 1,000,000 more
 *     (BENCH_WRITES changes the count);
 *   - failover: SIGKILL of the leader to the first successful write through a
 *     survivor, BENCH_KILLS times (default 20); the killed node is restarted on
 *     its data and the cluster settles before the next kill.
 * Restart time of a node whose log holds 1,000,000 entries is `npm run
 * bench:storage`'s recovery figure (the log of a running cluster is compacted).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureClusterCerts } from '../src/security/cluster-certs.js';
import { freePort, load } from './cluster.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const WRITES = Number(process.env['BENCH_WRITES'] ?? 1_000_000);
const KILLS = Number(process.env['BENCH_KILLS'] ?? 20);
const VALUE = JSON.stringify({ value: 'v'.repeat(256) });

interface Node {
  readonly name: string;
  readonly raft: number;
  readonly api: number;
  proc: ChildProcess | null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Math.round(Number(m[1]) / 1024);
}

async function status(n: Node): Promise<{ role: string; commitIndex: number } | null> {
  try {
    return (await (await fetch(`http://127.0.0.1:${n.api}/v1/status`, { signal: AbortSignal.timeout(500) })).json()) as { role: string; commitIndex: number };
  } catch {
    return null;
  }
}

async function leaderOf(nodes: readonly Node[]): Promise<Node> {
  for (let t = 0; t < 300; t++) {
    for (const n of nodes) if (n.proc !== null && (await status(n))?.role === 'leader') return n;
    await sleep(50);
  }
  throw new Error('no leader within 15 s');
}

async function putOnce(n: Node, key: string): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${n.api}/v1/kv/${key}`, { method: 'PUT', body: VALUE, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(1000) });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}

const root = mkdtempSync(path.join(process.env['BENCH_DIR'] ?? tmpdir(), 'tsraft-bench-resources-'));
const nodes: Node[] = [];
for (let i = 1; i <= 3; i++) nodes.push({ name: `n${i}`, raft: await freePort(), api: await freePort(), proc: null });
const peers = nodes.map((n) => `${n.name}=127.0.0.1:${n.raft}`).join(',');
const certs = await ensureClusterCerts(root, nodes.map((n) => n.name));
const start = (n: Node): void => {
  n.proc = spawn(process.execPath, [CLI, 'serve', '--id', n.name, '--data', path.join(root, n.name), '--listen', `127.0.0.1:${n.raft}`, '--api', `127.0.0.1:${n.api}`, '--peers', peers, '--tls-dir', certs.tlsDir(n.name), '--log-level', 'error'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
};
const stopAll = async (): Promise<void> => {
  for (const n of nodes) n.proc?.kill('SIGKILL');
  await sleep(300);
  rmSync(root, { recursive: true, force: true });
};
process.on('SIGINT', () => void stopAll().then(() => process.exit(130)));

try {
  for (const n of nodes) start(n);
  const leader = await leaderOf(nodes);
  await sleep(2000);
  const memory: { when: string; rssMiB: Record<string, number>; writesPerSec?: number }[] = [];
  const rss = (): Record<string, number> => Object.fromEntries(nodes.map((n) => [n.name + (n === leader ? ' (leader)' : ''), rssMiB(n.proc!.pid!)]));
  memory.push({ when: 'idle', rssMiB: rss() });
  console.log(`bench:resources: idle RSS ${JSON.stringify(memory[0]!.rssMiB)} MiB`);
  let total = 0;
  for (const round of [1, 2]) {
    // `load` runs for a time; run it until WRITES writes have been acknowledged.
    let done = 0;
    let secs = 0;
    while (done < WRITES) {
      const r = await load('write', 64, leader.api, 10);
      done += r.ops;
      secs += r.ops / r.opsPerSec;
    }
    total += done;
    memory.push({ when: `after ${total.toLocaleString('en-US')} writes`, rssMiB: rss(), writesPerSec: Math.round(done / secs) });
    console.log(`after ${total.toLocaleString('en-US')} writes: RSS ${JSON.stringify(memory[round]!.rssMiB)} MiB (${memory[round]!.writesPerSec} writes/s)`);
  }

  const failovers: number[] = [];
  for (let k = 1; k <= KILLS; k++) {
    const old = await leaderOf(nodes);
    old.proc!.kill('SIGKILL');
    old.proc = null;
    const t0 = performance.now();
    const survivors = nodes.filter((n) => n.proc !== null);
    let ok = false;
    for (let i = 0; !ok; i++) {
      ok = await putOnce(survivors[i % survivors.length]!, `failover-${k}`);
      if (!ok) await sleep(10);
      if (performance.now() - t0 > 30_000) throw new Error(`no write succeeded within 30 s of kill ${k}`);
    }
    const ms = performance.now() - t0;
    failovers.push(ms);
    console.log(`kill ${k}: ${old.name} was leader; first write after ${ms.toFixed(0)} ms`);
    start(old);
    // Settle: the restarted node caught up with the commit index before the next kill.
    for (let t = 0; t < 200; t++) {
      const [a, b] = [await status(old), await status((await leaderOf(nodes)))];
      if (a !== null && b !== null && a.commitIndex >= b.commitIndex) break;
      await sleep(50);
    }
    await sleep(500);
  }
  const sorted = [...failovers].sort((a, b) => a - b);
  const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  console.log(`failover over ${KILLS} kills: p50 ${pct(50).toFixed(0)} ms, p99 ${pct(99).toFixed(0)} ms, max ${sorted[sorted.length - 1]!.toFixed(0)} ms`);
  mkdirSync('bench/results', { recursive: true });
  const file = 'bench/results/resources.json';
  writeFileSync(file, JSON.stringify({ bench: 'resources', date: new Date().toISOString(), node: process.version, writes: WRITES, memory, failoverMs: failovers, failover: { p50: pct(50), p99: pct(99), max: sorted[sorted.length - 1] } }, null, 2) + '\n');
  console.log(`results written to ${file}`);
} finally {
  await stopAll();
}
