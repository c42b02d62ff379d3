import type { Clock, Timer } from '../util/clock.js';
import { EntryType } from '../core/types.js';
import { NodeStoppedError, NotLeaderError, ProposalUnknownError } from './errors.js';
import type { RaftNode } from './raft-node.js';

/** Where an applied command sits in the log. */
export interface ApplyMeta {
  readonly index: number;
  readonly term: number;
}

/**
 * The contract a replicated service implements: a deterministic state
 * machine. Every replica applies the same commands in the same order, so
 * every replica must compute the same state and the same results from them:
 * no clocks, no randomness, no I/O inside `apply`.
 */
export interface StateMachine<R = unknown> {
  /** Applies one committed command and returns its result (for the client that proposed it). */
  apply(command: Uint8Array, meta: ApplyMeta): R;
  /** The whole state, serialized: everything applied so far. */
  snapshot(): Uint8Array;
  /** Replaces the whole state by a snapshot's (taken at `meta.index`). */
  restore(data: Uint8Array, meta: ApplyMeta): void;
}

/** Options of a {@link Replica}. */
export interface ReplicaOptions {
  readonly clock: Clock;
  /**
   * Take a snapshot (and let Raft drop the log behind it) once the Raft state
   * reaches this many bytes; -1 (the default) never does.
   */
  readonly maxRaftState?: number;
  /** Measures the Raft state; by default, the bytes of the entries applied since the last snapshot. */
  readonly raftStateSize?: () => number;
  /** How long a proposal may wait to be applied before its outcome is reported unknown (ms). Default 5000. */
  readonly proposeTimeoutMs?: number;
}

interface Waiter<R> {
  readonly term: number;
  resolve(v: { result: R; index: number }): void;
  reject(err: Error): void;
  readonly timer: Timer;
}

/**
 * A {@link StateMachine} replicated by a {@link RaftNode}: drives the apply
 * loop, hands each proposer the result of its own command, serves
 * linearizable reads by ReadIndex, and snapshots by size.
 */
