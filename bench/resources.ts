/**
 * `npm run bench:resources`: the figures of issue 12, item 6, on 3-node clusters of real
 * processes (fsync, peer TLS, production timing), written to bench/results/resources.json:
 *   - memory: the resident set (VmRSS) of every tsraft node idle, after BENCH_WRITES (default
 *     1,000,000) writes of 256-byte values on random keys among 100,000 (snapshots every 16 MiB
 *     of log, as in production), and after as many more; and, in the same run, the same writes
 *     to a 3-member etcd (bench/etcd.ts: its default settings, snapshots every 100,000 entries,
 *     no auto-compaction), its members' VmRSS and database size. Both driven by wrk with
 *     bench/wrk/kv.lua at BENCH_CONNECTIONS (default 64) until the count is acknowledged.
 *     Each system's RSS is taken right after its writes and again BENCH_SETTLE_SECONDS (default
 *     10) later. BENCH_ETCD=0 leaves etcd out; by default it is in when etcd and wrk are installed.
 *   - restart with snapshots: a follower of that cluster (its log compacted every 16 MiB)
 *     stopped with SIGTERM and started again: time from the spawn to its first /v1/status
 *     answer, and to applying everything the leader had committed;
 *   - failover: SIGKILL of the leader to the first successful write through a survivor,
 *     BENCH_KILLS times (default 20); the killed node is restarted and caught up before the next;
 *   - restart with a long log: a fresh cluster whose nodes never snapshot (`maxRaftState` raised
 *     in a --config file) takes BENCH_RESTART_ENTRIES (default 1,000,000) writes, then a
 *     follower is restarted as above: its log holds every entry (the node's "node started"
 *     line says how many it recovered).
 * BENCH_PARTS (default `memory,restart,failover,restart-long`) picks the parts; memory,
 * restart and failover share one cluster.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureClusterCerts } from '../src/security/cluster-certs.js';
import { SERVE_ARGS, freePort } from './cluster.js';
import { startEtcd, type EtcdCluster } from './etcd.js';
import { children, dirs, haveEtcdTools, killAllNow, rssMiB, sleep, stopChildrenOnExit, version } from './procs.js';
import { writeAtLeast } from './wrk.js';
import { scrapeHeap } from './event-loop.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const WRITES = Number(process.env['BENCH_WRITES'] ?? 1_000_000);
const KILLS = Number(process.env['BENCH_KILLS'] ?? 20);
const RESTART_ENTRIES = Number(process.env['BENCH_RESTART_ENTRIES'] ?? 1_000_000);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 64);
const SETTLE_SECONDS = Number(process.env['BENCH_SETTLE_SECONDS'] ?? 10);
const PARTS = new Set((process.env['BENCH_PARTS'] ?? 'memory,restart,failover,restart-long').split(',').map((p) => p.trim()));
const WITH_ETCD = process.env['BENCH_ETCD'] === '0' ? false : process.env['BENCH_ETCD'] === '1' ? true : haveEtcdTools();
const KEYS = 100_000;
const VALUE_BYTES = 256;
const VALUE = JSON.stringify({ value: 'v'.repeat(VALUE_BYTES) });
/** A snapshot threshold no run reaches: the log keeps every entry. */
const NO_SNAPSHOTS = 2 ** 40;

interface Status {
  role: string;
  commitIndex: number;
  appliedIndex: number;
}

interface Node {
  readonly name: string;
  readonly raft: number;
  readonly api: number;
  proc: ChildProcess | null;
}

/** What a node's "node started" log line says about what it recovered. */
interface Recovered {
  /** Entries in the log after the snapshot. */
  readonly entries: number;
  /** The snapshot's last index (0 without one). */
  readonly restoredIndex: number;
  /** From the spawn to the line, ms. */
  readonly atMs: number;
}

