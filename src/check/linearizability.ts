import { describeOp, type HistoryOp } from './history.js';

/** `ok`: linearizable; `illegal`: no order explains it; `unknown`: the time budget ran out first. */
export type Verdict = 'ok' | 'illegal' | 'unknown';

/** The outcome for one key. */
export interface PartitionResult {
  readonly key: string;
  readonly verdict: Verdict;
  /** The operations of this key (fail-status operations and unknown gets left out). */
  readonly ops: readonly HistoryOp[];
  /**
   * Indexes into `ops`, in linearization order: the whole linearization if
   * `ok`, the longest linearizable prefix found if `illegal`.
   */
  readonly order: readonly number[];
  /** If `illegal`: an operation that no linearization of the prefix can place. */
  readonly stuck?: number | undefined;
}

export interface CheckResult {
  readonly verdict: Verdict;
  readonly partitions: readonly PartitionResult[];
  readonly elapsedMs: number;
}

export interface CheckOptions {
  /** Time budget for the whole check (ms); past it the verdict is `unknown`. Default 10 s. */
  readonly timeoutMs?: number;
}

type State = string | null;
const INVALID = Symbol('invalid');

/** The key-value model: a key's state is its value, or null when absent. */
function step(state: State, op: HistoryOp): State | typeof INVALID {
  switch (op.op) {
    case 'get':
      return op.output === state ? state : INVALID;
    case 'put':
      return op.value!;
    case 'append':
      return (state ?? '') + op.value!;
    case 'delete':
      if (op.status === 'ok' && op.output !== undefined && op.output !== (state !== null)) return INVALID;
      return null;
    case 'cas': {
      const match = state === (op.expected ?? null);
      if (op.status === 'ok' && op.output !== match) return INVALID;
      return match ? op.value! : state;
    }
  }
}

/** A call or return event in the doubly linked list the search walks. */
class Ev {
  prev: Ev | null = null;
  next: Ev | null = null;
  /** For a call: its return, if the operation completed. */
  match: Ev | null = null;
  constructor(
    readonly op: number,
    readonly isCall: boolean,
    readonly time: number,
  ) {}
}

class Bits {
  readonly w: Uint32Array;
  constructor(n: number) {
    this.w = new Uint32Array((n + 31) >>> 5);
  }
  set(i: number): void {
    this.w[i >>> 5]! |= 1 << (i & 31);
  }
  clear(i: number): void {
    this.w[i >>> 5]! &= ~(1 << (i & 31));
  }
  hash(): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < this.w.length; i++) h = Math.imul(h ^ this.w[i]!, 0x01000193);
    return h;
  }
}

