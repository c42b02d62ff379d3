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
 * linearizable GET at 64. Per row: requests/s, p50/p99/max, errors and the CPU
 * seconds of the system's processes; then the medians per load and system, and
 * the ratios tsraft/etcd. Printed, and written to bench/results/compare-etcd.json.
 *
 * BENCH_SECONDS: seconds per row (default 10); BENCH_ROUNDS (default 2);
 * BENCH_WARMUP: warm-up seconds per system (default 5); BENCH_KEYS (default 100000).
 * Every process started here is stopped by PID at the end, on failure and on Ctrl-C.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureClusterCerts } from '../src/security/cluster-certs.js';
import { freePort, startCluster, type BenchCluster } from './cluster.js';

export type System = 'tsraft' | 'etcd';
export type Op = 'put' | 'get';

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
];

/** What bench/wrk/kv.lua's done() prints, latencies in microseconds. */
export interface WrkResult {
  readonly requests: number;
  readonly duration_us: number;
  readonly bytes: number;
  readonly errors: { readonly connect: number; readonly read: number; readonly write: number; readonly status: number; readonly timeout: number };
  readonly latency_us: { readonly min: number; readonly mean: number; readonly p50: number; readonly p90: number; readonly p99: number; readonly p999: number; readonly max: number };
}

/** The WRKJSON line of a wrk run's standard output. */
export function parseWrkOutput(stdout: string): WrkResult {
  const line = stdout.split('\n').find((l) => l.startsWith('WRKJSON '));
  if (line === undefined) throw new Error(`no WRKJSON line in wrk's output:\n${stdout}`);
  const r = JSON.parse(line.slice('WRKJSON '.length)) as WrkResult;
  if (typeof r.requests !== 'number' || typeof r.latency_us?.p99 !== 'number' || typeof r.errors?.status !== 'number') throw new Error(`malformed WRKJSON line: ${line}`);
  return r;
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
  return l.op === 'put' ? `writes, ${l.connections} conn` : `linearizable reads, ${l.connections} conn`;
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
}

export function rowFromWrk(w: WrkResult, base: Pick<Row, 'round' | 'system' | 'op' | 'connections' | 'cpuSeconds' | 'otherCpuSeconds' | 'machineCpuSeconds'>): Row {
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
    return {
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
    '| load | tsraft req/s | etcd req/s | ratio | tsraft p50 / p99 / max ms | etcd p50 / p99 / max ms | ratio p50 / p99 / max | errors tsraft / etcd | CPU s tsraft / etcd |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const x of s) {
    out.push(
      `| ${loadName(x)} | ${fmtInt(x.tsraft.rps)} | ${fmtInt(x.etcd.rps)} | ${fmtRatio(x.ratio.rps)} | ` +
        `${fmtMs(x.tsraft.p50ms)} / ${fmtMs(x.tsraft.p99ms)} / ${fmtMs(x.tsraft.maxms)} | ${fmtMs(x.etcd.p50ms)} / ${fmtMs(x.etcd.p99ms)} / ${fmtMs(x.etcd.maxms)} | ` +
        `${fmtRatio(x.ratio.p50ms)} / ${fmtRatio(x.ratio.p99ms)} / ${fmtRatio(x.ratio.maxms)} | ${x.tsraft.errors} / ${x.etcd.errors} | ${x.tsraft.cpuSeconds.toFixed(1)} / ${x.etcd.cpuSeconds.toFixed(1)} |`,
    );
  }
  return out.join('\n');
}

/** One line per row, as it is measured. */
export function rowLine(r: Row): string {
  return (
    `round ${r.round}  ${r.system.padEnd(6)}  ${loadName(r).padEnd(28)} ${fmtInt(r.rps).padStart(7)} req/s  ` +
    `p50 ${fmtMs(r.p50ms).padStart(5)}  p99 ${fmtMs(r.p99ms).padStart(5)}  max ${fmtMs(r.maxms).padStart(5)} ms  ` +
    `errors ${r.errors}  CPU ${r.cpuSeconds.toFixed(1)} s (other system ${r.otherCpuSeconds.toFixed(1)} s, machine ${r.machineCpuSeconds.toFixed(1)} s)`
  );
}

