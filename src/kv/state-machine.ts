import sortedBtree from 'sorted-btree';
import type { ApplyMeta, StateMachine } from '../node/replica.js';
import { decodeAll, encode } from '../util/codec.js';
import type { CanaryName } from '../util/canary.js';
import { isAlarmCommand, recordBytes, type Alarm, type AlarmDisarmCommand, type AlarmName } from './alarms.js';
import { applyAuthCommand, isAuthCommand, readRefusal, writeRefusal } from '../auth/commands.js';
import { AuthState, type AuthSnapshot } from '../auth/model.js';
import { DEFAULT_LIMITS, KvInputError, decodeCommand, validateOp, type KvCommand, type KvLimits, type KvOp, type KvResult, type Session } from './commands.js';
import type { ChangeRecorder } from './watch-history.js';
import { LeaseTable, isLeaseCommand, type LeaseCommand, type LeaseState, type SnapLease } from './leases.js';
import { compareHolds, txnKeys, validateTxn, type TxnOp, type TxnOpResult, type TxnRequest } from './txn.js';
import { RecordCursor, SnapshotBuffer, readRecordBytes } from './snapshot-records.js';
import { RecordStore } from './record-store.js';
import { KeyIndex } from './key-index.js';

const BTree = sortedBtree.default;
/** Keys are strings only: the plain comparison, not the library's default that also orders numbers, dates and mixed types (measured 15–25% faster per lookup at 1,000,000 keys). */
const newTree = (): InstanceType<typeof BTree<string, number>> => new BTree<string, number>(undefined, sortedBtree.simpleComparator);

/** A stored value and the revisions (log indexes) that created and last modified it (a view: the store keeps records in a {@link RecordStore}). */
export interface KvRecord {
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  /** The lease the key is attached to (src/kv/leases.ts), if any. */
  readonly lease?: number | undefined;
}

/** A read result: a key, its value, the revision that last modified it and the one that created it, and its lease if it has one. */
export interface KvItem {
  readonly key: string;
  readonly value: string;
  /** The revision (log index) that last modified the key. */
  readonly revision: number;
  /** The revision that created the key (since it last did not exist). */
  readonly createRevision: number;
  /** The lease the key is attached to; absent when it has none. */
  readonly lease?: number;
}


interface SessionRecord {
  seq: number;
  result: KvResult;
  lastSeen: number;
}

/** Options of a {@link KvStateMachine}; every replica must use the same ones. */
export interface KvStateMachineOptions {
  readonly limits?: KvLimits;
  /** A client session idle this long (in log-carried time, ms) is forgotten. Default one hour. */
  readonly sessionTtlMs?: number;
  /** A planted bug, for the simulator to prove its checks (see util/canary.ts). Never set otherwise. */
  readonly canary?: CanaryName | undefined;
  /** Told of every change as it is applied, and of every restore (the watch history; not replicated state). */
  readonly changes?: ChangeRecorder | undefined;
  /** The applying node's clock (ms): read only by the planted bug `expiry-by-follower-clock`. Never set otherwise. */
  readonly canaryClock?: (() => number) | undefined;
}

/** `lease`: present only for a key attached to a lease. */
type SnapRecord = [key: string, value: string, create: number, mod: number, lease?: number];

/**
 * Everything of a snapshot but the keys: version 1 also holds `data`, every
 * record; version 2 is followed by the records in chunks (arrays of records,
 * each its own msgpack value), so it can be written a chunk at a time;
 * version 3 (written now) by blocks of records in the layout of
 * src/kv/snapshot-records.ts, each a msgpack `bin` value.
 */
type SnapHead = {
  v: 1 | 2 | 3;
  now: number;
  lastSweep: number;
  revision: number;
  /** Version 1 only. */
  data?: SnapRecord[];
  sessions: [clientId: string, seq: number, result: KvResult, lastSeen: number][];
  /** Active alarms; absent in snapshots of older versions (no alarm). */
  alarms?: Alarm[];
  /** Roles and tokens (src/auth); absent in snapshots of older versions: auth disabled. */
  auth?: AuthSnapshot;
  /** Leases (src/kv/leases.ts); absent in snapshots of older versions or with none. */
  leases?: SnapLease[];
};

/** Records per block of a snapshot: well under a millisecond of encoding each. */
const SNAPSHOT_CHUNK_RECORDS = 2048;
/** Bytes of a record besides its key and value: two lengths, two revisions, a lease (varints; 12 for revisions up to 2^28). */
const RECORD_OVERHEAD_BYTES = 12;