export class Replica<R> {
  private appliedIndex = 0;
  private appliedTerm = 0;
  private snapshotIndex = 0;
  private bytesSinceSnapshot = 0;
  private readonly waiters = new Map<number, Waiter<R>>();
  private appliedWaiters: { index: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private stopped = false;
  private readonly maxRaftState: number;
  private readonly proposeTimeoutMs: number;

  constructor(
    readonly node: RaftNode,
    readonly sm: StateMachine<R>,
    private readonly opts: ReplicaOptions,
  ) {
    this.maxRaftState = opts.maxRaftState ?? -1;
    this.proposeTimeoutMs = opts.proposeTimeoutMs ?? 5000;
    // A proposal of an earlier term may or may not commit now: tell its client at once.
    node.onRoleChange(({ term }) => {
      for (const [i, w] of this.waiters) {
        if (w.term < term) {
          this.waiters.delete(i);
          w.timer.cancel();
          w.reject(new ProposalUnknownError(`leadership changed (now term ${term}) before entry ${i} was applied`));
        }
      }
    });
  }

  /** The index of the last command the state machine has applied (or its snapshot covers). */
  get applied(): number {
    return this.appliedIndex;
  }

  /**
   * Restores the state machine from the snapshot storage recovered (if any)
   * and starts applying. Call once, before proposing or reading.
   */
  start(initialSnapshot: { meta: ApplyMeta; data: Uint8Array } | null): void {
    if (initialSnapshot !== null) {
      this.sm.restore(initialSnapshot.data, initialSnapshot.meta);
      this.appliedIndex = initialSnapshot.meta.index;
      this.appliedTerm = initialSnapshot.meta.term;
      this.snapshotIndex = initialSnapshot.meta.index;
    }
    void this.applyLoop();
  }

  /**
   * Proposes a command and resolves with its result once this replica applied
   * it. Rejects with {@link NotLeaderError} at once if this node is not the
   * leader, and with {@link ProposalUnknownError} if the entry may or may not
   * have committed (leadership changed, or it timed out): retry it with the
   * same session ids, and it applies at most once.
   */
  propose(command: Uint8Array): Promise<{ result: R; index: number }> {
    if (this.stopped) return Promise.reject(new NodeStoppedError('the replica is stopped'));
    const r = this.node.propose(command);
    if (r === null) return Promise.reject(new NotLeaderError(this.node.status().leader));
    return new Promise((resolve, reject) => {
      const timer = this.opts.clock.setTimer(this.proposeTimeoutMs, () => {
        if (this.waiters.get(r.index) === w) {
          this.waiters.delete(r.index);
          reject(new ProposalUnknownError(`entry ${r.index} was not applied within ${this.proposeTimeoutMs} ms`));
        }
      });
      const w: Waiter<R> = { term: r.term, resolve, reject, timer };
      this.waiters.set(r.index, w);
    });
  }

  /**
   * Runs `fn` against the state machine once it reflects every write
   * committed before the call (ReadIndex), or at once with `stale`.
   */
  async read<T>(fn: () => T, consistency: 'linearizable' | 'stale' = 'linearizable'): Promise<T> {
    if (this.stopped) throw new NodeStoppedError('the replica is stopped');
    if (consistency === 'linearizable') {
      const index = await this.node.readIndex();
      await this.waitApplied(index);
    }
    return fn();
  }

  /** Resolves once the state machine has applied `index`. */
  waitApplied(index: number): Promise<void> {
    if (this.appliedIndex >= index) return Promise.resolve();
    if (this.stopped) return Promise.reject(new NodeStoppedError('the replica is stopped'));
    return new Promise((resolve, reject) => this.appliedWaiters.push({ index, resolve, reject }));
  }

  /** Stops the apply loop; pending proposals and reads fail with {@link NodeStoppedError}. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const err = new NodeStoppedError('the replica stopped');
    for (const w of this.waiters.values()) {
      w.timer.cancel();
      w.reject(err);
    }
    this.waiters.clear();
    for (const w of this.appliedWaiters.splice(0)) w.reject(err);
  }

  private async applyLoop(): Promise<void> {
    for (;;) {
      const items = await this.node.nextApplyBatch();
      if (items === null || this.stopped) {
        this.stop();
        return;
      }
      for (const item of items) {
        if (item.kind === 'snapshot') {
          const { meta, data } = item.snapshot;
          this.sm.restore(data, meta);
          this.advanceTo(meta.index, meta.term);
          this.snapshotIndex = meta.index;
          this.bytesSinceSnapshot = 0;
          continue;
        }
        const e = item.entry;
        this.bytesSinceSnapshot += e.data.length + 16;
        const result = e.type === EntryType.Normal ? this.sm.apply(e.data, { index: e.index, term: e.term }) : undefined;
        const w = this.waiters.get(e.index);
        if (w !== undefined) {
          this.waiters.delete(e.index);
          w.timer.cancel();
          if (w.term === e.term && e.type === EntryType.Normal) w.resolve({ result: result as R, index: e.index });
          else w.reject(new ProposalUnknownError(`another entry was committed at index ${e.index}: leadership changed`));
        }
        this.advanceTo(e.index, e.term);
      }
      this.maybeSnapshot();
    }
  }

  private advanceTo(index: number, term: number): void {
    this.appliedIndex = index;
    this.appliedTerm = term;
    // Proposals at or below an installed snapshot: whether they made it cannot be told here.
    for (const [i, w] of this.waiters) {
      if (i <= index) {
        this.waiters.delete(i);
        w.timer.cancel();
        w.reject(new ProposalUnknownError(`entry ${i} is covered by a snapshot from the leader`));
      }
    }
    if (this.appliedWaiters.length > 0) {
      const still: typeof this.appliedWaiters = [];
      for (const w of this.appliedWaiters) {
        if (w.index <= index) w.resolve();
        else still.push(w);
      }
      this.appliedWaiters = still;
    }
  }

  private maybeSnapshot(): void {
    if (this.maxRaftState < 0 || this.appliedIndex <= this.snapshotIndex) return;
    const size = this.opts.raftStateSize?.() ?? this.bytesSinceSnapshot;
    if (size < this.maxRaftState) return;
    this.node.compact(this.appliedIndex, this.sm.snapshot());
    this.snapshotIndex = this.appliedIndex;
    this.bytesSinceSnapshot = 0;
  }

  /** The term of the last applied entry. */
  get lastAppliedTerm(): number {
    return this.appliedTerm;
  }
}
