/**
 * Readers for the two Jepsen log formats of porcupine's published test
 * histories (anishathalye/porcupine, `test_data/`), turned into
 * {@link HistoryOp}s so the checker can be measured and tested on them:
 *
 * - the etcd logs (`jepsen/etcd_NNN.log`): one register, `read`, `write` and
 *   `cas [from to]`, as lines `INFO jepsen.util - P :type :f ARG`;
 * - the key-value logs (`kv/cNN-*.txt`): `get`, `put` and `append` on string
 *   keys, as EDN maps `{:process P, :type T, :f F, :key "K", :value V}`.
 *
 * Times are line numbers. An operation that never returned, or returned
 * `:info` (timed out: it may or may not have happened), has an unknown
 * outcome; a read that failed with `:timed-out` observed nothing. A `:fail`
 * cas is an answered compare that did not match (it is checked, not ignored).
 */
import { HistoryFormatError, type HistoryOp } from './history.js';

/** The key the etcd logs' single register is given. */
export const ETCD_REGISTER_KEY = 'register';

type Pending = { -readonly [K in keyof HistoryOp]: HistoryOp[K] };

/** Shared bookkeeping: one operation in flight per process, completed by its return line. */
class Builder {
  private readonly ops: Pending[] = [];
  private readonly inFlight = new Map<number, Pending>();
  constructor(private readonly source: string) {}

  error(line: number, what: string): HistoryFormatError {
    return new HistoryFormatError(`${this.source}: line ${line + 1}: ${what}`);
  }

  invoke(line: number, proc: number, op: Omit<Pending, 'clientId' | 'call' | 'return' | 'status'>): void {
    if (this.inFlight.has(proc)) throw this.error(line, `process ${proc} invokes ${op.op} while its ${this.inFlight.get(proc)!.op} has not returned`);
    const p: Pending = { clientId: proc, call: line, return: null, status: 'unknown', ...op };
    this.ops.push(p);
    this.inFlight.set(proc, p);
  }

  /** Completes the process's operation; returns it so the caller can check and fill its output. */
  complete(line: number, proc: number, f: string, status: HistoryOp['status']): Pending {
    const p = this.inFlight.get(proc);
    if (p === undefined) throw this.error(line, `process ${proc} returns ${f} but invoked nothing`);
    if (p.op !== f) throw this.error(line, `process ${proc} returns ${f} but invoked ${p.op}`);
    this.inFlight.delete(proc);
    p.status = status;
    p.return = status === 'unknown' ? null : line;
    return p;
  }

  /** The history; operations still in flight at the end keep their unknown outcome. */
  history(): HistoryOp[] {
    return this.ops;
  }
}

const ETCD_LINE = /^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s+(.*?)\s*$/;
const INT = /^\d+$/;
const PAIR = /^\[(\d+)\s+(\d+)\]$/;

/** Parses one of porcupine's Jepsen etcd logs (a single register of integers) into a history on key {@link ETCD_REGISTER_KEY}. */
export function parseJepsenEtcdLog(text: string, source = 'etcd log'): HistoryOp[] {
  const b = new Builder(source);
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const m = ETCD_LINE.exec(line);
    if (m === null) throw b.error(i, `not a Jepsen etcd operation line: ${JSON.stringify(line.slice(0, 80))}`);
    const proc = Number(m[1]);
    const type = m[2]!;
    const f = m[3]!;
    const arg = m[4]!;
    const pair = PAIR.exec(arg);
    const bad = (): HistoryFormatError => b.error(i, `unexpected argument ${JSON.stringify(arg)} for :${type} :${f}`);
    if (type === 'invoke') {
      if (f === 'read' && arg === 'nil') b.invoke(i, proc, { op: 'get', key: ETCD_REGISTER_KEY });
      else if (f === 'write' && INT.test(arg)) b.invoke(i, proc, { op: 'put', key: ETCD_REGISTER_KEY, value: arg });
      else if (f === 'cas' && pair !== null) b.invoke(i, proc, { op: 'cas', key: ETCD_REGISTER_KEY, expected: pair[1]!, value: pair[2]! });
      else throw bad();
      continue;
    }
    const op = f === 'read' ? 'get' : f === 'write' ? 'put' : 'cas';
    if (type === 'info' || (type === 'fail' && f === 'read')) {
      // Timed out: a write or cas may have happened or not; a read saw nothing.
      if (arg !== ':timed-out') throw bad();
      b.complete(i, proc, op, 'unknown');
    } else if (f === 'read') {
      if (type !== 'ok' || (arg !== 'nil' && !INT.test(arg))) throw bad();
      b.complete(i, proc, op, 'ok').output = arg === 'nil' ? null : arg;
    } else if (f === 'write') {
      if (type !== 'ok' || !INT.test(arg)) throw bad();
      const p = b.complete(i, proc, op, 'ok');
      if (p.value !== arg) throw b.error(i, `write returns ${arg} but wrote ${p.value}`);
    } else {
      if (pair === null) throw bad();
      const p = b.complete(i, proc, op, 'ok');
      if (p.expected !== pair[1] || p.value !== pair[2]) throw b.error(i, `cas returns [${pair[1]} ${pair[2]}] but was [${p.expected} ${p.value}]`);
      p.output = type === 'ok';
    }
  }
  return b.history();
}

const STR = '"((?:[^"\\\\]|\\\\.)*)"';
const KV_LINE = new RegExp(`^\\{:process (\\d+), :type :(invoke|ok), :f :(get|put|append), :key ${STR}, :value (nil|${STR})\\}\\s*$`);
const unescape = (s: string): string => s.replace(/\\(.)/g, '$1');

/**
 * Parses one of porcupine's Jepsen key-value logs. In porcupine's model an
 * absent key reads as the empty string; here a missing key reads null, so a
 * get of `""` becomes a read of a missing key, and a put or append of `""`
 * (which would make the two differ) is refused.
 */
export function parseJepsenKvLog(text: string, source = 'kv log'): HistoryOp[] {
  const b = new Builder(source);
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const m = KV_LINE.exec(line);
    if (m === null) throw b.error(i, `not a Jepsen key-value operation line: ${JSON.stringify(line.slice(0, 80))}`);
    const proc = Number(m[1]);
    const f = m[3] as 'get' | 'put' | 'append';
    const key = unescape(m[4]!);
    const value = m[5] === 'nil' ? null : unescape(m[6]!);
    if (m[2] === 'invoke') {
      if (f === 'get') {
        if (value !== null) throw b.error(i, `a get is invoked with a value`);
        b.invoke(i, proc, { op: 'get', key });
      } else {
        if (value === null || value === '') throw b.error(i, `a ${f} needs a non-empty value (an empty one cannot be told from a missing key)`);
        b.invoke(i, proc, { op: f, key, value });
      }
      continue;
    }
    const p = b.complete(i, proc, f, 'ok');
    if (p.key !== key) throw b.error(i, `process ${proc} returns key ${JSON.stringify(key)} but invoked ${JSON.stringify(p.key)}`);
    if (f === 'get') {
      if (value === null) throw b.error(i, 'a get returns no value');
      p.output = value === '' ? null : value;
    }
  }
  return b.history();
}
