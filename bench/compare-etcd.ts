/**
 * `npm run bench -- --compare etcd`: tsraft against etcd, side by side, in one run.
 *
 * A 3-node tsraft cluster (`tsraft serve` processes, fsync on, peer TLS on, the
 * production timing: 100 ms heartbeat, 1 s election) and a 3-member etcd cluster
 * (Debian's `etcd`, fsync on, peer TLS with certificates of the same kind, its
 * default timing: also 100 ms / 1 s), both on 127.0.0.1 with their own free ports
 * and temporary data directories, both running for the whole bench. The 100,000
 * keys are written in both first, then both are warmed up with a few seconds of
 * writes (not recorded). Then, per round and per load, one tsraft row and one
 * etcd row (which goes first alternates by round), each a `wrk` run against the
 * system's leader with bench/wrk/kv.lua: PUT at 1, 8, 64 and 256 connections,
 * linearizable GET and lease reads at 64, and transactions at 64 (compare one key's value,
 * then put it and the next key: etcd's `/v3/kv/txn`, tsraft's `/v1/txn`). Per row: requests/s, p50/p99/max, errors and the CPU
 * seconds of the system's processes; then the medians per load and system, and
 * the ratios tsraft/etcd. Printed, and written to bench/results/compare-etcd.json.
 *
 * Each tsraft row also reports the leader's event-loop delay (p99, max) and GC seconds during
 * the row, from its /metrics scraped right before and right after the row (bench/event-loop.ts).
 *
 * `--profile` runs no comparison: the tsraft nodes run under `node --cpu-prof`, take one
 * 64-connection write row, and the leader's profile of that row is summarized (top 25 functions
 * by self time, then files) into bench/results/compare-etcd-profile.{json,md}.
 *
 * BENCH_SECONDS: seconds per row (default 10); BENCH_ROUNDS (default 2);
 * BENCH_WARMUP: warm-up seconds per system (default 5); BENCH_KEYS (default 100000);
 * BENCH_LOADS: only these loads (e.g. `txn` or `put,get`; default all).
 * Every process started here is stopped by PID at the end, on failure and on Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import * as path from 'node:path';
import { startCluster, type BenchCluster } from './cluster.js';
import { profileTables, summarizeProfile, type CpuProfile } from './cpuprofile.js';
import { startEtcd, type EtcdCluster } from './etcd.js';
import { scrapeEventLoop, type EventLoopFigures } from './event-loop.js';
import { call } from './http.js';
import { children, dirs, ensureTools, killAllNow, sleep, stopChildrenOnExit, version } from './procs.js';
import { runWrk, type Op, type System, type WrkResult } from './wrk.js';

export { parseWrkOutput, type Op, type System, type WrkResult } from './wrk.js';

export interface Load {
  readonly op: Op;
  readonly connections: number;
}

export const LOADS: readonly Load[] = [
  { op: 'put', connections: 1 },
  { op: 'put', connections: 8 },
  { op: 'put', connections: 64 },
  { op: 'put', connections: 256 },
  { op: 'get', connections: 64 },
  { op: 'get-lease', connections: 64 },
  { op: 'txn', connections: 64 },
];

/** The loads of this run: all of {@link LOADS}, or those BENCH_LOADS names (`put`, `get`, `get-lease`, `txn`, comma-separated). */
export function selectLoads(spec: string | undefined): readonly Load[] {
  if (spec === undefined || spec.trim() === '') return LOADS;
  const ops = spec.split(',').map((x) => x.trim());
  const bad = ops.filter((o) => !LOADS.some((l) => l.op === o));
  if (bad.length > 0) throw new Error(`BENCH_LOADS: unknown load ${bad.map((b) => JSON.stringify(b)).join(', ')} (known: put, get, get-lease, txn)`);
  return LOADS.filter((l) => ops.includes(l.op));
}