// ---------------------------------------------------------------------------------------------
// Everything below needs etcd and wrk.

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 2);
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 5);
const KEYS = Number(process.env['BENCH_KEYS'] ?? 100_000);
const VALUE_BYTES = 256;
const WRK_SCRIPT = fileURLToPath(new URL('../../bench/wrk/kv.lua', import.meta.url));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const keyName = (i: number): string => `key${String(i).padStart(6, '0')}`;
const b64 = (s: string): string => Buffer.from(s).toString('base64');

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** etcd, etcdctl and wrk, installed with apt-get when missing and root; else says what to run. */
function ensureTools(): void {
  const missing = ['etcd', 'etcdctl', 'wrk'].filter((c) => !have(c));
  if (missing.length === 0) return;
  const cmd = 'apt-get install -y etcd-server etcd-client wrk';
  if (process.getuid?.() !== 0) throw new Error(`missing ${missing.join(', ')}: run \`sudo apt-get update && sudo ${cmd}\``);
  console.log(`missing ${missing.join(', ')}: running apt-get update && ${cmd}`);
  execFileSync('apt-get', ['update'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', 'etcd-server', 'etcd-client', 'wrk'], { stdio: 'inherit' });
}

function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.split('\n')[0]?.trim() ?? '?';
}

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

// --- processes we started, stopped by PID whatever happens ---

const children = new Set<number>();
const dirs = new Set<string>();

function killAllNow(): void {
  for (const pid of children) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  children.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

function stopChildrenOnExit(): void {
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      console.error(`\n${sig}: stopping every process started by the bench`);
      killAllNow();
      process.exit(130);
    });
  }
}

// --- HTTP helpers ---

