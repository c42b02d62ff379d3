/**
 * A linearizability check of histories with multi-key transactions.
 *
 * The per-key checker (linearizability.ts) partitions a history by key, which
 * a transaction touching several keys would break: a torn transaction (one
 * key written, the other not yet, seen by a reader of both) is legal for each
 * key alone. This checker partitions by the connected components of the keys
 * operations touch together (a transaction joins its keys), and searches each
 * component with a model of all its keys at once (Wing & Gong's search, with a
 * memo of (linearized set, state) pairs).
 *
 * What is checked: each transaction's compares on `value` and `exists`, its
 * branch, and every get's result, as one atomic step between its call and its
 * return. Compares on `modRevision` / `createRevision` are not modelled (the
 * model has no log indexes): a history holding one is refused. Single-key
 * operations join in as one-operation transactions (see {@link fromKvOp});
 * appends are not modelled here.
 */
import type { TxnCompare, TxnOp } from '../kv/txn.js';
import { compareHolds } from '../kv/txn.js';
import type { HistoryOp } from './history.js';

/** A transaction as a client saw it; times as in {@link HistoryOp}. */
export interface TxnHistoryOp {
  readonly clientId: string | number;
  readonly compare: readonly TxnCompare[];
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
  /** For `ok`: whether the compares held, and the value each get of the applied branch read (null: absent), in order. */
  readonly output?: { readonly succeeded: boolean; readonly reads: readonly (string | null)[] } | undefined;
  readonly call: number;
  readonly return?: number | null | undefined;
  readonly status: 'ok' | 'fail' | 'unknown';
}

export interface TxnCheckResult {
  /** `unknown`: a component needed more than `maxSteps` search steps. */
  readonly verdict: 'ok' | 'illegal' | 'unknown';
  /** Each component's keys and verdict. */
  readonly components: readonly { readonly keys: readonly string[]; readonly ops: number; readonly verdict: 'ok' | 'illegal' | 'unknown' }[];
}

/** A single-key operation as a one-operation transaction (cas: a value or absence compare, then a put). Throws for an append. */
export function fromKvOp(op: HistoryOp): TxnHistoryOp {
  const base = { clientId: op.clientId, call: op.call, return: op.return, status: op.status };
  switch (op.op) {
    case 'get':
      return { ...base, compare: [], success: [{ op: 'get', key: op.key }], failure: [], output: op.status === 'ok' ? { succeeded: true, reads: [(op.output ?? null) as string | null] } : undefined };
    case 'put':
      return { ...base, compare: [], success: [{ op: 'put', key: op.key, value: op.value ?? '' }], failure: [], output: { succeeded: true, reads: [] } };
    case 'delete':
      return { ...base, compare: [], success: [{ op: 'delete', key: op.key }], failure: [], output: { succeeded: true, reads: [] } };
    case 'cas': {
      const compare: TxnCompare = op.expected === null || op.expected === undefined ? { key: op.key, target: 'exists', op: '=', value: false } : { key: op.key, target: 'value', op: '=', value: op.expected };
      return { ...base, compare: [compare], success: [{ op: 'put', key: op.key, value: op.value ?? '' }], failure: [], output: op.status === 'ok' ? { succeeded: op.output === true, reads: [] } : undefined };
    }
    case 'append':
      throw new Error(`the transaction checker does not model appends (operation of client ${String(op.clientId)} at ${op.call})`);
  }
}

function keysOf(t: TxnHistoryOp): string[] {
  return [...new Set([...t.compare.map((c) => c.key), ...t.success.map((o) => o.key), ...t.failure.map((o) => o.key)])];
}

type State = Map<string, string>;

/** Applies `t` to `state` (a copy); returns the new state and whether the outputs match, or null if they do not. */
function step(t: TxnHistoryOp, state: State): State | null {
  const succeeded = t.compare.every((c) => {
    const v = state.get(c.key);
    return compareHolds(c, v === undefined ? undefined : { value: v, createRevision: 0, modRevision: 0 });
  });
  const out = t.status === 'ok' ? t.output : undefined;
  if (out !== undefined && out.succeeded !== succeeded) return null;
  const next = new Map(state);
  let r = 0;
  for (const op of succeeded ? t.success : t.failure) {
    if (op.op === 'put') next.set(op.key, op.value);
    else if (op.op === 'delete') next.delete(op.key);
    else {
      const v = next.get(op.key) ?? null;
      if (out !== undefined && out.reads[r] !== v) return null;
      r += 1;
    }
  }
  if (out !== undefined && out.reads.length !== r) return null;
  return next;
}