/** utime + stime (clock ticks) of a /proc/PID/stat line; the command name may hold spaces and parentheses. */
export function cpuTicksFromStat(stat: string): number {
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error(`not a /proc/PID/stat line: ${stat}`);
  // After "pid (comm) ": field 3 (state) is index 0, so utime (field 14) is index 11 and stime index 12.
  const f = stat.slice(close + 2).trim().split(/\s+/);
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`no utime/stime in: ${stat}`);
  return utime + stime;
}

/** Busy and total clock ticks of the whole machine, from the "cpu" line of /proc/stat. */
export function machineTicksFromProcStat(procStat: string): { busy: number; total: number } {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) throw new Error('no cpu line in /proc/stat');
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

export const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export function loadName(l: Load): string {
  if (l.op === 'put') return `writes, ${l.connections} conn`;
  if (l.op === 'get') return `linearizable reads, ${l.connections} conn`;
  if (l.op === 'txn') return `transactions (compare, 2 puts), ${l.connections} conn`;
  return `lease reads (etcd: serializable), ${l.connections} conn`;
}

export interface Row {
  readonly round: number;
  readonly system: System;
  readonly op: Op;
  readonly connections: number;
  /** Successful (2xx) requests per second. */
  readonly rps: number;
  readonly p50ms: number;
  readonly p99ms: number;
  readonly maxms: number;
  /** Non-2xx answers plus socket errors (connect, read, write, timeout). */
  readonly errors: number;
  /** CPU seconds of the system's three processes during the row. */
  readonly cpuSeconds: number;
  /** CPU seconds of the other system's three processes during the row (idle but for heartbeats, compaction, GC). */
  readonly otherCpuSeconds: number;
  /** CPU seconds of the whole machine during the row (both systems, wrk, this process, anything else). */
  readonly machineCpuSeconds: number;
  readonly seconds: number;
  /** tsraft rows: the leader's event-loop delay during the row (from /metrics scraped right before and right after it) and its GC seconds. */
  readonly loop?: RowEventLoop;
}

/** The tsraft leader's event loop during one row. */
export interface RowEventLoop {
  readonly p99ms: number;
  readonly maxms: number;
  /** Seconds of GC in the leader during the row (NaN if the metric is missing). */
  readonly gcSeconds: number;
}

/** A row's event-loop figures from the scrapes before and after it: the delays are the second scrape's (the first reset them), GC the difference. */
export function rowEventLoop(before: EventLoopFigures, after: EventLoopFigures): RowEventLoop {
  return { p99ms: after.p99ms, maxms: after.maxms, gcSeconds: after.gcSeconds - before.gcSeconds };
}

export function rowFromWrk(w: WrkResult, base: Pick<Row, 'round' | 'system' | 'op' | 'connections' | 'cpuSeconds' | 'otherCpuSeconds' | 'machineCpuSeconds' | 'loop'>): Row {
  const seconds = w.duration_us / 1e6;
  const e = w.errors;
  return {
    ...base,
    rps: (w.requests - e.status) / seconds,
    p50ms: w.latency_us.p50 / 1000,
    p99ms: w.latency_us.p99 / 1000,
    maxms: w.latency_us.max / 1000,
    errors: e.status + e.connect + e.read + e.write + e.timeout,
    seconds,
  };
}

export interface Summary {
  readonly op: Op;
  readonly connections: number;
  readonly tsraft: { rps: number; p50ms: number; p99ms: number; maxms: number; errors: number; cpuSeconds: number };
  readonly etcd: { rps: number; p50ms: number; p99ms: number; maxms: number; errors: number; cpuSeconds: number };
  /** tsraft / etcd, of the medians. */
  readonly ratio: { rps: number; p50ms: number; p99ms: number; maxms: number; cpuSeconds: number };
  /** Medians of the tsraft leader's event-loop delay p99 and max and GC seconds over the rounds (NaN without figures). */
  readonly tsraftLoop: RowEventLoop;
}

