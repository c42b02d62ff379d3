import { describeOp, type HistoryOp } from './history.js';
import { ValueTable } from './values.js';
import { VisitedSet } from './visited.js';

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
const GET = 0;
const PUT = 1;
const APPEND = 2;
const DELETE = 3;
const CAS = 4;
const KINDS: Record<HistoryOp['op'], number> = { get: GET, put: PUT, append: APPEND, delete: DELETE, cas: CAS };
/** A step result: the operation is not legal in this state. */
const INVALID = -1;
/** A get output that is not a value (malformed input): equal to no state. */
const NO_VALUE = -2;
/** `expect` for operations whose reported outcome is not checked; 2 is matched by no outcome. */
const UNCHECKED = -1;
const IMPOSSIBLE = 2;

/**
 * The key-value model over interned values: a key's state is a small integer,
 * 0 for absent and the index of its string in `values` otherwise, so a step
 * compares and copies integers and the visited set stores one number.
 */
class Model {
  private readonly values: ValueTable;
  readonly kind: Uint8Array;
  /** get: the value read; put, cas: the value written. */
  readonly arg: Int32Array;
  /** cas: the expected value. */
  readonly cmp: Int32Array;
  /** delete, cas: the reported outcome to check (0 false, 1 true), or UNCHECKED. */
  readonly expect: Int8Array;
  /** Operations that never change the state when legal (see {@link isPureRead}). */
  readonly pureRead: Uint8Array;
  /** append: the value appended, registered in {@link values}. */
  private readonly suffix: Int32Array;

  constructor(ops: readonly HistoryOp[]) {
    const n = ops.length;
    this.values = new ValueTable(2 * n);
    this.kind = new Uint8Array(n);
    this.arg = new Int32Array(n);
    this.cmp = new Int32Array(n);
    this.expect = new Int8Array(n).fill(UNCHECKED);
    this.pureRead = new Uint8Array(n);
    this.suffix = new Int32Array(n);
    const outcome = (o: HistoryOp['output']): number => (o === true ? 1 : o === false ? 0 : IMPOSSIBLE);
    for (let i = 0; i < n; i++) {
      const op = ops[i]!;
      const k = KINDS[op.op];
      this.kind[i] = k;
      this.pureRead[i] = isPureRead(op) ? 1 : 0;
      if (k === GET) this.arg[i] = typeof op.output === 'string' ? this.intern(op.output) : op.output === null ? 0 : NO_VALUE;
      else if (k === PUT || k === CAS) this.arg[i] = this.intern(op.value!);
      else if (k === APPEND) this.suffix[i] = this.values.suffix(op.value!);
      if (k === CAS) {
        this.cmp[i] = this.intern(op.expected ?? null);
        if (op.status === 'ok') this.expect[i] = outcome(op.output);
      }
      if (k === DELETE && op.status === 'ok' && op.output !== undefined) this.expect[i] = outcome(op.output);
    }
  }

  private intern(s: string | null): number {
    return s === null ? 0 : this.values.intern(s);
  }

  /** The state after operation `i` from `state`, or INVALID. */
  step(state: number, i: number): number {
    switch (this.kind[i]) {
      case GET:
        return this.arg[i] === state ? state : INVALID;
      case PUT:
        return this.arg[i]!;
      case APPEND:
        return this.values.append(state, this.suffix[i]!);
      case DELETE: {
        const e = this.expect[i]!;
        return e !== UNCHECKED && e !== (state !== 0 ? 1 : 0) ? INVALID : 0;
      }
      default: {
        const match = state === this.cmp[i];
        const e = this.expect[i]!;
        if (e !== UNCHECKED && e !== (match ? 1 : 0)) return INVALID;
        return match ? this.arg[i]! : state;
      }
    }
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

/**
 * Checks the operations of one key: the Wing–Gong search over a doubly linked
 * list of call and return events, with Lowe's memo of (linearized set, state).
 * Everything the loop touches is a typed array indexed by event or operation:
 * the call of operation i is event 2i, its return 2i+1 (none if its outcome is
 * unknown), and event 2n is the list's head.
 */
function checkKey(key: string, ops: readonly HistoryOp[], deadline: number): PartitionResult {
  const n = ops.length;
  const model = new Model(ops);
  const hasReturn = new Uint8Array(n);
  const order: number[] = [];
  for (let i = 0; i < n; i++) {
    order.push(2 * i);
    if (ops[i]!.status === 'ok') {
      hasReturn[i] = 1;
      order.push(2 * i + 1);
    }
  }
  const time = (e: number): number => ((e & 1) === 0 ? ops[e >> 1]!.call : ops[e >> 1]!.return!);
  // By time; at equal times calls before returns (overlap, as porcupine does), then by op.
  order.sort((a, b) => time(a) - time(b) || ((a & 1) === (b & 1) ? (a >> 1) - (b >> 1) : (a & 1) === 0 ? -1 : 1));
  const HEAD = 2 * n;
  const next = new Int32Array(2 * n + 1).fill(-1);
  const prev = new Int32Array(2 * n + 1).fill(-1);
  let last = HEAD;
  for (const e of order) {
    next[last] = e;
    prev[e] = last;
    last = e;
  }

  const unlink = (e: number): void => {
    const p = prev[e]!;
    const q = next[e]!;
    next[p] = q;
    if (q !== -1) prev[q] = p;
  };
  const relink = (e: number): void => {
    const q = next[e]!;
    next[prev[e]!] = e;
    if (q !== -1) prev[q] = e;
  };

  const visited = new VisitedSet(n);
  // The search stack: the operations linearized so far, and the state before each.
  const stackOp = new Int32Array(n);
  const stackState = new Int32Array(n);
  let depth = 0;
  // The longest linearizable prefix seen; its first `agree` entries are the stack's.
  const longest = new Int32Array(n);
  let longestLen = 0;
  let agree = 0;
  let stuck: number | undefined;
  let state = 0;
  let iter = 0;
  let ev = next[HEAD]!;
  while (ev !== -1) {
    if ((++iter & 0xfff) === 0 && performance.now() > deadline) throw new Timeout();
    if ((ev & 1) === 0) {
      const i = ev >> 1;
      const after = model.step(state, i);
      if (after !== INVALID) {
        visited.set(i);
        if (visited.add(after)) {
          stackOp[depth] = i;
          stackState[depth] = state;
          depth++;
          state = after;
          unlink(ev);
          if (hasReturn[i] === 1) unlink(ev + 1);
          if (depth > longestLen) {
            longest.set(stackOp.subarray(agree, depth), agree);
            longestLen = agree = depth;
          }
          ev = next[HEAD]!;
          continue;
        }
        visited.clear(i);
      }
      ev = next[ev]!;
    } else {
      // An operation returned that no choice so far could place before this point: backtrack,
      // past reads placed without a choice, to the last real choice.
      if (depth === longestLen) stuck = ev >> 1;
      let i = -1;
      while (depth > 0) {
        i = stackOp[--depth]!;
        visited.clear(i);
        if (hasReturn[i] === 1) relink(2 * i + 1);
        relink(2 * i);
        if (model.pureRead[i] === 0) break;
        i = -1;
      }
      if (depth < agree) agree = depth;
      if (i === -1) return { key, verdict: 'illegal', ops, order: Array.from(longest.subarray(0, longestLen)), stuck };
      state = stackState[depth]!;
      ev = next[2 * i]!;
    }
  }
  return { key, verdict: 'ok', ops, order: Array.from(stackOp.subarray(0, depth)) };
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