async function status(n: Node): Promise<Status | null> {
  try {
    const r = await fetch(`http://127.0.0.1:${n.api}/v1/status`, { signal: AbortSignal.timeout(1000) });
    return r.status === 200 ? ((await r.json()) as Status) : null;
  } catch {
    return null;
  }
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

/** Three `tsraft serve` processes in a fresh directory, started, stopped and restarted one by one. */
class Cluster {
  private constructor(
    readonly root: string,
    readonly nodes: readonly Node[],
    private readonly peers: string,
    private readonly tlsDir: (name: string) => string,
    private readonly configFile: string | null,
  ) {}

  static async create(label: string, opts: { readonly maxRaftState?: number } = {}): Promise<Cluster> {
    const root = mkdtempSync(path.join(process.env['BENCH_DIR'] ?? tmpdir(), `tsraft-bench-${label}-`));
    dirs.add(root);
    const nodes: Node[] = [];
    for (let i = 1; i <= 3; i++) nodes.push({ name: `n${i}`, raft: await freePort(), api: await freePort(), proc: null });
    const certs = await ensureClusterCerts(root, nodes.map((n) => n.name));
    let configFile: string | null = null;
    if (opts.maxRaftState !== undefined) {
      configFile = path.join(root, 'bench.json');
      writeFileSync(configFile, JSON.stringify({ maxRaftState: opts.maxRaftState }));
    }
    return new Cluster(root, nodes, nodes.map((n) => `${n.name}=127.0.0.1:${n.raft}`).join(','), (name) => certs.tlsDir(name), configFile);
  }

  /** Spawns a node; with `watchStart`, at log level info, resolving with its "node started" line (null if it exits first). */
  start(n: Node, watchStart = false): Promise<Recovered | null> {
    const t0 = Date.now();
    const args = [CLI, 'serve', '--id', n.name, '--data', path.join(this.root, n.name), '--listen', `127.0.0.1:${n.raft}`, '--api', `127.0.0.1:${n.api}`, '--peers', this.peers, '--tls-dir', this.tlsDir(n.name)];
    if (this.configFile !== null) args.push('--config', this.configFile);
    args.push(...SERVE_ARGS, '--log-level', watchStart ? 'info' : 'error');
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', watchStart ? 'pipe' : 'inherit'] });
    n.proc = proc;
    if (proc.pid !== undefined) children.add(proc.pid);
    if (!watchStart) return Promise.resolve(null);
    return new Promise((resolve) => {
      let buf = '';
      let found = false;
      proc.stderr!.on('data', (c: Buffer) => {
        // Read to the end whatever happens, so the node never blocks on a full pipe.
        if (found) return;
        buf += c.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.includes('"node started"')) continue;
          const j = JSON.parse(line) as { entries?: number; restoredIndex?: number; time?: number };
          found = true;
          resolve({ entries: j.entries ?? NaN, restoredIndex: j.restoredIndex ?? NaN, atMs: (j.time ?? NaN) - t0 });
          return;
        }
      });
      proc.on('exit', () => resolve(null));
    });
  }

  async leader(): Promise<Node> {
    for (let t = 0; t < 300; t++) {
      for (const n of this.nodes) if (n.proc !== null && (await status(n))?.role === 'leader') return n;
      await sleep(50);
    }
    throw new Error('no leader within 15 s');
  }

  /** Stops one node with `signal` and waits for its exit; ms from the signal to the exit. */
  async stop(n: Node, signal: NodeJS.Signals): Promise<number> {
    const p = n.proc;
    if (p === null) return 0;
    const t0 = performance.now();
    const exited = p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    const deadline = sleep(15_000).then(() => 'late' as const);
    if ((await Promise.race([exited, deadline])) === 'late') {
      p.kill('SIGKILL');
      await exited;
    }
    if (p.pid !== undefined) children.delete(p.pid);
    n.proc = null;
    return performance.now() - t0;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.stop(n, 'SIGTERM')));
    rmSync(this.root, { recursive: true, force: true });
    dirs.delete(this.root);
  }

  rss(leader: Node | null): Record<string, number> {
    return Object.fromEntries(this.nodes.map((n) => [n.name + (n === leader ? ' (leader)' : ''), n.proc?.pid !== undefined ? rssMiB(n.proc.pid) : NaN]));
  }
}

// --- memory, tsraft and etcd in the same run ---

