/**
 * The checker's search as it was before it was rewritten over typed arrays and
 * interned states (issue 12, item 7): objects for events and stack frames,
 * strings for states, a Map of bitset copies for the memo. Kept only as the
 * reference of the differential test (checker-reference.test.ts): the fast
 * search must give the same verdict, the same linearization or longest
 * prefix, and the same stuck operation.
 */
import type { HistoryOp } from '../../src/check/history.js';
import type { PartitionResult } from '../../src/check/linearizability.js';


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
function checkKey(key: string, ops: readonly HistoryOp[]): PartitionResult {
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
  let ev = head.next;
  while (ev !== null) {
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

/** The partitions (by key, smallest first) with the reference search, stopping at the first illegal one, as checkHistory does. */
export function referenceCheck(history: readonly HistoryOp[]): PartitionResult[] {
  const byKey = new Map<string, HistoryOp[]>();
  for (const op of history) {
    if (op.status === 'fail') continue;
    if (op.status === 'unknown' && op.op === 'get') continue;
    let l = byKey.get(op.key);
    if (l === undefined) byKey.set(op.key, (l = []));
    l.push(op);
  }
  const keys = [...byKey.keys()].sort((a, b) => byKey.get(a)!.length - byKey.get(b)!.length || (a < b ? -1 : 1));
  const out: PartitionResult[] = [];
  for (const key of keys) {
    const r = checkKey(key, byKey.get(key)!);
    out.push(r);
    if (r.verdict === 'illegal') break;
  }
  return out;
}
