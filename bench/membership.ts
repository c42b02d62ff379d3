/**
 * `npm run bench:membership`: membership changes on real `tsraft serve`
 * processes on loopback, FileStorage (fsync on), production timing (heartbeat
 * 100 ms, election 1 s: no --heartbeat-ms / --election-ms).
 *
 * 1. Join to voter: three nodes are loaded with 100,000 keys (256-byte values,
 *    64 PUTs in flight); then, three times, an empty node is started with
 *    `--join` and timed from its spawn until the leader's `GET /v1/members`
 *    lists it as a voter, and until its appliedIndex reaches the leader's
 *    commitIndex, and its event loop's longest delay until then is read from its
 *    /metrics. Each joined node is removed (and stopped) before the next.
 *    BENCH_KEYS sets the keys loaded (a joiner installs a snapshot of them).
 * 2. Leadership transfer: 20 `POST /v1/leader/transfer` under a light write
 *    load (4 clients), each timed from the POST to the first write the new
 *    leader acknowledges.
 *
 * BENCH_NODE_FLAGS and BENCH_NODE_STDOUT work as in bench/cluster.ts (e.g. `--trace-gc`
 * on every node, each node's output to a file).
 *
 * Every process it starts is killed on the way out, failure included, and a
 * watchdog ends the run after BENCH_MAX_SECONDS (default 280).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureClusterCerts } from '../src/security/cluster-certs.js';
import { NODE_FLAGS, nodeStdout } from './cluster.js';
import { scrapeEventLoop } from './event-loop.js';

const KEYS = Number(process.env['BENCH_KEYS'] ?? 100_000);
const IN_FLIGHT = 64;
const JOINS = 3;
const TRANSFERS = 20;
const WRITERS = 4;
const VALUE = 'v'.repeat(256);
const MAX_SECONDS = Number(process.env['BENCH_MAX_SECONDS'] ?? 280);
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

interface Node {
  readonly name: string;
  readonly raft: number;
  readonly api: number;
  readonly dir: string;
  proc: ChildProcess | null;
  /** The tail of its log (stderr), for failures and to see how it caught up. */
  log: string;
}