/**
 * The key-value store as a deterministic {@link StateMachine}: ordered string
 * keys (a B+ tree, for prefix scans), per-key revisions, and client sessions
 * that make every retried write apply exactly once. Sessions expire by the
 * time the leader wrote into each command, never by this replica's clock, so
 * every replica expires the same sessions at the same log position.
 */
export class KvStateMachine implements StateMachine<KvResult> {
  /** Each key's record in {@link store}, in key order (prefix scans, snapshots from an O(1) clone). */
  private data = newTree();
  /** The same, hashed: a write or a get finds its key's record without descending the tree (measured ~6 µs a descent under load at 100,000 keys). */
  private index = new KeyIndex();
  private store = new RecordStore();
  private sessions = new Map<string, SessionRecord>();
  private now = 0;
  private lastSweep = 0;
  private revisionValue = 0;
  /** Bytes of keys and values stored: what the space quota counts. Recomputed on restore. */
  private bytes = 0;
  /** Active alarms (replicated state: raised and disarmed only by applied commands). */
  private alarmSet = new Map<AlarmName, Alarm>();
  private authState = new AuthState();
  /** Leases (replicated state: granted, kept alive, revoked and expired only by applied commands). */
  private leaseTable = new LeaseTable();
  readonly limits: KvLimits;
  private readonly sessionTtlMs: number;
  private readonly canary: CanaryName | undefined;
  private readonly changes: ChangeRecorder | undefined;
  private readonly canaryClock: (() => number) | undefined;

  constructor(opts: KvStateMachineOptions = {}) {
    this.limits = opts.limits ?? DEFAULT_LIMITS;
    this.sessionTtlMs = opts.sessionTtlMs ?? 3_600_000;
    this.canary = opts.canary;
    this.changes = opts.changes;
    this.canaryClock = opts.canaryClock;
  }

  /** The log index of the last applied command. */
  get revision(): number {
    return this.revisionValue;
  }

