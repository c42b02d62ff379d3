/**
 * Transactions (`POST /v1/txn`, docs/API.md "Transactions"): compares on
 * several keys, then the `success` operations if every compare holds, else
 * the `failure` ones, all applied by one log entry at one revision. This
 * module validates a transaction as it arrives (naming the field at fault)
 * and evaluates one against a store; the state machine applies the writes.
 */
import { DEFAULT_LIMITS, KvInputError, keyProblem, type KvLimits } from './commands.js';
import { hasLoneSurrogate } from '../util/utf8.js';

/** What a compare looks at: the key's value, its revisions, or whether it exists. */
export type TxnTarget = 'value' | 'modRevision' | 'createRevision' | 'exists';
export type TxnCompareOp = '=' | '!=' | '<' | '>';

/**
 * One compare. `value`: compared as strings (`<`, `>` by UTF-16 code units);
 * a value compare on an absent key is false whatever the operator (test
 * absence with `exists`). `modRevision`, `createRevision`: an absent key has
 * 0. `exists`: `=` or `!=` with true or false.
 */
export type TxnCompare =
  | { readonly key: string; readonly target: 'value'; readonly op: TxnCompareOp; readonly value: string }
  | { readonly key: string; readonly target: 'modRevision' | 'createRevision'; readonly op: TxnCompareOp; readonly value: number }
  | { readonly key: string; readonly target: 'exists'; readonly op: '=' | '!='; readonly value: boolean };

/** One operation of a branch; a branch sees the writes of its earlier operations. */
export type TxnOp = { readonly op: 'put'; readonly key: string; readonly value: string; readonly lease?: number | undefined } | { readonly op: 'delete'; readonly key: string } | { readonly op: 'get'; readonly key: string };

/** A transaction as the client sends it (and as it goes into the log, with the write's session fields). */
export interface TxnRequest {
  readonly compare: readonly TxnCompare[];
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
}

/** A key as a transaction's get returns it. */
export interface TxnItem {
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
}

/** What one operation did: a put's revision is the transaction's; a get's item is null for an absent key. */
export type TxnOpResult =
  | { readonly op: 'put'; readonly key: string; readonly revision: number }
  | { readonly op: 'delete'; readonly key: string; readonly deleted: boolean }
  | { readonly op: 'get'; readonly key: string; readonly item: TxnItem | null };

/** Compares at most, and operations at most in each branch, by default (`KvLimits.maxTxnOps`). */
export const DEFAULT_MAX_TXN_OPS = 128;

const TARGETS: readonly TxnTarget[] = ['value', 'modRevision', 'createRevision', 'exists'];
const OPS: readonly TxnCompareOp[] = ['=', '!=', '<', '>'];

function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function fieldsOnly(o: Record<string, unknown>, allowed: readonly string[], at: string): void {
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length > 0) throw new KvInputError(`${at}: unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => JSON.stringify(k)).join(', ')}; expected ${allowed.join(', ')}`);
}