interface MemoryPoint {
  readonly system: 'tsraft' | 'etcd';
  /** 0 idle, then 1 and 2 after each step of BENCH_WRITES. */
  readonly step: number;
  readonly when: string;
  readonly writes: number;
  readonly writesPerSec?: number;
  readonly errors?: number;
  readonly rssMiB: Record<string, number>;
  readonly leaderRssMiB: number;
  /** etcd: the leader's backend database size in MiB. */
  readonly dbMiB?: number;
  /** tsraft: the leader's V8 heap and external memory (from its /metrics; scraping it resets nothing counted here). */
  readonly leaderHeap?: { heapUsedMiB: number; heapTotalMiB: number; externalMiB: number };
  /** The same, BENCH_SETTLE_SECONDS after the writes stopped (a runtime gives back memory once idle). */
  readonly settled?: { readonly rssMiB: Record<string, number>; readonly leaderRssMiB: number; readonly leaderHeap?: { heapUsedMiB: number; heapTotalMiB: number; externalMiB: number } };
}

async function etcdPoint(et: EtcdCluster, step: number, when: string, writes: number, extra: Partial<MemoryPoint> = {}): Promise<MemoryPoint> {
  const st = await et.status();
  const leader = st.find((s) => s.isLeader);
  const rss = Object.fromEntries(et.members.map((m) => [m.name + (m.pid === leader?.member.pid ? ' (leader)' : ''), rssMiB(m.pid)]));
  return { system: 'etcd', step, when, writes, ...extra, rssMiB: rss, leaderRssMiB: leader !== undefined ? rssMiB(leader.member.pid) : NaN, dbMiB: leader !== undefined ? Math.round(leader.dbSize / 2 ** 20) : NaN };
}

async function memory(c: Cluster): Promise<MemoryPoint[]> {
  const points: MemoryPoint[] = [];
  const tsPoint = async (step: number, when: string, writes: number, extra: Partial<MemoryPoint> = {}): Promise<MemoryPoint> => {
    const l = await c.leader();
    const leaderHeap = await scrapeHeap(l.api).catch(() => undefined);
    return { system: 'tsraft', step, when, writes, ...extra, rssMiB: c.rss(l), leaderRssMiB: rssMiB(l.proc!.pid!), ...(leaderHeap !== undefined && { leaderHeap }) };
  };
  const show = (p: MemoryPoint): void => {
    points.push(p);
    console.log(
      `${p.system.padEnd(6)} ${p.when.padEnd(24)} RSS ${JSON.stringify(p.rssMiB)} MiB` +
        (p.dbMiB !== undefined ? `, db ${p.dbMiB} MiB` : '') +
        (p.leaderHeap !== undefined ? `, leader heap ${p.leaderHeap.heapUsedMiB} used / ${p.leaderHeap.heapTotalMiB} MiB, external ${p.leaderHeap.externalMiB} MiB` : '') +
        (p.writesPerSec !== undefined ? ` (${p.writesPerSec.toLocaleString('en-US')} writes/s, ${p.errors} errors)` : '') +
        (p.settled !== undefined ? `; ${SETTLE_SECONDS} s later RSS ${JSON.stringify(p.settled.rssMiB)} MiB` + (p.settled.leaderHeap !== undefined ? `, leader heap ${p.settled.leaderHeap.heapUsedMiB} used / ${p.settled.leaderHeap.heapTotalMiB} MiB` : '') : ''),
    );
  };
  let et: EtcdCluster | undefined;
  try {
    if (WITH_ETCD) et = await startEtcd();
    await sleep(2000);
    show(await tsPoint(0, 'idle', 0));
    if (et !== undefined) show(await etcdPoint(et, 0, 'idle', 0));
    const total = { tsraft: 0, etcd: 0 };
    for (let round = 1; round <= 2; round++) {
      for (const system of et !== undefined ? (['tsraft', 'etcd'] as const) : (['tsraft'] as const)) {
        const port = system === 'tsraft' ? (await c.leader()).api : (await et!.status()).find((s) => s.isLeader)!.member.client;
        const r = await writeAtLeast({ system, connections: CONNECTIONS, port, keys: KEYS, valueBytes: VALUE_BYTES }, WRITES);
        total[system] += r.writes;
        const when = `after ${total[system].toLocaleString('en-US')} writes`;
        const extra = { writesPerSec: Math.round(r.writes / r.seconds), errors: r.errors };
        const point = (): Promise<MemoryPoint> => (system === 'tsraft' ? tsPoint(round, when, total[system], extra) : etcdPoint(et!, round, when, total[system], extra));
        const first = await point();
        await sleep(SETTLE_SECONDS * 1000);
        const later = await point();
        show({ ...first, settled: { rssMiB: later.rssMiB, leaderRssMiB: later.leaderRssMiB, ...(later.leaderHeap !== undefined && { leaderHeap: later.leaderHeap }) } });
      }
    }
  } finally {
    await et?.stop();
  }
  return points;
}

