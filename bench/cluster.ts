/**
 * `npm run bench:cluster`: three `tsraft serve` processes on loopback with
 * FileStorage (fsync on), driven over HTTP/1.1 keep-alive. Writes of 256-byte
 * values to random keys among 100,000 at 1, 8, 64 and 256 concurrent clients,
 * then linearizable reads at 64: throughput and latency p50/p99. The load
 * generator runs in this process, on the same 2 cores as the three nodes.
 * Peers authenticate with mutual TLS (the default of `tsraft serve`);
 * bench/tls.ts reuses this to measure what that costs.
 * BENCH_SECONDS sets the time per figure (default 5).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureClusterCerts } from '../src/security/cluster-certs.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const KEYS = 100_000;
const VALUE = 'v'.repeat(256);
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

export interface Result {
  readonly kind: 'write' | 'read';
  readonly clients: number;
  readonly ops: number;
  readonly opsPerSec: number;
  readonly p50ms: number;
  readonly p99ms: number;
  readonly maxms: number;
  readonly errors: number;
}

function call(agent: Agent, port: number, method: string, p: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: p, agent, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export async function load(kind: 'write' | 'read', clients: number, port: number, seconds = SECONDS, keys = KEYS): Promise<Result> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const lat: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  let seed = clients * 7919;
  const nextKey = (): string => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return `key${seed % keys}`;
  };
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      let seq = 0;
      while (performance.now() < deadline) {
        const t = performance.now();
        try {
          const status =
            kind === 'write'
              ? await call(agent, port, 'PUT', `/v1/kv/${nextKey()}`, JSON.stringify({ value: VALUE }))
              : await call(agent, port, 'GET', `/v1/kv/${nextKey()}`);
          if (status !== 200 && !(kind === 'read' && status === 404)) errors++;
          else lat.push(performance.now() - t);
        } catch {
          errors++;
        }
        seq++;
      }
      return c + seq;
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  agent.destroy();
  lat.sort((a, b) => a - b);
  const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? NaN;
  return { kind, clients, ops: lat.length, opsPerSec: lat.length / secs, p50ms: pct(50), p99ms: pct(99), maxms: lat[lat.length - 1] ?? NaN, errors };
}

/** A running 3-node cluster of `tsraft serve` processes. */
/** Writes every key `key0`..`key{keys-1}` once (the keys `load` picks from), `clients` at a time; returns the seconds it took. */
export async function fill(port: number, keys: number, clients = 256): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const t0 = performance.now();
  let next = 0;
  const body = JSON.stringify({ value: VALUE });
  try {
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < keys) {
          const k = next++;
          const status = await call(agent, port, 'PUT', `/v1/kv/key${k}`, body);
          if (status !== 200) throw new Error(`fill: PUT key${k} answered ${status}`);
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return (performance.now() - t0) / 1000;
}

export interface BenchCluster {
  /** The leader's API port. */
  readonly leaderPort: number;
  /** The PIDs of the three node processes (for CPU accounting). */
  readonly pids: readonly number[];
  /** Every node's name, API port and PID. */
  readonly nodes: readonly { readonly name: string; readonly api: number; readonly pid: number }[];
  /** The directory holding every node's data (deleted by stop). */
  readonly dir: string;
  /** Stops every node (SIGTERM, then SIGKILL for any still running after 10 s) and deletes the data. */
  stop(): Promise<void>;
}

/** The space-separated words of environment variable `name`; none when unset. */
function envWords(name: string): readonly string[] {
  return (process.env[name] ?? '').split(' ').filter((w) => w !== '');
}

/** BENCH_NODE_FLAGS: flags for the nodes' `node` (e.g. `--trace-gc`), space-separated. */
export const NODE_FLAGS = envWords('BENCH_NODE_FLAGS');
/** BENCH_SERVE_ARGS: more `tsraft serve` flags for every node, space-separated (e.g. `--heap-growth-percent 0`, or `--config FILE`), in the benches that take them (bench:stall, bench:resources). */
export const SERVE_ARGS = envWords('BENCH_SERVE_ARGS');
/** BENCH_NODE_STDOUT: each node's standard output goes to this path plus `.<name>` (e.g. for `--trace-gc`); discarded otherwise. */
const NODE_STDOUT = process.env['BENCH_NODE_STDOUT'];

/** Where node `name`'s standard output goes (see BENCH_NODE_STDOUT): a descriptor to close once the node is spawned, or 'ignore'. */
export function nodeStdout(name: string): number | 'ignore' {
  return NODE_STDOUT === undefined ? 'ignore' : openSync(`${NODE_STDOUT}.${name}`, 'w');
}