/** Medians per load and system (errors summed), and the ratios tsraft/etcd. */
export function summarize(rows: readonly Row[], loads: readonly Load[] = LOADS): Summary[] {
  return loads.map((l) => {
    const of = (system: System): Summary['tsraft'] => {
      const rs = rows.filter((r) => r.system === system && r.op === l.op && r.connections === l.connections);
      return {
        rps: median(rs.map((r) => r.rps)),
        p50ms: median(rs.map((r) => r.p50ms)),
        p99ms: median(rs.map((r) => r.p99ms)),
        maxms: median(rs.map((r) => r.maxms)),
        errors: rs.reduce((a, r) => a + r.errors, 0),
        cpuSeconds: median(rs.map((r) => r.cpuSeconds)),
      };
    };
    const t = of('tsraft');
    const e = of('etcd');
    const loops = rows.filter((r) => r.system === 'tsraft' && r.op === l.op && r.connections === l.connections && r.loop !== undefined).map((r) => r.loop!);
    return {
      tsraftLoop: { p99ms: median(loops.map((x) => x.p99ms)), maxms: median(loops.map((x) => x.maxms)), gcSeconds: median(loops.map((x) => x.gcSeconds)) },
      op: l.op,
      connections: l.connections,
      tsraft: t,
      etcd: e,
      ratio: { rps: t.rps / e.rps, p50ms: t.p50ms / e.p50ms, p99ms: t.p99ms / e.p99ms, maxms: t.maxms / e.maxms, cpuSeconds: t.cpuSeconds / e.cpuSeconds },
    };
  });
}

const fmtInt = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');
const fmtMs = (x: number): string => (!Number.isFinite(x) ? '-' : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));
const fmtRatio = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');

/** The Markdown table of the medians. */
export function summaryTable(s: readonly Summary[]): string {
  const out = [
    '| load | tsraft req/s | etcd req/s | ratio | tsraft p50 / p99 / max ms | etcd p50 / p99 / max ms | ratio p50 / p99 / max | errors tsraft / etcd | CPU s tsraft / etcd | tsraft leader event-loop delay p99 / max ms | leader GC s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const x of s) {
    out.push(
      `| ${loadName(x)} | ${fmtInt(x.tsraft.rps)} | ${fmtInt(x.etcd.rps)} | ${fmtRatio(x.ratio.rps)} | ` +
        `${fmtMs(x.tsraft.p50ms)} / ${fmtMs(x.tsraft.p99ms)} / ${fmtMs(x.tsraft.maxms)} | ${fmtMs(x.etcd.p50ms)} / ${fmtMs(x.etcd.p99ms)} / ${fmtMs(x.etcd.maxms)} | ` +
        `${fmtRatio(x.ratio.p50ms)} / ${fmtRatio(x.ratio.p99ms)} / ${fmtRatio(x.ratio.maxms)} | ${x.tsraft.errors} / ${x.etcd.errors} | ${x.tsraft.cpuSeconds.toFixed(1)} / ${x.etcd.cpuSeconds.toFixed(1)} | ` +
        `${fmtMs(x.tsraftLoop.p99ms)} / ${fmtMs(x.tsraftLoop.maxms)} | ${Number.isFinite(x.tsraftLoop.gcSeconds) ? x.tsraftLoop.gcSeconds.toFixed(2) : '-'} |`,
    );
  }
  return out.join('\n');
}

/** One line per row, as it is measured. */
export function rowLine(r: Row): string {
  return (
    `round ${r.round}  ${r.system.padEnd(6)}  ${loadName(r).padEnd(28)} ${fmtInt(r.rps).padStart(7)} req/s  ` +
    `p50 ${fmtMs(r.p50ms).padStart(5)}  p99 ${fmtMs(r.p99ms).padStart(5)}  max ${fmtMs(r.maxms).padStart(5)} ms  ` +
    `errors ${r.errors}  CPU ${r.cpuSeconds.toFixed(1)} s (other system ${r.otherCpuSeconds.toFixed(1)} s, machine ${r.machineCpuSeconds.toFixed(1)} s)` +
    (r.loop !== undefined ? `  leader event loop p99 ${fmtMs(r.loop.p99ms)} max ${fmtMs(r.loop.maxms)} ms, GC ${r.loop.gcSeconds.toFixed(2)} s` : '')
  );
}