  get size(): number {
    return this.data.size;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Bytes of keys and values stored (UTF-8): what the space quota counts. */
  get sizeBytes(): number {
    return this.bytes;
  }

  /** The active alarms, by name. */
  alarms(): Alarm[] {
    return [...this.alarmSet.values()];
  }

  /** The replicated auth state (roles, tokens, on or off) as of the last applied command. */
  get auth(): AuthState {
    return this.authState;
  }

  apply(command: Uint8Array, meta: ApplyMeta): KvResult {
    this.revisionValue = meta.index;
    let cmd: KvCommand;
    let op: KvOp | TxnRequest;
    try {
      cmd = decodeCommand(command);
      if (this.canary === 'expiry-by-follower-clock') this.expireByOwnClock(meta.index);
      if (isAlarmCommand(cmd)) return this.applyAlarmCommand(cmd, meta.index);
      if (isAuthCommand(cmd)) return applyAuthCommand(this.authState, cmd, meta.index);
      if (isLeaseCommand(cmd)) return this.applyLeaseCommand(cmd, meta.index);
      op = cmd.op === 'txn' ? validateTxn({ compare: cmd.compare, success: cmd.success, failure: cmd.failure }, this.limits) : validateOp(cmd, this.limits);
    } catch (e) {
      // Nothing invalid is proposed; this only guards against a foreign or damaged entry.
      return { ok: false, error: 'invalid', message: e instanceof KvInputError ? e.message : 'undecodable command', revision: meta.index };
    }
    if (typeof cmd.time === 'number' && cmd.time > this.now) this.now = cmd.time;
    this.expireSessions();

    const session = cmd.session;
    const replay = this.sessionReplay(session, meta.index);
    if (replay !== null) return replay;
    // Judged by the auth state at this index: a write racing a revocation is refused on every replica alike.
    const result =
      'compare' in op
        ? this.applyTxn(op, cmd.by, cmd.quota, meta.index)
        : (writeRefusal(this.authState, cmd.by, op.key, meta.index) ?? this.spaceRefusal(op, cmd.quota, meta.index) ?? this.applyOp(op, meta.index));
    if ('compare' in op) this.countTxn(result);
    this.rememberSession(session, result);
    return result;
  }

  /**
   * For a command with a session: the answer of the command it repeats (a
   * retry: nothing is applied again), or its refusal (session expired, or a
   * request older than the last); null when it is new and must be applied.
   */
  private sessionReplay(session: Session | undefined, index: number): KvResult | null {
    if (session === undefined) return null;
    const rec = this.sessions.get(session.clientId);
    if (rec === undefined) {
      if (session.seq === 1) return null;
      return { ok: false, error: 'session-expired', message: `client ${session.clientId} has no session (expired, or never began at seq 1); start a new one`, revision: index };
    }
    rec.lastSeen = this.now;
    if (session.seq === rec.seq) return rec.result; // a retry: answer it, apply nothing
    if (session.seq < rec.seq) return { ok: false, error: 'stale-request', message: `client ${session.clientId} sent seq ${session.seq} after ${rec.seq}`, revision: index };
    return null;
  }

  /** Records what a new command of `session` answered, for its retries. */
  private rememberSession(session: Session | undefined, result: KvResult): void {
    if (session === undefined) return;
    const rec = this.sessions.get(session.clientId);
    if (rec === undefined) this.sessions.set(session.clientId, { seq: session.seq, result, lastSeen: this.now });
    else {
      rec.seq = session.seq;
      rec.result = result;
    }
  }

  /** Whether `session` names the request this replica last applied for its client (a retry would be answered from the session table). */
  hasSessionAt(session: Session | undefined): boolean {
    return session !== undefined && this.sessions.get(session.clientId)?.seq === session.seq;
  }

  /** Transactions applied here since this process started, by outcome: for metrics, not replicated state. */
  private txnCounts = { succeeded: 0, failed: 0, refused: 0 };
  /** Lease expiries that took effect here since this process started (for metrics, not replicated state). */
  private expiriesApplied = 0;

  /** Lease expiries this replica applied (the lease still at the generation the leader saw) since it started. */
  get leaseExpiriesApplied(): number {
    return this.expiriesApplied;
  }

  private countTxn(result: KvResult): void {
    if (!result.ok) this.txnCounts.refused += 1;
    else if (result.op === 'txn') this.txnCounts[result.succeeded ? 'succeeded' : 'failed'] += 1;
  }

  /** Transactions this replica applied since it started: succeeded (compares held), failed (they did not), refused (permission, space, lease). */
  get txnsApplied(): { readonly succeeded: number; readonly failed: number; readonly refused: number } {
    return { ...this.txnCounts };
  }

  private applyOp(op: KvOp, index: number): KvResult {
    const cur = this.index.get(op.key);
    switch (op.op) {
      case 'put':
        if (op.lease !== undefined && this.leaseTable.get(op.lease) === undefined) return this.noLease(op.lease, index);
        this.set(op.key, op.value, cur, index, op.lease);
        return { ok: true, op: 'put', revision: index };
      case 'append': {
        const value = (cur === undefined ? '' : this.store.value(cur)) + op.value;
        if (Buffer.byteLength(value, 'utf8') > this.limits.maxValueBytes) {
          return { ok: false, error: 'invalid', message: `appending would make ${JSON.stringify(op.key)} longer than ${this.limits.maxValueBytes} bytes`, revision: index };
        }
        this.set(op.key, value, cur, index, cur === undefined ? undefined : this.store.lease(cur));
        return { ok: true, op: 'append', revision: index };
      }
      case 'delete':
        if (cur !== undefined) this.remove(op.key, cur, index);
        return { ok: true, op: 'delete', revision: index, deleted: cur !== undefined };
      case 'cas': {
        const value = cur === undefined ? null : this.store.value(cur);
        if (value !== op.expected) return { ok: true, op: 'cas', revision: cur === undefined ? 0 : this.store.modRevision(cur), swapped: false, current: value };
        this.set(op.key, op.value, cur, index, cur === undefined ? undefined : this.store.lease(cur));
        return { ok: true, op: 'cas', revision: index, swapped: true, current: op.value };
      }
    }
  }

  /**
   * A transaction at revision `index`: every key it may read (compares, gets)
   * and write (puts, deletes), in both branches, is checked against the auth
   * state first, so the refusal does not depend on which branch the data
   * picks; then the compares choose a branch, whose operations apply in
   * order (a get sees the branch's earlier writes). Each write is recorded for
   * watchers at `index`, in the order of the branch.
   */
  private applyTxn(t: TxnRequest, by: unknown, quota: unknown, index: number): KvResult {
    const keys = txnKeys(t);
    for (const key of keys.read) {
      const refused = readRefusal(this.authState, by, key, index);
      if (refused !== null) return refused;
    }
    for (const key of keys.write) {
      const refused = writeRefusal(this.authState, by, key, index);
      if (refused !== null) return refused;
    }
    const succeeded = t.compare.every((c) => compareHolds(c, this.record(c.key)));
    const ops = succeeded ? t.success : t.failure;
    const refused = this.txnSpaceRefusal(ops, quota, index);
    if (refused !== null) return refused;
    // Checked before any write: a put to a lease that is gone refuses the whole transaction.
    for (const op of ops) if (op.op === 'put' && op.lease !== undefined && this.leaseTable.get(op.lease) === undefined) return this.noLease(op.lease, index);
    const results: TxnOpResult[] = [];
    for (const op of ops) {
      // The planted bug: the compares are judged again before each operation, so a branch that changes a compared key stops half-way.
      if (this.canary === 'torn-txn' && succeeded && !t.compare.every((c) => compareHolds(c, this.record(c.key)))) break;
      const cur = this.index.get(op.key);
      switch (op.op) {
        case 'get':
          results.push({ op: 'get', key: op.key, item: cur === undefined ? null : { value: this.store.value(cur), createRevision: this.store.createRevision(cur), modRevision: this.store.modRevision(cur) } });
          break;
        case 'put':
          this.set(op.key, op.value, cur, index, op.lease);
          results.push({ op: 'put', key: op.key, revision: index });
          break;
        case 'delete':
          this.applyOp(op, index);
          results.push({ op: 'delete', key: op.key, deleted: cur !== undefined });
          break;
      }
    }
    return { ok: true, op: 'txn', revision: index, succeeded, results };
  }

  /** {@link spaceRefusal} for a transaction's branch: refused if it has a put under NOSPACE, or would end above the quota. */
  private txnSpaceRefusal(ops: readonly TxnOp[], quota: unknown, index: number): KvResult | null {
    if (!ops.some((op) => op.op === 'put')) return null;
    // The store's size after the branch: each key written once (validateTxn), so each counts from its current record.
    let after = this.bytes;
    for (const op of ops) {
      if (op.op === 'get') continue;
      const cur = this.index.get(op.key);
      after += op.op === 'put' ? this.growth(op.key, cur, Buffer.byteLength(op.value, 'utf8')) : cur === undefined ? 0 : -this.recordBytesOf(op.key, cur);
    }
    return this.spaceRefusalFor(after, quota, index);
  }

  /**
   * Stores `value` under `key` (now the record `cur`) at revision `index`,
   * attached to `lease` (moved from the lease it was attached to, if
   * another), counts the bytes it adds, and records the change for watchers.
   */
  private set(key: string, value: string, cur: number | undefined, index: number, lease: number | undefined): void {
    const valueBytes = Buffer.byteLength(value, 'utf8');
    this.bytes += this.growth(key, cur, valueBytes);
    const createRevision = cur === undefined ? index : this.store.createRevision(cur);
    const curLease = cur === undefined ? undefined : this.store.lease(cur);
    if (curLease !== lease) {
      if (curLease !== undefined) this.leaseTable.get(curLease)?.keys.delete(key);
      if (lease !== undefined) this.leaseTable.get(lease)?.keys.add(key);
    }
    if (cur !== undefined && !this.store.pinned) this.store.update(cur, value, valueBytes, index, lease);
    else {
      // A new key, or a snapshot is reading the records: a new record (the old one is kept for the snapshot).
      const id = this.store.add(value, valueBytes, createRevision, index, lease);
      this.data.set(key, id);
      this.index.set(key, id);
      if (cur !== undefined) this.store.release(cur);
    }
    this.changes?.record({ type: 'put', key, value, revision: index, createRevision });
  }

  /** Deletes `key` (now the record `cur`) at revision `index`, detaching it from its lease, and records the change for watchers. */
  private remove(key: string, cur: number, index: number): void {
    this.data.delete(key);
    this.index.delete(key);
    this.bytes -= this.recordBytesOf(key, cur);
    const lease = this.store.lease(cur);
    if (lease !== undefined) this.leaseTable.get(lease)?.keys.delete(key);
    this.store.release(cur);
    this.changes?.record({ type: 'delete', key, revision: index });
  }

  /** `key`'s record as an object, or undefined (for compares: a copy of the value is made). */
  private record(key: string): KvRecord | undefined {
    const id = this.index.get(key);
    if (id === undefined) return undefined;
    const lease = this.store.lease(id);
    const r = { value: this.store.value(id), createRevision: this.store.createRevision(id), modRevision: this.store.modRevision(id) };
    return lease === undefined ? r : { ...r, lease };
  }

  /** A read result for `key`, whose record is `id`. */
  private itemOf(key: string, id: number): KvItem {
    const item = { key, value: this.store.value(id), revision: this.store.modRevision(id), createRevision: this.store.createRevision(id) };
    const lease = this.store.lease(id);
    return lease === undefined ? item : { ...item, lease };
  }

  // ---- leases (src/kv/leases.ts) ----------------------------------------------------

  private noLease(id: number, index: number): KvResult {
    return { ok: false, error: 'not-found', message: `lease ${id} does not exist (never granted, revoked, or expired)`, revision: index };
  }

  /**
   * A lease command at revision `index`. A grant's id is its revision. Revoke
   * and expire delete every key of the lease at `index`, in key order, each
   * recorded for watchers; an expiry whose generation is not the lease's (a
   * keep-alive was applied after the leader decided) changes nothing.
   */
  private applyLeaseCommand(cmd: LeaseCommand, index: number): KvResult {
    // Only commands with a session move the session clock: older lease commands applied without either.
    if (!('session' in cmd) || cmd.session === undefined) return this.applyLease(cmd, index);
    if (typeof cmd.time === 'number' && cmd.time > this.now) this.now = cmd.time;
    this.expireSessions();
    const replay = this.sessionReplay(cmd.session, index);
    if (replay !== null) return replay;
    const result = this.applyLease(cmd, index);
    this.rememberSession(cmd.session, result);
    return result;
  }

  private applyLease(cmd: LeaseCommand, index: number): KvResult {
    const done = (action: 'grant' | 'keepalive' | 'revoke' | 'expire', id: number, l: LeaseState | undefined, deletedKeys: number, applied: boolean): KvResult =>
      ({ ok: true, op: 'lease', action, revision: index, id, ttl: l?.ttl ?? 0, generation: l?.generation ?? 0, deletedKeys, applied });
    if (cmd.kind === 'lease-grant') {
      const max = cmd.maxLeases;
      if (typeof max === 'number' && this.leaseTable.size >= max) {
        return { ok: false, error: 'too-many-leases', message: `the store holds ${this.leaseTable.size} leases, its maximum (--max-leases ${max}); revoke leases no longer needed, or raise --max-leases on every node`, revision: index, maxLeases: max };
      }
      return done('grant', index, this.leaseTable.grant(index, cmd.ttl, cmd.time), 0, true);
    }
    const l = this.leaseTable.get(cmd.id);
    switch (cmd.kind) {
      case 'lease-keepalive':
        if (l === undefined) return this.noLease(cmd.id, index);
        l.generation += 1;
        l.renewedAt = cmd.time;
        return done('keepalive', cmd.id, l, 0, true);
      case 'lease-revoke': {
        if (l === undefined) return this.noLease(cmd.id, index);
        // Revoking deletes the keys: allowed only to a caller who may write each of them (as etcd).
        for (const key of [...l.keys].sort()) {
          const refused = writeRefusal(this.authState, cmd.by, key, index);
          if (refused !== null) return refused;
        }
        return done('revoke', cmd.id, l, this.dropLease(cmd.id, index), true);
      }
      case 'lease-expire':
        if (l === undefined || l.generation !== cmd.generation) return done('expire', cmd.id, l, 0, false);
        this.expiriesApplied += 1;
        return done('expire', cmd.id, l, this.dropLease(cmd.id, index), true);
    }
  }

  /** The planted bug `expiry-by-follower-clock`: every replica expires leases by its own clock (renewal time + TTL), not by the leader's logged decision. */
  private expireByOwnClock(index: number): void {
    const now = this.canaryClock?.() ?? this.now;
    for (const [id, l] of [...this.leaseTable.entries()]) if (l.renewedAt + l.ttl * 1000 <= now) this.dropLease(id, index);
  }

  /** Removes a lease and deletes its keys at `index`; returns how many. */
  private dropLease(id: number, index: number): number {
    const keys = this.leaseTable.remove(id);
    for (const key of keys) {
      const cur = this.index.get(key);
      if (cur !== undefined) this.remove(key, cur, index);
    }
    return keys.length;
  }

  /** The lease `id` as of the last applied command, or undefined. */
  lease(id: number): { id: number; ttl: number; generation: number; renewedAt: number; keys: string[] } | undefined {
    const l = this.leaseTable.get(id);
    return l === undefined ? undefined : { id, ttl: l.ttl, generation: l.generation, renewedAt: l.renewedAt, keys: [...l.keys].sort() };
  }

  /** How many leases the store holds. */
  get leaseCount(): number {
    return this.leaseTable.size;
  }

  /** Every lease's id, TTL and generation, in no order and without copying: what the leader's expiry timer walks each tick. */
  leaseStates(): Iterable<{ readonly id: number; readonly ttl: number; readonly generation: number }> {
    return this.leaseTable.values();
  }

  /** Every lease's id, TTL (seconds) and generation, by id. */
  leases(): { id: number; ttl: number; generation: number; renewedAt: number; keyCount: number }[] {
    return [...this.leaseTable.entries()].sort(([a], [b]) => a - b).map(([id, l]) => ({ id, ttl: l.ttl, generation: l.generation, renewedAt: l.renewedAt, keyCount: l.keys.size }));
  }

  // ---- space quota and alarms (src/kv/alarms.ts) ---------------------------------

  /** How many bytes the store grows by when `key` (now the record `cur`) takes a value of `valueBytes`. */
  private growth(key: string, cur: number | undefined, valueBytes: number): number {
    return cur === undefined ? Buffer.byteLength(key, 'utf8') + valueBytes : valueBytes - this.store.valueBytes(cur);
  }

  /** The bytes the quota counts for `key` and its record `id` (as recordBytes). */
  private recordBytesOf(key: string, id: number, store = this.store): number {
    return Buffer.byteLength(key, 'utf8') + store.valueBytes(id);
  }

  /** The size the store would have after `op` (the append limit is checked by applyOp). */
  private sizeAfter(op: KvOp): number {
    const cur = this.index.get(op.key);
    switch (op.op) {
      case 'put':
        return this.bytes + this.growth(op.key, cur, Buffer.byteLength(op.value, 'utf8'));
      case 'append': {
        const added = Buffer.byteLength(op.value, 'utf8');
        // Too long a value is refused by applyOp as invalid: not a matter of space.
        if ((cur === undefined ? 0 : this.store.valueBytes(cur)) + added > this.limits.maxValueBytes) return this.bytes;
        return this.bytes + added;
      }
      case 'cas':
        return (cur === undefined ? null : this.store.value(cur)) === op.expected ? this.bytes + this.growth(op.key, cur, Buffer.byteLength(op.value, 'utf8')) : this.bytes;
      case 'delete':
        return this.bytes;
    }
  }

  /**
   * Refuses a write that adds data while NOSPACE is active, and one that
   * would take the store above the proposer's `quota` (raising NOSPACE).
   * Deletes always pass, so space can be freed. Decided from the replicated
   * state and the command alone: every replica decides the same.
   */
  private spaceRefusal(op: KvOp, quota: unknown, index: number): KvResult | null {
    if (op.op === 'delete') return null;
    // The common case needs no lookup of the key: no quota, or even the most the write could add stays within it.
    if (!this.alarmSet.has('NOSPACE')) {
      if (typeof quota !== 'number') return null;
      const most = op.op === 'append' ? Buffer.byteLength(op.value, 'utf8') : recordBytes(op.key, op.value);
      if (this.bytes + most <= quota) return null;
    }
    return this.spaceRefusalFor(this.sizeAfter(op), quota, index);
  }

  /** A write that adds data and would take the store to `after` bytes: refused under NOSPACE, or above `quota` (raising NOSPACE). */
  private spaceRefusalFor(after: number, quota: unknown, index: number): KvResult | null {
    const active = this.alarmSet.get('NOSPACE');
    if (active !== undefined) {
      return { ok: false, error: 'no-space', message: `the store is read-only: alarm NOSPACE is active (raised at revision ${active.revision}, quota ${active.quotaBytes} bytes); the store holds ${this.bytes} bytes. Delete data, then disarm the alarm (tsraft alarm disarm)`, revision: index, quotaBytes: active.quotaBytes, sizeBytes: this.bytes };
    }
    if (typeof quota !== 'number' || !Number.isSafeInteger(quota) || quota < 1) return null;
    if (after <= quota || after <= this.bytes) return null;
    this.alarmSet.set('NOSPACE', { alarm: 'NOSPACE', revision: index, quotaBytes: quota, sizeBytes: this.bytes, wouldBeBytes: after });
    return { ok: false, error: 'no-space', message: `this write would take the store from ${this.bytes} to ${after} bytes, above the space quota of ${quota} bytes (--quota-bytes); alarm NOSPACE raised: the store is read-only until data is deleted and the alarm disarmed (tsraft alarm disarm)`, revision: index, quotaBytes: quota, sizeBytes: this.bytes };
  }

  private applyAlarmCommand(cmd: AlarmDisarmCommand, index: number): KvResult {
    const disarmed: Alarm[] = [];
    for (const [name, a] of [...this.alarmSet]) {
      if (cmd.alarm !== undefined && cmd.alarm !== name) continue;
      this.alarmSet.delete(name);
      disarmed.push(a);
    }
    return { ok: true, op: 'alarm-disarm', revision: index, disarmed };
  }

  /** Forgets sessions idle longer than the TTL; sweeps at most every quarter TTL of log time. */
  private expireSessions(): void {
    if (this.now - this.lastSweep < this.sessionTtlMs / 4) return;
    this.lastSweep = this.now;
    for (const [id, s] of this.sessions) if (this.now - s.lastSeen > this.sessionTtlMs) this.sessions.delete(id);
  }

  /**
   * A digest of the whole state (data, revisions, sessions), computed from
   * the state itself, not from a snapshot: replicas at the same applied index
   * must agree on it.
   */
  digest(): string {
    let h = 0x811c9dc5;
    const mix = (s: string): void => {
      for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
      h = Math.imul(h ^ 0xff, 0x01000193);
    };
    for (const [k, id] of this.data.entries()) {
      const lease = this.store.lease(id);
      mix(`${k}=${this.store.value(id)}@${this.store.createRevision(id)}/${this.store.modRevision(id)}${lease === undefined ? '' : `~${lease}`}`);
    }
    for (const id of [...this.sessions.keys()].sort()) {
      const s = this.sessions.get(id)!;
      mix(`${id}#${s.seq}:${s.lastSeen}:${JSON.stringify(s.result)}`);
    }
    if (!this.authState.empty) mix(this.authState.canonical());
    mix(`now=${this.now}/${this.lastSweep}/rev=${this.revisionValue}`);
    if (this.leaseTable.size > 0) mix(`leases=${this.leaseTable.canonical()}`);
    if (this.alarmSet.size > 0) mix(`alarms=${JSON.stringify(this.alarms())}/bytes=${this.bytes}`);
    return `${this.data.size}:${this.sessions.size}:${(h >>> 0).toString(16)}`;
  }

  // ---- reads (served after ReadIndex, or stale on request) ---------------------

  get(key: string): KvItem | null {
    const id = this.index.get(key);
    return id === undefined ? null : this.itemOf(key, id);
  }

  /** Keys starting with `prefix`, in order, at most `limit` of them. */
  list(prefix: string, limit = Infinity): KvItem[] {
    const out: KvItem[] = [];
    for (const [key, id] of this.data.entries(prefix)) {
      if (!key.startsWith(prefix) || out.length >= limit) break;
      out.push(this.itemOf(key, id));
    }
    return out;
  }

  // ---- snapshots ------------------------------------------------------------------

  snapshot(): Uint8Array {
    const next = this.snapshotIncrementally();
    for (;;) {
      const done = next();
      if (done !== null) return done;
    }
  }

  /**
   * The snapshot of the state as it is now, serialized a chunk of records per
   * call, so a large store never blocks the event loop for long: the keys are
   * a copy-on-write clone of the tree (O(1) to take; the live tree copies the
   * nodes it changes), the rest is copied at once. Returns null until the last
   * call, which returns the whole snapshot.
   */
  snapshotIncrementally(): () => Uint8Array | null {
    const head: SnapHead = { v: 3, now: this.now, lastSweep: this.lastSweep, revision: this.revisionValue, sessions: [] };
    if (this.canary !== 'forget-sessions-in-snapshot') for (const [id, s] of this.sessions) head.sessions.push([id, s.seq, s.result, s.lastSeen]);
    if (this.alarmSet.size > 0) head.alarms = this.alarms();
    if (!this.authState.empty) head.auth = this.authState.snapshot();
    if (this.leaseTable.size > 0) head.leases = this.leaseTable.snapshot();
    // Chunks are copied into one buffer as they are made, sized from the bytes the store
    // holds: joining them at the end would be one more copy of the whole snapshot in one turn.
    const out = new SnapshotBuffer(encode(head), this.bytes + this.data.size * RECORD_OVERHEAD_BYTES);
    const cursor = new StoreCursor(this.store, this.data.clone().entries());
    let done = false;
    return () => {
      if (!done) done = out.appendFrom(cursor, SNAPSHOT_CHUNK_RECORDS) < SNAPSHOT_CHUNK_RECORDS;
      if (!done) return null;
      cursor.close();
      return out.bytes();
    };
  }

  restore(data: Uint8Array, meta: ApplyMeta): void {
    const step = this.restoreIncrementally(data, meta);
    while (!step());
  }

  /**
   * Replaces the whole state by a snapshot's, a block of records per call, so
   * that installing a large snapshot never blocks the event loop for long; the
   * call that returns true completes it. The records go into a new store, tree
   * and index that nothing reads until that last call swaps them in with the
   * rest of the state: until then the state machine is the one it was (reads
   * see it whole), and must be given nothing to apply.
   */
  restoreIncrementally(data: Uint8Array, meta: ApplyMeta): () => boolean {
    const [snap, ...chunks] = decodeAll(data) as [SnapHead, ...(SnapRecord[] | Uint8Array)[]];
    if (snap.v !== 1 && snap.v !== 2 && snap.v !== 3) throw new Error(`unsupported KV snapshot version ${String(snap.v)}`);
    const blocks = snap.v === 1 ? [snap.data ?? []] : chunks;
    // A new store: a snapshot still being written from the old one keeps reading it.
    const store = new RecordStore();
    const tree = newTree();
    const index = new KeyIndex();
    const leased: [number, string][] = [];
    let bytes = 0;
    const added = (k: string, id: number): void => {
      tree.set(k, id);
      index.set(k, id);
      const lease = store.lease(id);
      if (lease !== undefined) leased.push([lease, k]);
      bytes += this.recordBytesOf(k, id, store);
    };
    let next = 0;
    let done = false;
    return () => {
      if (done) return true;
      // Version 3 blocks hold SNAPSHOT_CHUNK_RECORDS records each; older versions' come as they are.
      const block = blocks[next++];
      if (block instanceof Uint8Array) {
        if (snap.v !== 3) throw new Error(`KV snapshot version ${snap.v} holds a block of bytes where records were expected`);
        readRecordBytes(block, (k, b, at, len, createRevision, modRevision, lease) => added(k, store.addBytes(b, at, len, createRevision, modRevision, lease)));
      } else if (block !== undefined) {
        for (const [k, value, createRevision, modRevision, lease] of block) added(k, store.add(value, Buffer.byteLength(value, 'utf8'), createRevision, modRevision, lease));
      }
      if (next < blocks.length) return false;
      done = true;
      this.data = tree;
      this.index = index;
      this.store = store;
      this.bytes = bytes;
      this.leaseTable.restore(snap.leases);
      for (const [lease, k] of leased) this.leaseTable.get(lease)?.keys.add(k);
      // A snapshot of a version without alarms has none.
      this.alarmSet = new Map((snap.alarms ?? []).map((a) => [a.alarm, a]));
      this.sessions = new Map(snap.sessions.map(([id, seq, result, lastSeen]) => [id, { seq, result, lastSeen }]));
      this.authState = AuthState.fromSnapshot(snap.auth);
      this.now = snap.now;
      this.lastSweep = snap.lastSweep;
      this.revisionValue = meta.index;
      // Watchers cannot be told what happened between their revision and the snapshot's.
      this.changes?.reset(meta.index);
      return true;
    };
  }
}

/**
 * The snapshot's records: a clone of the key tree, read from the store, which
 * it pins (records released meanwhile are kept) until {@link close}.
 */
class StoreCursor extends RecordCursor {
  private id = 0;
  private readonly unpin: () => void;

  constructor(
    private readonly store: RecordStore,
    private readonly entries: IterableIterator<[string, number]>,
  ) {
    super();
    this.unpin = store.pin();
  }

  advance(): boolean {
    const r = this.entries.next();
    if (r.done === true) return false;
    [this.key, this.id] = r.value;
    this.valueBytes = this.store.valueBytes(this.id);
    this.create = this.store.createRevision(this.id);
    this.mod = this.store.modRevision(this.id);
    this.lease = this.store.lease(this.id) ?? 0;
    return true;
  }

  copyValue(target: Buffer, at: number): number {
    return this.store.copyValue(this.id, target, at);
  }

  close(): void {
    this.unpin();
  }
}