// --- restart ---

interface RestartFigures {
  readonly node: string;
  /** What the node recovered from its data directory. */
  readonly recovered: Recovered | null;
  /** The leader's commit index when the node was stopped: what it must apply again. */
  readonly target: number;
  readonly rssBeforeMiB: number;
  /** SIGTERM to exit. */
  readonly stopMs: number;
  /** Spawn to the first /v1/status answer. */
  readonly readyMs: number;
  /** Spawn to applied index = commit index >= target. */
  readonly caughtUpMs: number;
}

async function timeRestart(c: Cluster, label: string): Promise<RestartFigures> {
  const leader = await c.leader();
  const f = c.nodes.find((n) => n !== leader && n.proc !== null)!;
  // Every node has applied everything before the stop: the restart alone is timed.
  let target = 0;
  for (let t = 0; t < 600; t++) {
    const [ls, fs] = [await status(leader), await status(f)];
    if (ls !== null && fs !== null && fs.appliedIndex >= ls.commitIndex) {
      target = ls.commitIndex;
      break;
    }
    await sleep(100);
  }
  const rssBeforeMiB = rssMiB(f.proc!.pid!);
  const stopMs = await c.stop(f, 'SIGTERM');
  const t0 = performance.now();
  const started = c.start(f, true);
  let readyMs = NaN;
  let caughtUpMs = NaN;
  while (performance.now() - t0 < 300_000) {
    const s = await status(f);
    if (s !== null && Number.isNaN(readyMs)) readyMs = performance.now() - t0;
    if (s !== null && s.appliedIndex >= target && s.appliedIndex === s.commitIndex) {
      caughtUpMs = performance.now() - t0;
      break;
    }
    await sleep(5);
  }
  const recovered = await Promise.race([started, sleep(1000).then(() => null)]);
  const r = { node: f.name, recovered, target, rssBeforeMiB, stopMs, readyMs, caughtUpMs };
  console.log(
    `restart (${label}): ${f.name}, ${recovered === null ? '?' : `${recovered.entries.toLocaleString('en-US')} entries in its log after a snapshot at index ${recovered.restoredIndex.toLocaleString('en-US')}`}, ` +
      `commit index ${target.toLocaleString('en-US')}, RSS before ${rssBeforeMiB} MiB: stop ${stopMs.toFixed(0)} ms; ` +
      `spawn to "node started" ${recovered?.atMs.toFixed(0) ?? '?'} ms, to first /v1/status ${readyMs.toFixed(0)} ms, to caught up ${caughtUpMs.toFixed(0)} ms`,
  );
  return r;
}

// --- failover ---

async function failover(c: Cluster): Promise<number[]> {
  const failovers: number[] = [];
  for (let k = 1; k <= KILLS; k++) {
    const old = await c.leader();
    const t0 = performance.now();
    await c.stop(old, 'SIGKILL');
    const survivors = c.nodes.filter((n) => n.proc !== null);
    let ok = false;
    for (let i = 0; !ok; i++) {
      ok = await putOnce(survivors[i % survivors.length]!, `failover-${k}`);
      if (!ok) await sleep(10);
      if (performance.now() - t0 > 30_000) throw new Error(`no write succeeded within 30 s of kill ${k}`);
    }
    const ms = performance.now() - t0;
    failovers.push(ms);
    console.log(`kill ${k}: ${old.name} was leader; first write after ${ms.toFixed(0)} ms`);
    void c.start(old);
    // Settle: the restarted node caught up with the commit index before the next kill.
    for (let t = 0; t < 200; t++) {
      const [a, b] = [await status(old), await status(await c.leader())];
      if (a !== null && b !== null && a.commitIndex >= b.commitIndex) break;
      await sleep(50);
    }
    await sleep(500);
  }
  return failovers;
}