// ---------------------------------------------------------------------------------------------
// Everything below needs etcd and wrk.

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 2);
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 5);
const KEYS = Number(process.env['BENCH_KEYS'] ?? 100_000);
const RUN_LOADS = selectLoads(process.env['BENCH_LOADS']);
const VALUE_BYTES = 256;

const keyName = (i: number): string => `key${String(i).padStart(6, '0')}`;
const b64 = (s: string): string => Buffer.from(s).toString('base64');

const CLK_TCK = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds used so far by these processes (every thread), from /proc. */
function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      ticks += cpuTicksFromStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      // exited
    }
  }
  return ticks / CLK_TCK;
}

function machineCpuSeconds(): number {
  return machineTicksFromProcStat(readFileSync('/proc/stat', 'utf8')).busy / CLK_TCK;
}

function describeMachine(): Record<string, string | number> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? '?';
  let disk = '?';
  try {
    const [source, fstype] = execFileSync('findmnt', ['-no', 'SOURCE,FSTYPE', '-T', tmpdir()], { encoding: 'utf8' }).trim().split(/\s+/);
    const dev = path.basename(source ?? '').replace(/p?\d+$/, '');
    let rota = '';
    try {
      rota = readFileSync(`/sys/block/${dev}/queue/rotational`, 'utf8').trim() === '1' ? ', reported rotational' : ', reported non-rotational';
    } catch {
      // not a plain block device
    }
    disk = `${source} (${fstype}${rota})`;
  } catch {
    // no findmnt
  }
  return {
    cpu: model,
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    disk: `${disk}, data in ${tmpdir()}`,
    node: process.version,
    etcd: version('etcd', ['--version']),
    wrk: version('wrk', ['-v']),
    loadavgAtStart: loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

/** Runs `jobs` (0..n-1) with `concurrency` in flight; each must answer 200. */
async function runAll(n: number, concurrency: number, job: (i: number) => Promise<{ status: number; body: string }>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        for (let attempt = 0; ; attempt++) {
          const r = await job(i).catch((e: unknown) => ({ status: 0, body: String(e) }));
          if (r.status === 200) break;
          if (attempt >= 5) throw new Error(`pre-population failed: ${r.status} ${r.body.slice(0, 200)}`);
          await sleep(200);
        }
      }
    }),
  );
}

// --- load ---

async function prepopulate(system: System, port: number): Promise<number> {
  const t0 = performance.now();
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const value = 'v'.repeat(VALUE_BYTES);
  try {
    if (system === 'tsraft') {
      const body = JSON.stringify({ value });
      await runAll(KEYS, 64, (i) => call(agent, port, 'PUT', `/v1/kv/${keyName(i)}`, body));
    } else {
      // 100 puts per transaction (etcd's default limit is 128 operations per txn).
      const per = 100;
      const v = b64(value);
      await runAll(Math.ceil(KEYS / per), 16, (j) => {
        const success = [];
        for (let i = j * per; i < Math.min(KEYS, (j + 1) * per); i++) success.push({ requestPut: { key: b64(keyName(i)), value: v } });
        return call(agent, port, 'POST', '/v3/kv/txn', JSON.stringify({ success }));
      });
    }
  } finally {
    agent.destroy();
  }
  return (performance.now() - t0) / 1000;
}

/** Reads one pre-populated key back, so a row of reads cannot silently measure misses. */
async function checkKey(system: System, port: number): Promise<void> {
  const agent = new Agent({ keepAlive: false });
  const k = keyName(KEYS - 1);
  const r = system === 'tsraft' ? await call(agent, port, 'GET', `/v1/kv/${k}`) : await call(agent, port, 'POST', '/v3/kv/range', JSON.stringify({ key: b64(k) }));
  agent.destroy();
  const ok = r.status === 200 && (system === 'tsraft' ? (JSON.parse(r.body) as { value?: string }).value?.length === VALUE_BYTES : (JSON.parse(r.body) as { count?: string }).count === '1');
  if (!ok) throw new Error(`${system}: key ${k} not found after pre-population: ${r.status} ${r.body.slice(0, 200)}`);
}