/**
 * Starts 3 `tsraft serve` processes in a fresh directory and waits for a leader; peers over
 * mutual TLS unless `peerTls` is false. With `cpuProfDir`, each node runs under
 * `node --cpu-prof` and writes its profile to `cpuProfDir/<name>/` when it exits.
 */
export async function startCluster(opts: { readonly peerTls: boolean; readonly cli?: string; readonly cpuProfDir?: string; readonly serveArgs?: readonly string[] }): Promise<BenchCluster> {
  const root = mkdtempSync(path.join(process.env['BENCH_DIR'] ?? tmpdir(), 'tsraft-bench-cluster-'));
  const nodes: { name: string; raft: number; api: number; proc?: ChildProcess }[] = [];
  for (let i = 1; i <= 3; i++) nodes.push({ name: `n${i}`, raft: await freePort(), api: await freePort() });
  const peers = nodes.map((n) => `${n.name}=127.0.0.1:${n.raft}`).join(',');
  const certs = opts.peerTls ? await ensureClusterCerts(root, nodes.map((n) => n.name)) : null;
  const stop = async (): Promise<void> => {
    const running = (): typeof nodes => nodes.filter((n) => n.proc !== undefined && n.proc.exitCode === null && n.proc.signalCode === null);
    for (const n of running()) n.proc?.kill('SIGTERM');
    // A clean stop is quick; the wait matters under --cpu-prof, whose profile is written at exit.
    for (let t = 0; t < 100 && running().length > 0; t++) await new Promise((r) => setTimeout(r, 100));
    for (const n of running()) n.proc?.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  };
  try {
    for (const n of nodes) {
      const peerAuth = certs !== null ? ['--tls-dir', certs.tlsDir(n.name)] : ['--insecure-peers'];
      const prof = opts.cpuProfDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${path.join(opts.cpuProfDir, n.name)}`] : [];
      const out = nodeStdout(n.name);
      n.proc = spawn(process.execPath, [...NODE_FLAGS, ...prof, opts.cli ?? CLI, 'serve', '--id', n.name, '--data', path.join(root, n.name), '--listen', `127.0.0.1:${n.raft}`, '--api', `127.0.0.1:${n.api}`, '--peers', peers, ...peerAuth, ...(opts.serveArgs ?? []), '--log-level', 'warn'], {
        stdio: ['ignore', out, 'inherit'],
      });
      // The child has its own copy of the descriptor.
      if (out !== 'ignore') closeSync(out);
    }
    let leaderPort = 0;
    for (let t = 0; t < 200 && leaderPort === 0; t++) {
      for (const n of nodes) {
        try {
          const s = (await (await fetch(`http://127.0.0.1:${n.api}/v1/status`)).json()) as { role: string };
          if (s.role === 'leader') leaderPort = n.api;
        } catch {
          // not up yet
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (leaderPort === 0) throw new Error('no leader');
    return {
      leaderPort,
      pids: nodes.map((n) => n.proc?.pid ?? 0).filter((p) => p > 0),
      nodes: nodes.map((n) => ({ name: n.name, api: n.api, pid: n.proc?.pid ?? 0 })),
      dir: root,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function main(): Promise<void> {
  const c = await startCluster({ peerTls: true });
  const leaderPort = c.leaderPort;
  try {
    console.log(`bench:cluster: 3 nodes on loopback, peer TLS on, fsync on, ${VALUE.length}-byte values, random keys among ${KEYS.toLocaleString('en-US')}, requests to the leader, ${SECONDS} s per figure`);
    const results: Result[] = [];
    for (const clients of [1, 8, 64, 256]) {
      const r = await load('write', clients, leaderPort);
      results.push(r);
      console.log(`writes, ${String(clients).padStart(3)} clients: ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(7)} ops/s  p50 ${r.p50ms.toFixed(2)} ms  p99 ${r.p99ms.toFixed(2)} ms  (${r.errors} errors)`);
    }
    const reads = await load('read', 64, leaderPort);
    results.push(reads);
    console.log(`linearizable reads, 64 clients: ${Math.round(reads.opsPerSec).toLocaleString('en-US')} ops/s  p50 ${reads.p50ms.toFixed(2)} ms  p99 ${reads.p99ms.toFixed(2)} ms  (${reads.errors} errors)`);
    mkdirSync('bench/results', { recursive: true });
    const file = 'bench/results/cluster.json';
    writeFileSync(file, JSON.stringify({ bench: 'cluster', date: new Date().toISOString(), node: process.version, seconds: SECONDS, results }, null, 2) + '\n');
    console.log(`results written to ${file}`);
  } finally {
    await c.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