function call(agent: Agent, port: number, method: string, p: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: p, agent, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
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

// --- etcd ---

interface EtcdCluster {
  readonly leaderPort: number;
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

async function startEtcd(): Promise<EtcdCluster> {
  const root = mkdtempSync(path.join(process.env['BENCH_DIR'] ?? tmpdir(), 'etcd-bench-cluster-'));
  dirs.add(root);
  const names = ['e1', 'e2', 'e3'];
  const certs = await ensureClusterCerts(root, names);
  const members: { name: string; peer: number; client: number; proc?: ChildProcess }[] = [];
  for (const name of names) members.push({ name, peer: await freePort(), client: await freePort() });
  const initial = members.map((m) => `${m.name}=https://127.0.0.1:${m.peer}`).join(',');
  const stop = async (): Promise<void> => {
    for (const m of members) if (m.proc?.pid !== undefined && m.proc.exitCode === null) m.proc.kill('SIGTERM');
    for (let t = 0; t < 50 && members.some((m) => m.proc !== undefined && m.proc.exitCode === null && m.proc.signalCode === null); t++) await sleep(100);
    for (const m of members) {
      if (m.proc?.pid === undefined) continue;
      if (m.proc.exitCode === null && m.proc.signalCode === null) m.proc.kill('SIGKILL');
      children.delete(m.proc.pid);
    }
    rmSync(root, { recursive: true, force: true });
    dirs.delete(root);
  };
  try {
    for (const m of members) {
      const tls = certs.tlsDir(m.name);
      const log = openSync(path.join(root, `${m.name}.log`), 'a');
      m.proc = spawn(
        'etcd',
        [
          '--name', m.name,
          '--data-dir', path.join(root, m.name),
          '--listen-client-urls', `http://127.0.0.1:${m.client}`,
          '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
          '--listen-peer-urls', `https://127.0.0.1:${m.peer}`,
          '--initial-advertise-peer-urls', `https://127.0.0.1:${m.peer}`,
          '--initial-cluster', initial,
          '--initial-cluster-token', path.basename(root),
          '--initial-cluster-state', 'new',
          '--peer-cert-file', path.join(tls, 'node.pem'),
          '--peer-key-file', path.join(tls, 'node.key'),
          '--peer-trusted-ca-file', path.join(tls, 'ca.pem'),
          '--peer-client-cert-auth',
          '--logger', 'zap',
          '--log-level', 'warn',
        ],
        { stdio: ['ignore', log, log] },
      );
      if (m.proc.pid !== undefined) children.add(m.proc.pid);
    }
    const agent = new Agent({ keepAlive: true });
    let leaderPort = 0;
    for (let t = 0; t < 300 && leaderPort === 0; t++) {
      for (const m of members) {
        if (m.proc?.exitCode !== null) throw new Error(`etcd ${m.name} exited: ${readFileSync(path.join(root, `${m.name}.log`), 'utf8').slice(-2000)}`);
        try {
          const r = await call(agent, m.client, 'POST', '/v3/maintenance/status', '{}');
          const s = JSON.parse(r.body) as { header?: { member_id?: string }; leader?: string };
          if (r.status === 200 && s.leader !== undefined && s.leader !== '0' && s.leader === s.header?.member_id) leaderPort = m.client;
        } catch {
          // not up yet
        }
      }
      if (leaderPort === 0) await sleep(100);
    }
    agent.destroy();
    if (leaderPort === 0) throw new Error('etcd: no leader');
    return { leaderPort, pids: members.map((m) => m.proc?.pid ?? 0).filter((p) => p > 0), stop };
  } catch (e) {
    await stop();
    throw e;
  }
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

function wrk(system: System, op: Op, connections: number, port: number, seconds: number): Promise<WrkResult> {
  const threads = Math.min(2, connections);
  return new Promise((resolve, reject) => {
    const p = spawn('wrk', ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--timeout', '10s', '-s', WRK_SCRIPT, `http://127.0.0.1:${port}`], {
      env: { ...process.env, WRK_SYSTEM: system, WRK_OP: op, WRK_KEYS: String(KEYS), WRK_VALUE_BYTES: String(VALUE_BYTES) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (p.pid !== undefined) children.add(p.pid);
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      if (p.pid !== undefined) children.delete(p.pid);
      if (code !== 0) return reject(new Error(`wrk exited with ${code}: ${err}${out}`));
      try {
        resolve(parseWrkOutput(out));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
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
    ts = await startCluster({ peerTls: true });
    for (const pid of ts.pids) children.add(pid);
    dirs.add(ts.dir);
    et = await startEtcd();
    const sys = { tsraft: { port: ts.leaderPort, pids: ts.pids }, etcd: { port: et.leaderPort, pids: et.pids } } as const;
    console.log(`tsraft leader API port ${sys.tsraft.port} (pids ${ts.pids.join(' ')}); etcd leader client port ${sys.etcd.port} (pids ${et.pids.join(' ')})`);

    for (const s of ['tsraft', 'etcd'] as const) {
      const secs = await prepopulate(s, sys[s].port);
      await checkKey(s, sys[s].port);
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
      for (const l of LOADS) {
        for (const system of order) {
          const { port, pids } = sys[system];
          const otherPids = sys[system === 'tsraft' ? 'etcd' : 'tsraft'].pids;
          const cpu0 = cpuSeconds(pids);
          const other0 = cpuSeconds(otherPids);
          const m0 = machineCpuSeconds();
          const w = await wrk(system, l.op, l.connections, port, SECONDS);
          const cpu = cpuSeconds(pids) - cpu0;
          const other = cpuSeconds(otherPids) - other0;
          const m = machineCpuSeconds() - m0;
          const r = rowFromWrk(w, { round, system, op: l.op, connections: l.connections, cpuSeconds: cpu, otherCpuSeconds: other, machineCpuSeconds: m });
          rows.push(r);
          console.log(rowLine(r));
        }
      }
    }
    const summary = summarize(rows);
    machine['loadavgAtEnd'] = loadavg().map((x) => x.toFixed(2)).join(' ');
    console.log('');
    console.log(`medians of ${ROUNDS} rounds (ratio = tsraft / etcd; errors summed; CPU s = CPU seconds of the system's 3 processes per ${SECONDS} s row):`);
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

if (import.meta.url === `file://${process.argv[1]}`) await main();