/** One transaction of the shape bench/wrk/kv.lua sends, which must take its success branch (or the txn rows would measure failures). */
async function checkTxn(system: System, port: number): Promise<void> {
  const agent = new Agent({ keepAlive: false });
  const [k1, k2] = [keyName(0), keyName(1)];
  const value = 'v'.repeat(VALUE_BYTES);
  const r =
    system === 'tsraft'
      ? await call(agent, port, 'POST', '/v1/txn', JSON.stringify({ compare: [{ key: k1, target: 'value', op: '=', value }], success: [{ op: 'put', key: k1, value }, { op: 'put', key: k2, value }], failure: [{ op: 'get', key: k1 }] }))
      : await call(agent, port, 'POST', '/v3/kv/txn', JSON.stringify({ compare: [{ key: b64(k1), target: 'VALUE', result: 'EQUAL', value: b64(value) }], success: [k1, k2].map((k) => ({ requestPut: { key: b64(k), value: b64(value) } })), failure: [{ requestRange: { key: b64(k1) } }] }));
  agent.destroy();
  if (r.status !== 200 || (JSON.parse(r.body) as { succeeded?: boolean }).succeeded !== true) throw new Error(`${system}: a transaction on pre-populated keys did not succeed: ${r.status} ${r.body.slice(0, 200)}`);
}