function stateKey(s: State): string {
  return JSON.stringify([...s].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}

/** Wing & Gong over one component: is there an order of its operations, within their real-time bounds, that the model accepts? */
function searchComponent(ops: readonly TxnHistoryOp[], maxSteps: number): 'ok' | 'illegal' | 'unknown' {
  const n = ops.length;
  const ret = ops.map((o) => (o.status === 'ok' ? (o.return ?? Infinity) : Infinity));
  const mustDo = ops.map((o) => o.status === 'ok');
  const remainingOk = mustDo.filter(Boolean).length;
  const seen = new Set<string>();
  let steps = 0;
  const done = new Uint8Array(n);
  const go = (state: State, left: number): boolean | null => {
    if (left === 0) return true;
    const memo = `${Buffer.from(done).toString('base64')}|${stateKey(state)}`;
    if (seen.has(memo)) return false;
    seen.add(memo);
    // An operation may go next only if it was called before every pending operation returned.
    let minReturn = Infinity;
    for (let i = 0; i < n; i++) if (done[i] === 0 && ret[i]! < minReturn) minReturn = ret[i]!;
    for (let i = 0; i < n; i++) {
      if (done[i] !== 0 || ops[i]!.call > minReturn) continue;
      if (++steps > maxSteps) return null;
      const next = step(ops[i]!, state);
      if (next === null) continue;
      done[i] = 1;
      const r = go(next, left - (mustDo[i] ? 1 : 0));
      done[i] = 0;
      if (r !== false) return r;
    }
    return false;
  };
  const r = go(new Map(), remainingOk);
  return r === null ? 'unknown' : r ? 'ok' : 'illegal';
}

/**
 * Checks a history of transactions (and single-key operations turned into
 * transactions by {@link fromKvOp}). Failed operations are ignored; unknown
 * ones may have applied at any time after their call, or never. Throws for
 * a compare on a revision (not modelled).
 */
export function checkTxnHistory(history: readonly TxnHistoryOp[], opts: { maxSteps?: number } = {}): TxnCheckResult {
  const ops = history.filter((o) => o.status !== 'fail');
  for (const o of ops) {
    const c = o.compare.find((x) => x.target === 'modRevision' || x.target === 'createRevision');
    if (c !== undefined) throw new Error(`the transaction checker does not model revisions: a compare on ${c.target} of ${JSON.stringify(c.key)} (client ${String(o.clientId)}, call ${o.call})`);
  }
  // Union-find over keys: the keys of one transaction are one component.
  const parent = new Map<string, string>();
  const find = (k: string): string => {
    let r = k;
    while (parent.get(r)! !== r) r = parent.get(r)!;
    parent.set(k, r);
    return r;
  };
  for (const o of ops) {
    const ks = keysOf(o);
    for (const k of ks) if (!parent.has(k)) parent.set(k, k);
    for (const k of ks.slice(1)) parent.set(find(k), find(ks[0]!));
  }
  const byRoot = new Map<string, TxnHistoryOp[]>();
  for (const o of ops) {
    const ks = keysOf(o);
    if (ks.length === 0) continue; // an empty transaction changes and reads nothing
    const root = find(ks[0]!);
    byRoot.set(root, [...(byRoot.get(root) ?? []), o]);
  }
  const components = [...byRoot.entries()].map(([root, list]) => ({
    keys: [...parent.keys()].filter((k) => find(k) === root).sort(),
    ops: list.length,
    verdict: searchComponent(
      [...list].sort((a, b) => a.call - b.call),
      opts.maxSteps ?? 1_000_000,
    ),
  }));
  const verdict = components.some((c) => c.verdict === 'illegal') ? 'illegal' : components.some((c) => c.verdict === 'unknown') ? 'unknown' : 'ok';
  return { verdict, components };
}