function objectAt(v: unknown, at: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new KvInputError(`${at} must be an object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
  return v as Record<string, unknown>;
}

function keyAt(v: unknown, at: string, limits: KvLimits): string {
  const p = keyProblem(v, limits);
  if (p !== null) throw new KvInputError(`${at}.key: ${p}`);
  if (hasLoneSurrogate(v as string)) throw new KvInputError(`${at}.key holds an unpaired UTF-16 surrogate: it has no UTF-8 form`);
  return v as string;
}

function stringAt(v: unknown, at: string, limits: KvLimits): string {
  if (typeof v !== 'string') throw new KvInputError(`${at} must be a string, got ${v === null ? 'null' : typeof v}`);
  const n = utf8Bytes(v);
  if (n > limits.maxValueBytes) throw new KvInputError(`${at} is ${n} bytes, more than the limit of ${limits.maxValueBytes}`);
  if (hasLoneSurrogate(v)) throw new KvInputError(`${at} holds an unpaired UTF-16 surrogate: it has no UTF-8 form`);
  return v;
}

function listAt(v: unknown, at: string, max: number): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new KvInputError(`${at} must be an array, got ${v === null ? 'null' : typeof v}`);
  if (v.length > max) throw new KvInputError(`${at} has ${v.length} entries, more than the limit of ${max}`);
  return v;
}

function validateCompare(raw: unknown, at: string, limits: KvLimits): TxnCompare {
  const o = objectAt(raw, at);
  fieldsOnly(o, ['key', 'target', 'op', 'value'], at);
  const key = keyAt(o['key'], at, limits);
  const target = o['target'];
  if (!TARGETS.includes(target as TxnTarget)) throw new KvInputError(`${at}.target must be one of ${TARGETS.join(', ')}, got ${JSON.stringify(target) ?? 'nothing'}`);
  const op = o['op'];
  if (!OPS.includes(op as TxnCompareOp)) throw new KvInputError(`${at}.op must be one of ${OPS.join(' ')}, got ${JSON.stringify(op) ?? 'nothing'}`);
  const value = o['value'];
  switch (target as TxnTarget) {
    case 'value':
      return { key, target: 'value', op: op as TxnCompareOp, value: stringAt(value, `${at}.value`, limits) };
    case 'modRevision':
    case 'createRevision':
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new KvInputError(`${at}.value must be an integer >= 0 (a revision), got ${JSON.stringify(value) ?? 'nothing'}`);
      return { key, target: target as 'modRevision' | 'createRevision', op: op as TxnCompareOp, value };
    case 'exists':
      if (op !== '=' && op !== '!=') throw new KvInputError(`${at}.op must be = or != for target exists, got ${JSON.stringify(op)}`);
      if (typeof value !== 'boolean') throw new KvInputError(`${at}.value must be true or false for target exists, got ${JSON.stringify(value) ?? 'nothing'}`);
      return { key, target: 'exists', op, value };
  }
}

function validateOps(raw: unknown, at: string, limits: KvLimits, max: number): TxnOp[] {
  const ops = listAt(raw, at, max).map((r, i): TxnOp => {
    const here = `${at}[${i}]`;
    const o = objectAt(r, here);
    const key = keyAt(o['key'], here, limits);
    switch (o['op']) {
      case 'put':
        fieldsOnly(o, ['op', 'key', 'value', 'lease'], here);
        if (o['lease'] === undefined) return { op: 'put', key, value: stringAt(o['value'], `${here}.value`, limits) };
        if (typeof o['lease'] !== 'number' || !Number.isSafeInteger(o['lease']) || o['lease'] < 1) throw new KvInputError(`${here}.lease must be a positive integer (a lease id), got ${JSON.stringify(o['lease'])}`);
        return { op: 'put', key, value: stringAt(o['value'], `${here}.value`, limits), lease: o['lease'] };
      case 'delete':
      case 'get':
        fieldsOnly(o, ['op', 'key'], here);
        return { op: o['op'], key };
      default:
        throw new KvInputError(`${here}.op must be put, delete or get, got ${JSON.stringify(o['op']) ?? 'nothing'}`);
    }
  });
  // One change per key per revision (as etcd): a watcher tells the changes of a revision apart by key.
  const written = new Map<string, number>();
  ops.forEach((op, i) => {
    if (op.op === 'get') return;
    const first = written.get(op.key);
    if (first !== undefined) throw new KvInputError(`${at}[${i}] writes key ${JSON.stringify(op.key)} again (${at}[${first}] writes it): a transaction writes each key at most once per branch`);
    written.set(op.key, i);
  });
  return ops;
}

/**
 * Validates a transaction as it arrives; throws {@link KvInputError} naming
 * the field at fault (`compare[2].op ...`, `success[0].value ...`). Nothing
 * invalid is ever proposed.
 */
export function validateTxn(body: unknown, limits: KvLimits = DEFAULT_LIMITS): TxnRequest {
  const o = objectAt(body, 'the transaction');
  fieldsOnly(o, ['compare', 'success', 'failure'], 'the transaction');
  const max = limits.maxTxnOps ?? DEFAULT_MAX_TXN_OPS;
  const compare = listAt(o['compare'], 'compare', max).map((c, i) => validateCompare(c, `compare[${i}]`, limits));
  const success = validateOps(o['success'], 'success', limits, max);
  const failure = validateOps(o['failure'], 'failure', limits, max);
  return { compare, success, failure };
}

/** Every key a transaction reads (compares and gets, in both branches) and writes (puts and deletes, in both branches). */
export function txnKeys(t: TxnRequest): { read: string[]; write: string[] } {
  const read = new Set<string>();
  const write = new Set<string>();
  for (const c of t.compare) read.add(c.key);
  for (const op of [...t.success, ...t.failure]) (op.op === 'get' ? read : write).add(op.key);
  return { read: [...read], write: [...write] };
}

function ordered<T extends string | number>(a: T, op: TxnCompareOp, b: T): boolean {
  switch (op) {
    case '=':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return a < b;
    case '>':
      return a > b;
  }
}

/** Whether `c` holds for `cur`, the compared key's record (undefined: absent). */
export function compareHolds(c: TxnCompare, cur: TxnItem | undefined): boolean {
  switch (c.target) {
    case 'value':
      return cur !== undefined && ordered(cur.value, c.op, c.value);
    case 'modRevision':
      return ordered(cur?.modRevision ?? 0, c.op, c.value);
    case 'createRevision':
      return ordered(cur?.createRevision ?? 0, c.op, c.value);
    case 'exists':
      return (cur !== undefined) === (c.op === '=' ? c.value : !c.value);
  }
}
