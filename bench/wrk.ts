/**
 * Runs `wrk` with bench/wrk/kv.lua against tsraft's `/v1/kv/{key}` or etcd's v3 JSON gateway,
 * and reads the one `WRKJSON` line its done() prints.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { children } from './procs.js';

export type System = 'tsraft' | 'etcd';
/**
 * `get-lease`: tsraft's lease reads, beside etcd's serializable reads (etcd has no lease reads).
 * `txn`: a transaction comparing one key's value, then putting it and the next key.
 */
export type Op = 'put' | 'get' | 'get-lease' | 'txn';

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

const WRK_SCRIPT = fileURLToPath(new URL('../../bench/wrk/kv.lua', import.meta.url));

/** What to send: the system, PUT or GET, random keys among `keys`, values of `valueBytes`. */
export interface WrkLoad {
  readonly system: System;
  readonly op: Op;
  readonly connections: number;
  readonly port: number;
  readonly seconds: number;
  readonly keys: number;
  readonly valueBytes: number;
}

/** One wrk run (at most 2 threads); its PID is registered in {@link children} while it runs. */
export function runWrk(l: WrkLoad): Promise<WrkResult> {
  const threads = Math.min(2, l.connections);
  return new Promise((resolve, reject) => {
    const p = spawn('wrk', ['-t', String(threads), '-c', String(l.connections), '-d', `${l.seconds}s`, '--timeout', '10s', '-s', WRK_SCRIPT, `http://127.0.0.1:${l.port}`], {
      env: { ...process.env, WRK_SYSTEM: l.system, WRK_OP: l.op, WRK_KEYS: String(l.keys), WRK_VALUE_BYTES: String(l.valueBytes) },
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

/** Successful (2xx) requests of a run. */
export const okRequests = (w: WrkResult): number => w.requests - w.errors.status;

/**
 * PUTs until at least `n` have been acknowledged, in wrk runs of 5–30 s (each sized from the
 * rate so far), so two systems get the same number of writes whatever their speed.
 */
export async function writeAtLeast(l: Omit<WrkLoad, 'op' | 'seconds'>, n: number): Promise<{ writes: number; seconds: number; errors: number }> {
  let writes = 0;
  let seconds = 0;
  let errors = 0;
  while (writes < n) {
    const rate = seconds > 0 ? writes / seconds : 0;
    const secs = rate > 0 ? Math.max(5, Math.min(30, Math.ceil((n - writes) / rate) + 1)) : 10;
    const w = await runWrk({ ...l, op: 'put', seconds: secs });
    writes += okRequests(w);
    seconds += w.duration_us / 1e6;
    errors += w.errors.status + w.errors.connect + w.errors.read + w.errors.write + w.errors.timeout;
    if (okRequests(w) === 0) throw new Error(`${l.system}: no write acknowledged in ${secs} s of wrk (errors ${JSON.stringify(w.errors)})`);
  }
  return { writes, seconds, errors };
}