function wrk(system: System, op: Op, connections: number, port: number, seconds: number): Promise<WrkResult> {
  return runWrk({ system, op, connections, port, seconds, keys: KEYS, valueBytes: VALUE_BYTES });
}
async function main(): Promise<void> {
  stopChildrenOnExit();
  ensureTools();
  const machine = describeMachine();
  console.log(
    `compare etcd: 3-node tsraft (fsync, peer TLS) vs 3-member etcd (fsync, peer TLS) on 127.0.0.1, wrk to each leader, ` +
      `${VALUE_BYTES}-byte values on random keys among ${KEYS.toLocaleString('en-US')}, ${SECONDS} s per row, ${ROUNDS} rounds, ${WARMUP} s warm-up`,
  );
  console.log(`machine: ${JSON.stringify(machine)}`);

  let ts: BenchCluster | undefined;
  let et: EtcdCluster | undefined;
  try {
    // Lease reads on (check quorum is on in production timing); plain GETs stay ReadIndex reads.
    ts = await startCluster({ peerTls: true, serveArgs: ['--lease-reads'] });
    for (const pid of ts.pids) children.add(pid);
    dirs.add(ts.dir);
    et = await startEtcd();
    const sys = { tsraft: { port: ts.leaderPort, pids: ts.pids }, etcd: { port: et.leaderPort, pids: et.pids } } as const;
    const tsApis = ts.nodes.map((n) => n.api);
    console.log(`tsraft leader API port ${sys.tsraft.port} (pids ${ts.pids.join(' ')}); etcd leader client port ${sys.etcd.port} (pids ${et.pids.join(' ')})`);

    for (const s of ['tsraft', 'etcd'] as const) {
      const secs = await prepopulate(s, sys[s].port);
      await checkKey(s, sys[s].port);
      if (RUN_LOADS.some((l) => l.op === 'txn')) await checkTxn(s, sys[s].port);
      console.log(`${s}: ${KEYS.toLocaleString('en-US')} keys written in ${secs.toFixed(1)} s`);
    }
    if (WARMUP > 0) {
      for (const s of ['tsraft', 'etcd'] as const) {
        const w = await wrk(s, 'put', 64, sys[s].port, WARMUP);
        console.log(`${s}: warm-up, ${WARMUP} s of writes at 64 connections (${Math.round(w.requests / (w.duration_us / 1e6))} req/s, not recorded)`);
      }
    }

    const rows: Row[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // Which system goes first alternates by round, so a drift of the machine favours neither.
      const order: System[] = round % 2 === 1 ? ['tsraft', 'etcd'] : ['etcd', 'tsraft'];
      for (const l of RUN_LOADS) {
        for (const system of order) {
          const { port, pids } = sys[system];
          const otherPids = sys[system === 'tsraft' ? 'etcd' : 'tsraft'].pids;
          const cpu0 = cpuSeconds(pids);
          const other0 = cpuSeconds(otherPids);
          // Every tsraft node is scraped (each scrape resets its event-loop histogram); the leader's figures are reported.
          const loop0 = system === 'tsraft' ? await scrapeAll(tsApis) : undefined;
          const m0 = machineCpuSeconds();
          const w = await wrk(system, l.op, l.connections, port, SECONDS);
          const cpu = cpuSeconds(pids) - cpu0;
          const other = cpuSeconds(otherPids) - other0;
          const m = machineCpuSeconds() - m0;
          const loop1 = system === 'tsraft' ? await scrapeAll(tsApis) : undefined;
          const loop = loop0?.get(port) !== undefined && loop1?.get(port) !== undefined ? rowEventLoop(loop0.get(port)!, loop1.get(port)!) : undefined;
          const r = rowFromWrk(w, { round, system, op: l.op, connections: l.connections, cpuSeconds: cpu, otherCpuSeconds: other, machineCpuSeconds: m, ...(loop !== undefined && { loop }) });
          rows.push(r);
          console.log(rowLine(r));
        }
      }
    }
    // The lease rows must have been served from the lease, not by ReadIndex rounds.
    const leaseServed = Number(/^tsraft_lease_reads_served(?:_total)?(?:\{[^}]*\})? (\d+)/m.exec(await (await fetch(`http://127.0.0.1:${ts.leaderPort}/metrics`)).text())?.[1] ?? NaN);
    console.log(`tsraft leader: ${fmtInt(leaseServed)} reads answered from its lease`);
    machine['leaseReadsServed'] = String(leaseServed);
    const summary = summarize(rows, RUN_LOADS);
    machine['loadavgAtEnd'] = loadavg().map((x) => x.toFixed(2)).join(' ');
    console.log('');
    console.log(
      `medians of ${ROUNDS} rounds (ratio = tsraft / etcd; errors summed; CPU s = CPU seconds of the system's 3 processes per ${SECONDS} s row; ` +
        `event-loop delay and GC seconds of the tsraft leader during its rows, from its /metrics):`,
    );
    console.log(summaryTable(summary));
    mkdirSync('bench/results', { recursive: true });
    const file = 'bench/results/compare-etcd.json';
    writeFileSync(
      file,
      JSON.stringify({ bench: 'compare-etcd', date: new Date().toISOString(), machine, seconds: SECONDS, rounds: ROUNDS, warmupSeconds: WARMUP, keys: KEYS, valueBytes: VALUE_BYTES, rows, summary }, null, 2) + '\n',
    );
    console.log(`results written to ${file}`);
  } finally {
    await et?.stop();
    if (ts !== undefined) {
      await ts.stop();
      for (const pid of ts.pids) children.delete(pid);
      dirs.delete(ts.dir);
    }
    killAllNow();
  }
}

/** Every node's event-loop figures by API port; a node that does not answer is left out. */
async function scrapeAll(ports: readonly number[]): Promise<Map<number, EventLoopFigures>> {
  const got = await Promise.all(ports.map(async (p) => [p, await scrapeEventLoop(p).catch(() => undefined)] as const));
  return new Map(got.filter((x): x is readonly [number, EventLoopFigures] => x[1] !== undefined));
}

/**
 * `--profile`: tsraft only, its nodes under `node --cpu-prof`: the keys written, the warm-up,
 * then one 64-connection write row; the nodes are stopped with SIGTERM (the profile is written
 * at exit) and the leader's profile is summarized over the row's samples alone (V8's profile
 * clock and this process's hrtime are both CLOCK_MONOTONIC). Figures of a profiled row are
 * slower than without the profiler: they are not comparison figures.
 */