// --- main ---

async function main(): Promise<void> {
  stopChildrenOnExit();
  console.log(
    `bench:resources: parts ${[...PARTS].join(', ')}; ${WRITES.toLocaleString('en-US')} writes per memory step at ${CONNECTIONS} connections (wrk), ` +
      `etcd ${WITH_ETCD ? `in (${version('etcd', ['--version'])})` : 'out'}; ${KILLS} kills; restart with ${RESTART_ENTRIES.toLocaleString('en-US')} entries in the log`,
  );
  const out: Record<string, unknown> = { bench: 'resources', date: new Date().toISOString(), node: process.version, writes: WRITES, connections: CONNECTIONS };
  const save = (): void => {
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/resources.json', JSON.stringify(out, null, 2) + '\n');
  };
  try {
    if (PARTS.has('memory') || PARTS.has('restart') || PARTS.has('failover')) {
      const c = await Cluster.create('resources');
      for (const n of c.nodes) void c.start(n);
      await c.leader();
      if (PARTS.has('memory')) {
        const points = await memory(c);
        out['memory'] = points;
        save();
        const rows = points.filter((p) => p.system === 'tsraft');
        console.log(`\n| | tsraft writes | tsraft leader RSS (${SETTLE_SECONDS} s later) | etcd writes | etcd leader RSS (${SETTLE_SECONDS} s later) | etcd leader db |\n|---|---:|---:|---:|---:|---:|`);
        for (const p of rows) {
          const e = points.find((q) => q.system === 'etcd' && q.step === p.step);
          const fmt = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '-' : x.toLocaleString('en-US'));
          const later = (q: MemoryPoint | undefined): string => (q?.settled !== undefined ? ` (${fmt(q.settled.leaderRssMiB)})` : '');
          console.log(`| ${p.step === 0 ? 'idle' : `step ${p.step}`} | ${fmt(p.writes)} | ${fmt(p.leaderRssMiB)}${later(p)} MiB | ${fmt(e?.writes)} | ${fmt(e?.leaderRssMiB)}${later(e)} MiB | ${fmt(e?.dbMiB)} MiB |`);
        }
        console.log('');
      }
      if (PARTS.has('restart')) {
        out['restartWithSnapshots'] = await timeRestart(c, 'snapshots every 16 MiB of log');
        save();
      }
      if (PARTS.has('failover')) {
        const failovers = await failover(c);
        const sorted = [...failovers].sort((a, b) => a - b);
        const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
        console.log(`failover over ${KILLS} kills: p50 ${pct(50).toFixed(0)} ms, p99 ${pct(99).toFixed(0)} ms, max ${sorted[sorted.length - 1]!.toFixed(0)} ms`);
        out['failoverMs'] = failovers;
        out['failover'] = { p50: pct(50), p99: pct(99), max: sorted[sorted.length - 1] };
        save();
      }
      await c.stopAll();
    }
    if (PARTS.has('restart-long')) {
      const c = await Cluster.create('restart-long', { maxRaftState: NO_SNAPSHOTS });
      for (const n of c.nodes) void c.start(n);
      const leader = await c.leader();
      const fill = await writeAtLeast({ system: 'tsraft', connections: 256, port: leader.api, keys: KEYS, valueBytes: VALUE_BYTES }, RESTART_ENTRIES);
      console.log(`restart-long: ${fill.writes.toLocaleString('en-US')} writes in ${fill.seconds.toFixed(0)} s (${Math.round(fill.writes / fill.seconds).toLocaleString('en-US')}/s), no snapshots`);
      out['restartLongLog'] = { writes: fill.writes, ...(await timeRestart(c, 'no snapshot, the whole log')) };
      save();
      await c.stopAll();
    }
    console.log('results written to bench/results/resources.json');
  } finally {
    killAllNow();
  }
}

await main();