function stringHash(s: State): number {
  if (s === null) return 0x9e3779b9;
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Memo of the (linearized set, state) pairs already explored: the Wing–Gong–Lowe search with Lowe's cache. */
class Cache {
  private readonly m = new Map<number, { bits: Uint32Array; state: State }[]>();
  /** Adds the pair; false if it was already there. */
  add(bits: Bits, state: State): boolean {
    const h = (bits.hash() ^ Math.imul(stringHash(state), 0x5bd1e995)) >>> 0;
    let bucket = this.m.get(h);
    if (bucket === undefined) {
      bucket = [];
      this.m.set(h, bucket);
    }
    for (const e of bucket) if (e.state === state && sameBits(e.bits, bits.w)) return false;
    bucket.push({ bits: bits.w.slice(), state });
    return true;
  }
}

class Timeout extends Error {}

/**
 * Operations that read without writing. If one is legal in the current state,
 * placing it right now loses no linearization (it changes nothing, and no
 * real-time constraint forbids an earlier place), so the search need not
 * branch on it: on backtracking it is undone without trying alternatives.
 */
function isPureRead(op: HistoryOp): boolean {
  return op.op === 'get' || (op.status === 'ok' && op.output === false && (op.op === 'cas' || op.op === 'delete'));
}

/** Checks the operations of one key. */
function checkKey(key: string, ops: readonly HistoryOp[], deadline: number): PartitionResult {
  const events: Ev[] = [];
  const calls: Ev[] = [];
  ops.forEach((op, i) => {
    const c = new Ev(i, true, op.call);
    calls.push(c);
    events.push(c);
    if (op.status === 'ok') {
      const r = new Ev(i, false, op.return!);
      c.match = r;
      events.push(r);
    }
  });
  // By time; at equal times calls before returns (overlap, as porcupine does), then by op.
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1));
  const head = new Ev(-1, true, -Infinity);
  let prev = head;
  for (const e of events) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }

  const lift = (c: Ev): void => {
    c.prev!.next = c.next;
    if (c.next !== null) c.next.prev = c.prev;
    const r = c.match;
    if (r !== null) {
      r.prev!.next = r.next;
      if (r.next !== null) r.next.prev = r.prev;
    }
  };
  const unlift = (c: Ev): void => {
    const r = c.match;
    if (r !== null) {
      r.prev!.next = r;
      if (r.next !== null) r.next.prev = r;
    }
    c.prev!.next = c;
    if (c.next !== null) c.next.prev = c;
  };

  const bits = new Bits(ops.length);
  const cache = new Cache();
  const stack: { call: Ev; state: State; forced: boolean }[] = [];
  let state: State = null;
  let longest: number[] = [];
  let stuck: number | undefined;
  let iter = 0;
  let ev = head.next;
  while (ev !== null) {
    if ((++iter & 0xfff) === 0 && performance.now() > deadline) throw new Timeout();
    if (ev.isCall) {
      const next = step(state, ops[ev.op]!);
      if (next !== INVALID) {
        bits.set(ev.op);
        if (cache.add(bits, next)) {
          stack.push({ call: ev, state, forced: isPureRead(ops[ev.op]!) });
          state = next;
          lift(ev);
          if (stack.length > longest.length) longest = stack.map((f) => f.call.op);
          ev = head.next;
          continue;
        }
        bits.clear(ev.op);
      }
      ev = ev.next;
    } else {
      // An operation returned that no choice so far could place before this point: backtrack,
      // past reads placed without a choice, to the last real choice.
      if (stack.length === longest.length) stuck = ev.op;
      let f = stack.pop();
      while (f !== undefined && f.forced) {
        bits.clear(f.call.op);
        unlift(f.call);
        f = stack.pop();
      }
      if (f === undefined) return { key, verdict: 'illegal', ops, order: longest, stuck };
      state = f.state;
      bits.clear(f.call.op);
      unlift(f.call);
      ev = f.call.next;
    }
  }
  return { key, verdict: 'ok', ops, order: stack.map((f) => f.call.op) };
}

/**
 * Checks a key-value history for linearizability: the Wing–Gong–Lowe search
 * with memoization of (linearized set, state), one independent search per key
 * (every operation touches one key). Operations with unknown outcome may take
 * effect at any point after their call, or never; failed ones are ignored.
 */
export function checkHistory(history: readonly HistoryOp[], opts: CheckOptions = {}): CheckResult {
  const t0 = performance.now();
  const deadline = t0 + (opts.timeoutMs ?? 10_000);
  const byKey = new Map<string, HistoryOp[]>();
  for (const op of history) {
    if (op.status === 'fail') continue; // certainly no effect
    if (op.status === 'unknown' && op.op === 'get') continue; // no effect, and nothing observed
    let l = byKey.get(op.key);
    if (l === undefined) byKey.set(op.key, (l = []));
    l.push(op);
  }
  const keys = [...byKey.keys()].sort((a, b) => byKey.get(a)!.length - byKey.get(b)!.length || (a < b ? -1 : 1));
  const partitions: PartitionResult[] = [];
  let verdict: Verdict = 'ok';
  for (const key of keys) {
    const ops = byKey.get(key)!;
    let r: PartitionResult;
    try {
      r = checkKey(key, ops, deadline);
    } catch (e) {
      if (!(e instanceof Timeout)) throw e;
      r = { key, verdict: 'unknown', ops, order: [] };
    }
    partitions.push(r);
    if (r.verdict === 'illegal') verdict = 'illegal';
    else if (r.verdict === 'unknown' && verdict === 'ok') verdict = 'unknown';
    if (verdict === 'illegal') break; // one counterexample is enough
    if (verdict === 'unknown' && performance.now() > deadline) break;
  }
  return { verdict, partitions, elapsedMs: performance.now() - t0 };
}

/** A one-paragraph explanation of an illegal result, for test failures and the CLI. */
export function explain(r: CheckResult): string {
  const bad = r.partitions.find((p) => p.verdict === 'illegal');
  if (bad === undefined) return r.verdict === 'unknown' ? 'the check ran out of time' : 'linearizable';
  const prefix = bad.order.map((i) => describeOp(bad.ops[i]!));
  const stuck = bad.stuck !== undefined ? describeOp(bad.ops[bad.stuck]!) : '?';
  return `key ${JSON.stringify(bad.key)}: after the longest linearizable prefix (${prefix.length} of ${bad.ops.length} ops, ending ${prefix.slice(-3).join(', ') || 'nothing'}), no order places ${stuck}`;
}