async function profileMain(): Promise<void> {
  stopChildrenOnExit();
  ensureTools();
  const machine = describeMachine();
  const profDir = mkdtempSync(path.join(process.env['BENCH_DIR'] ?? tmpdir(), 'tsraft-bench-cpuprof-'));
  dirs.add(profDir);
  const CONNECTIONS = 64;
  console.log(`compare etcd --profile: 3-node tsraft under node --cpu-prof, ${KEYS.toLocaleString('en-US')} keys, ${WARMUP} s warm-up, then ${SECONDS} s of writes at ${CONNECTIONS} connections`);
  let ts: BenchCluster | undefined;
  try {
    ts = await startCluster({ peerTls: true, cpuProfDir: profDir });
    for (const pid of ts.pids) children.add(pid);
    dirs.add(ts.dir);
    const port = ts.leaderPort;
    const leader = ts.nodes.find((n) => n.api === port)!;
    const secs = await prepopulate('tsraft', port);
    await checkKey('tsraft', port);
    console.log(`tsraft: ${KEYS.toLocaleString('en-US')} keys written in ${secs.toFixed(1)} s; leader ${leader.name} (pid ${leader.pid})`);
    if (WARMUP > 0) await wrk('tsraft', 'put', CONNECTIONS, port, WARMUP);
    const apis = ts.nodes.map((n) => n.api);
    const loop0 = await scrapeAll(apis);
    const cpu0 = cpuSeconds(ts.pids);
    const m0 = machineCpuSeconds();
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const w = await wrk('tsraft', 'put', CONNECTIONS, port, SECONDS);
    const toUs = Number(process.hrtime.bigint() / 1000n);
    const cpu = cpuSeconds(ts.pids) - cpu0;
    const m = machineCpuSeconds() - m0;
    const loop1 = await scrapeAll(apis);
    const loop = loop0.has(port) && loop1.has(port) ? rowEventLoop(loop0.get(port)!, loop1.get(port)!) : undefined;
    const row = rowFromWrk(w, { round: 1, system: 'tsraft', op: 'put', connections: CONNECTIONS, cpuSeconds: cpu, otherCpuSeconds: 0, machineCpuSeconds: m, ...(loop !== undefined && { loop }) });
    console.log(`${rowLine(row)}  (under the profiler)`);
    // SIGTERM, so every node writes its profile as it exits.
    const stopped = ts;
    ts = undefined;
    await stopped.stop();
    for (const pid of stopped.pids) children.delete(pid);
    dirs.delete(stopped.dir);
    const leaderDir = path.join(profDir, leader.name);
    const files = readdirSync(leaderDir).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length !== 1) throw new Error(`expected one .cpuprofile from the leader in ${leaderDir}, found ${files.length} (did it exit cleanly on SIGTERM?)`);
    const profile = JSON.parse(readFileSync(path.join(leaderDir, files[0]!), 'utf8')) as CpuProfile;
    const summary = summarizeProfile(profile, { fromUs, toUs });
    const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
    const tables = profileTables(summary, 25, root);
    console.log('');
    console.log(`the leader's CPU profile during the ${SECONDS} s row, self time (top 25 functions, then files):`);
    console.log(tables);
    mkdirSync('bench/results', { recursive: true });
    const file = 'bench/results/compare-etcd-profile.json';
    writeFileSync(
      file,
      JSON.stringify(
        { bench: 'compare-etcd --profile', date: new Date().toISOString(), machine, seconds: SECONDS, connections: CONNECTIONS, keys: KEYS, row, leader: leader.name, totalMs: summary.totalMs, busyMs: summary.busyMs, idleMs: summary.idleMs, samples: summary.samples, functions: summary.functions.slice(0, 100), files: summary.files },
        null,
        2,
      ) + '\n',
    );
    writeFileSync('bench/results/compare-etcd-profile.md', tables + '\n');
    console.log(`results written to ${file} and bench/results/compare-etcd-profile.md`);
  } finally {
    if (ts !== undefined) await ts.stop();
    killAllNow();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await (process.argv.includes('--profile') ? profileMain() : main());