interface Answer {
  readonly status: number;
  readonly body: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

/** One HTTP request; status 0 when the connection failed or timed out. */
function call(port: number, method: string, p: string, body?: string, agent?: Agent, timeoutMs = 5000): Promise<Answer> {
  return new Promise((resolve) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = request({ host: '127.0.0.1', port, method, path: p, headers, timeout: timeoutMs, ...(agent !== undefined && { agent }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => resolve({ status: 0, body: '' }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function json<T>(port: number, p: string): Promise<T | null> {
  const a = await call(port, 'GET', p, undefined, undefined, 2000);
  return a.status === 200 ? (JSON.parse(a.body) as T) : null;
}

interface Status {
  readonly id: string;
  readonly role: string;
  readonly leader: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
}

interface Members {
  readonly members: { readonly name: string; readonly role: string; readonly lag: number | null }[];
  readonly leader: string | null;
  readonly joint: boolean;
}

/** Every process this run started, killed on any way out. */
const nodes: Node[] = [];
let root = '';

function spawnNode(n: Node, membership: string[], logLevel: string): void {
  const out = nodeStdout(n.name);
  const p = spawn(process.execPath, [...NODE_FLAGS, CLI, 'serve', '--id', n.name, '--data', n.dir, '--listen', `127.0.0.1:${n.raft}`, '--api', `127.0.0.1:${n.api}`, '--cluster-id', 'bench', ...membership, '--tls-dir', path.join(root, 'certs', n.name), '--log-level', logLevel], {
    stdio: ['ignore', out, 'pipe'],
  });
  // The child has its own copy of the descriptor.
  if (out !== 'ignore') closeSync(out);
  p.stderr!.on('data', (b: Buffer) => {
    n.log += b.toString('utf8');
    if (n.log.length > 200_000) n.log = n.log.slice(-100_000);
  });
  n.proc = p;
}

async function newNode(name: string): Promise<Node> {
  // Peers authenticate with certificates of the run's CA, as a deployment would.
  await ensureClusterCerts(root, [name]);
  const n: Node = { name, raft: await freePort(), api: await freePort(), dir: path.join(root, name), proc: null, log: '' };
  nodes.push(n);
  return n;
}

async function stopNode(n: Node): Promise<void> {
  const p = n.proc;
  if (p === null) return;
  if (p.exitCode === null && p.signalCode === null) {
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await Promise.race([gone, sleep(2000)]);
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await gone;
    }
  }
  n.proc = null;
}

function killAllNow(): void {
  for (const n of nodes) if (n.proc !== null && n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGKILL');
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false>, everyMs = 20): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined && v !== false) return v;
    if (performance.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

const byName = (name: string): Node => {
  const n = nodes.find((x) => x.name === name && x.proc !== null);
  if (n === undefined) throw new Error(`no running node named ${name}`);
  return n;
};

async function leaderOf(among: Node[]): Promise<Node> {
  return until('a leader', 15_000, async () => {
    for (const n of among) {
      const s = await json<Status>(n.api, '/v1/status');
      if (s?.role === 'leader') return n;
    }
    return null;
  }, 50);
}

// ---- 1. loading and joins ---------------------------------------------------------------

async function loadKeys(leader: Node): Promise<{ seconds: number; opsPerSec: number; retries: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  const body = JSON.stringify({ value: VALUE });
  let next = 0;
  let retries = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let k = next++; k < KEYS; k = next++) {
        for (let attempt = 0; ; attempt++) {
          const a = await call(leader.api, 'PUT', `/v1/kv/key${k}`, body, agent);
          if (a.status === 200) break;
          if (attempt > 50) throw new Error(`loading: PUT key${k} keeps failing (${a.status} ${a.body})`);
          retries++;
          await sleep(50);
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  return { seconds, opsPerSec: KEYS / seconds, retries };
}

interface JoinResult {
  readonly node: string;
  readonly joinedThrough: string;
  readonly leaderCommitAtSpawn: number;
  /** Spawn → its API answers (process start-up). */
  readonly apiUpMs: number;
  /** Spawn → the leader lists it as a member (a learner, then a voter). */
  readonly listedMs: number;
  /** Spawn → the leader lists it as a voter. */
  readonly toVoterMs: number;
  /** Spawn → its appliedIndex ≥ the leader's commitIndex (read just before). */
  readonly toAppliedMs: number;
  readonly appliedIndex: number;
  /** Size of the snapshot it installed from the leader (null: caught up from the log alone). */
  readonly snapshotBytes: number | null;
  /**
   * Its event loop's longest delay from start-up until caught up (its /metrics, scraped once
   * then): how long installing the snapshot blocked it at a time. NaN from builds without the metric.
   */
  readonly loopMaxMs: number;
}

/** The size logged by a node that installed a snapshot from the leader (pino JSON lines). */
function installedSnapshotBytes(log: string): number | null {
  for (const line of log.split('\n')) {
    if (!line.includes('snapshot installed from the leader')) continue;
    try {
      return (JSON.parse(line) as { bytes: number }).bytes;
    } catch {
      return null;
    }
  }
  return null;
}

async function join(round: number, members: Node[]): Promise<JoinResult> {
  const leader = await leaderOf(members);
  const through = members[round % members.length]!;
  const leaderCommitAtSpawn = (await json<Status>(leader.api, '/v1/status'))!.commitIndex;
  const n = await newNode(`n${4 + round}`);
  const t0 = performance.now();
  spawnNode(n, ['--join', `http://127.0.0.1:${through.api}`], 'info');
  let apiUpMs = NaN;
  let listedMs = NaN;
  let toVoterMs = NaN;
  let toAppliedMs = NaN;
  let appliedIndex = 0;
  await until(`${n.name} a voter and caught up`, 60_000, async () => {
    const p = n.proc!;
    if (p.exitCode !== null || p.signalCode !== null) throw new Error(`${n.name} exited (${p.exitCode ?? p.signalCode}):\n${n.log.slice(-2000)}`);
    if (Number.isNaN(toVoterMs)) {
      const v = await json<Members>(leader.api, '/v1/members');
      const me = v?.members.find((m) => m.name === n.name);
      if (me !== undefined && Number.isNaN(listedMs)) listedMs = performance.now() - t0;
      if (v !== null && !v.joint && me?.role === 'voter') toVoterMs = performance.now() - t0;
    }
    if (Number.isNaN(toAppliedMs)) {
      // The leader's commit index first, then the node's applied index: the node must have reached it.
      const l = await json<Status>(leader.api, '/v1/status');
      const s = await json<Status>(n.api, '/v1/status');
      if (s !== null && Number.isNaN(apiUpMs)) apiUpMs = performance.now() - t0;
      if (l !== null && s !== null && s.appliedIndex >= l.commitIndex && s.appliedIndex >= leaderCommitAtSpawn) {
        toAppliedMs = performance.now() - t0;
        appliedIndex = s.appliedIndex;
      }
    }
    return !Number.isNaN(toVoterMs) && !Number.isNaN(toAppliedMs);
  });
  // Nothing scraped its /metrics before: the histogram covers its whole life so far.
  const loopMaxMs = (await scrapeEventLoop(n.api).catch(() => undefined))?.maxms ?? NaN;
  return { node: n.name, joinedThrough: through.name, leaderCommitAtSpawn, apiUpMs, listedMs, toVoterMs, toAppliedMs, appliedIndex, snapshotBytes: installedSnapshotBytes(n.log), loopMaxMs };
}

/** Removes a joined node from the configuration and stops its process. */
async function remove(n: Node, via: Node): Promise<void> {
  const a = await call(via.api, 'DELETE', `/v1/members/${n.name}`, undefined, undefined, 65_000);
  if (a.status !== 200) throw new Error(`removing ${n.name}: ${a.status} ${a.body}`);
  await stopNode(n);
}

// ---- 2. leadership transfers --------------------------------------------------------------

/** Light write load: each writer sends PUTs to one node (forwarded to the leader), retrying on failure. */
function writeLoad(members: Node[]): { stop: () => Promise<{ ok: number; failed: number }> } {
  let stopped = false;
  let ok = 0;
  let failed = 0;
  const agent = new Agent({ keepAlive: true, maxSockets: WRITERS });
  const body = JSON.stringify({ value: VALUE });
  const running = Array.from({ length: WRITERS }, async (_, c) => {
    const to = members[c % members.length]!;
    for (let i = 0; !stopped; i++) {
      const a = await call(to.api, 'PUT', `/v1/kv/load-${c}-${i % 1000}`, body, agent, 3000);
      if (a.status === 200) ok++;
      else {
        failed++;
        await sleep(20);
      }
    }
  });
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(running);
      agent.destroy();
      return { ok, failed };
    },
  };
}

interface TransferResult {
  readonly from: string;
  readonly to: string;
  readonly named: boolean;
  /** POST → its 200 answer (the new leader in office). */
  readonly answerMs: number;
  /** POST → the new leader acknowledged a write. */
  readonly writableMs: number;
}

async function transfer(n: number, members: Node[]): Promise<TransferResult> {
  const current = await leaderOf(members);
  // Alternate a named target and "the most up-to-date voter".
  const named = n % 2 === 0 ? members[(members.indexOf(current) + 1) % members.length]! : null;
  const t0 = performance.now();
  const a = await call(current.api, 'POST', '/v1/leader/transfer', JSON.stringify(named === null ? {} : { to: named.name }), undefined, 10_000);
  const answerMs = performance.now() - t0;
  if (a.status !== 200) throw new Error(`transfer ${n}: ${a.status} ${a.body}`);
  const leader = (JSON.parse(a.body) as { leader: string }).leader;
  if (leader === current.name || (named !== null && leader !== named.name)) throw new Error(`transfer ${n}: ${current.name} -> ${leader}, expected ${named?.name ?? 'another voter'}`);
  const target = byName(leader);
  const body = JSON.stringify({ value: leader });
  await until(`transfer ${n}: a write acknowledged by ${leader}`, 5000, async () => (await call(target.api, 'PUT', `/v1/kv/transfer-${n}`, body, undefined, 2000)).status === 200, 1);
  return { from: current.name, to: leader, named: named !== null, answerMs, writableMs: performance.now() - t0 };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

// ---- main -------------------------------------------------------------------------------

async function main(): Promise<void> {
  root = mkdtempSync(path.join(process.env['BENCH_DIR'] ?? tmpdir(), 'tsraft-bench-membership-'));
  const watchdog = setTimeout(() => {
    console.error(`bench:membership: still running after ${MAX_SECONDS} s; killing every node`);
    killAllNow();
    rmSync(root, { recursive: true, force: true });
    process.exit(1);
  }, MAX_SECONDS * 1000);
  watchdog.unref();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAllNow();
      rmSync(root, { recursive: true, force: true });
      process.exit(130);
    });
  }
  process.once('exit', killAllNow);
  const t0 = performance.now();
  try {
    const base: Node[] = [];
    for (let i = 1; i <= 3; i++) base.push(await newNode(`n${i}`));
    const peers = base.map((n) => `${n.name}=127.0.0.1:${n.raft}`).join(',');
    for (const n of base) spawnNode(n, ['--peers', peers], 'warn');
    const leader = await leaderOf(base);
    console.log(`bench:membership: 3 nodes on loopback, fsync on, heartbeat 100 ms, election 1 s (the defaults)`);

    const loading = await loadKeys(leader);
    console.log(`loaded ${KEYS.toLocaleString('en-US')} keys of ${VALUE.length} bytes (${IN_FLIGHT} PUTs in flight, to the leader): ${loading.seconds.toFixed(1)} s, ${Math.round(loading.opsPerSec).toLocaleString('en-US')} writes/s (${loading.retries} retries)`);

    const joins: JoinResult[] = [];
    for (let r = 0; r < JOINS; r++) {
      const j = await join(r, base);
      joins.push(j);
      const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
      const snap = j.snapshotBytes === null ? 'from the log' : `from a ${(j.snapshotBytes / 2 ** 20).toFixed(1)} MiB snapshot`;
      console.log(`join ${r + 1}: ${j.node} through ${j.joinedThrough}: voter after ${s(j.toVoterMs)}, applied the leader's commit index (${j.appliedIndex}) after ${s(j.toAppliedMs)}; API up ${s(j.apiUpMs)}, listed ${s(j.listedMs)}, caught up ${snap}; its event loop's longest delay ${j.loopMaxMs.toFixed(1)} ms`);
      await remove(byName(j.node), base[0]!);
    }

    const load = writeLoad(base);
    await sleep(500);
    const transfers: TransferResult[] = [];
    try {
      for (let n = 0; n < TRANSFERS; n++) {
        transfers.push(await transfer(n, base));
        await sleep(200);
      }
    } finally {
      const w = await load.stop();
      console.log(`background load during the transfers: ${WRITERS} writers, ${w.ok} writes acknowledged, ${w.failed} refused or failed (retried)`);
    }
    const writable = transfers.map((t) => t.writableMs).sort((a, b) => a - b);
    const answered = transfers.map((t) => t.answerMs).sort((a, b) => a - b);
    const summary = (xs: number[]): { p50ms: number; p99ms: number; maxms: number } => ({ p50ms: pct(xs, 50), p99ms: pct(xs, 99), maxms: xs.at(-1)! });
    console.log(`leadership transfer, POST to a write acknowledged by the new leader (${TRANSFERS} transfers, ${WRITERS} writers): p50 ${pct(writable, 50).toFixed(1)} ms  p99 ${pct(writable, 99).toFixed(1)} ms  max ${writable.at(-1)!.toFixed(1)} ms`);
    console.log(`  POST answered (new leader in office): p50 ${pct(answered, 50).toFixed(1)} ms  p99 ${pct(answered, 99).toFixed(1)} ms  max ${answered.at(-1)!.toFixed(1)} ms`);

    mkdirSync('bench/results', { recursive: true });
    const file = 'bench/results/membership.json';
    writeFileSync(
      file,
      JSON.stringify(
        {
          bench: 'membership',
          date: new Date().toISOString(),
          node: process.version,
          timing: { heartbeatMs: 100, electionMs: 1000 },
          loading: { keys: KEYS, valueBytes: VALUE.length, inFlight: IN_FLIGHT, ...loading },
          joins,
          transfers: { writers: WRITERS, writable: summary(writable), answered: summary(answered), each: transfers },
          totalSeconds: (performance.now() - t0) / 1000,
        },
        null,
        2,
      ) + '\n',
    );
    console.log(`results written to ${file} (${((performance.now() - t0) / 1000).toFixed(0)} s in all)`);
  } catch (e) {
    for (const n of nodes) if (n.log !== '') console.error(`--- ${n.name} log tail ---\n${n.log.slice(-1500)}`);
    throw e;
  } finally {
    await Promise.all(nodes.map((n) => stopNode(n)));
    rmSync(root, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
