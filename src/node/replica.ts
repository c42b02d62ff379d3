import type { CanaryName } from '../util/canary.js';
import type { Clock, Timer } from '../util/clock.js';
import { SeededRandom, entropySeed, type Random } from '../util/random.js';
import { EntryType, type Entry } from '../core/types.js';
import { NodeStoppedError, NotLeaderError, ProposalUnknownError } from './errors.js';
import type { RaftNode } from './raft-node.js';

/**
 * How a read is served: `linearizable` confirms leadership with a heartbeat
 * round (ReadIndex); `lease` lets a leader whose lease holds skip the round
 * (falling back to ReadIndex otherwise, or where lease reads are off);
 * `stale` reads this replica's state as it is.
 */
export type ReadConsistency = 'linearizable' | 'lease' | 'stale';

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
  /**
   * Optional: the snapshot of the state as it is now, serialized a bounded
   * piece per call of the returned function (null until the last call, which
   * returns what {@link snapshot} would have). The state keeps changing between
   * calls; the snapshot stays that of the moment this was called. With it, the
   * replica takes snapshots a piece per turn of the clock instead of in one
   * blocking call (a large state took hundreds of milliseconds).
   */
  snapshotIncrementally?(): () => Uint8Array | null;
  /**
   * Optional: {@link restore} a bounded piece per call of the returned
   * function, which returns true once the state is the snapshot's. Until then
   * the state must stay the one it was (reads go on seeing it); the replica
   * applies nothing meanwhile. With it, a follower installs a large snapshot a
   * piece per turn of the clock (a million keys took over a second in one call).
   */
  restoreIncrementally?(data: Uint8Array, meta: ApplyMeta): () => boolean;
}

/** Options of a {@link Replica}. */
export interface ReplicaOptions {
  readonly clock: Clock;
  /**
   * Take a snapshot (and let Raft drop the log behind it) once the Raft state
   * reaches this many bytes; -1 (the default) never does.
   */
  readonly maxRaftState?: number;
  /**
   * Spreads snapshots: each one is taken at `maxRaftState` times a factor drawn
   * in [1 - j, 1 + j) (from `random`). Nodes that receive the same log otherwise
   * reach the threshold together, and a leader cannot commit while both its
   * followers are busy writing snapshots. Default 0 (exactly `maxRaftState`).
   */
  readonly snapshotJitter?: number;
  /** Measures the Raft state; by default, the bytes of the entries applied since the last snapshot. */
  readonly raftStateSize?: () => number;
  /** How long a proposal may wait to be applied before its outcome is reported unknown (ms). Default 5000. */
  readonly proposeTimeoutMs?: number;
  /** Told of every snapshot: taken here by size, or installed from the leader. */
  readonly onSnapshot?: (kind: 'taken' | 'installed', index: number, bytes: number) => void;
  /** Draws this run's instance id (see the envelope below). Default: fresh entropy. */
  readonly random?: Random;
  /** Sees every proposal's outcome and how long it took (ms), for metrics. */
  readonly onProposal?: (outcome: 'applied' | 'unknown' | 'not-leader' | 'stopped', ms: number) => void;
  /** A planted bug, for the simulator to prove its checks (see util/canary.ts). Never set otherwise. */
  readonly canary?: CanaryName | undefined;
}

interface Waiter<R> {
  /** The term the proposal was made (or forwarded) in. */
  readonly term: number;
  /** Where the leader put it, when this node is that leader; unknown when forwarded. */
  readonly index: number | undefined;
  resolve(v: { result: R; index: number }): void;
  reject(err: Error): void;
  readonly timer: Timer;
}

/** Items the apply loop takes before it lets the event loop turn (about a millisecond of applies). */
const APPLIES_PER_TURN = 1024;

/**
 * Every command a Replica proposes is wrapped as
 * `[1][origin u32][instance u32][seq f64][command]`, so the process that
 * proposed it (leader, or follower that forwarded it) knows its own entry
 * when it applies, whoever appended it. `instance` tells runs of the same
 * node apart: an entry proposed before a restart may commit after it, and
 * must not be taken for the new run's proposal with the same sequence number.
 */
const ENVELOPE = 1;
const ENVELOPE_BYTES = 17;

function wrap(origin: number, instance: number, seq: number, command: Uint8Array): Uint8Array {
  const out = new Uint8Array(ENVELOPE_BYTES + command.length);
  const dv = new DataView(out.buffer);
  out[0] = ENVELOPE;
  dv.setUint32(1, origin, true);
  dv.setUint32(5, instance, true);
  dv.setFloat64(9, seq, true);
  out.set(command, ENVELOPE_BYTES);
  return out;
}

/** The command inside a Normal entry's data as the state machine sees it: the envelope removed, if there is one. */
export function commandOf(data: Uint8Array): Uint8Array {
  return unwrap(data)?.command ?? data;
}

function unwrap(data: Uint8Array): { origin: number; instance: number; seq: number; command: Uint8Array } | null {
  if (data.length < ENVELOPE_BYTES || data[0] !== ENVELOPE) return null;
  const dv = new DataView(data.buffer, data.byteOffset, ENVELOPE_BYTES);
  return { origin: dv.getUint32(1, true), instance: dv.getUint32(5, true), seq: dv.getFloat64(9, true), command: data.subarray(ENVELOPE_BYTES) };
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
  /** A snapshot being serialized piece by piece, if any; dropped when a snapshot is installed meanwhile. */
  private snapshotJob: { readonly index: number; readonly next: () => Uint8Array | null } | null = null;
  /** Proposals waiting for their entry, by proposal sequence number. */
  private readonly waiters = new Map<number, Waiter<R>>();
  /** On the leader: which proposal sits at which index, to notice when another entry replaces it. */
  private readonly atIndex = new Map<number, number>();
  private proposalSeq = 0;
  /** Tells this run's proposals from those of earlier runs of the same node. */
  private readonly instance: number;
  /** Canary 'double-apply-after-snapshot': the last entries applied. */
  private readonly recent: Entry[] = [];
  private appliedWaiters: { index: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private stopped = false;
  private readonly maxRaftState: number;
  /** The threshold of the next snapshot: `maxRaftState`, jittered (see {@link ReplicaOptions.snapshotJitter}). */
  private snapshotAt: number;
  private readonly random: Random;
  private readonly proposeTimeoutMs: number;

  constructor(
    readonly node: RaftNode,
    readonly sm: StateMachine<R>,
    private readonly opts: ReplicaOptions,
  ) {
    this.maxRaftState = opts.maxRaftState ?? -1;
    this.proposeTimeoutMs = opts.proposeTimeoutMs ?? 5000;
    this.random = opts.random ?? new SeededRandom(entropySeed());
    this.instance = this.random.int(0x1_0000_0000);
    this.snapshotAt = this.nextSnapshotAt();
    // A proposal of an earlier term may or may not commit now: tell its client at once.
    node.onRoleChange(({ term }) => {
      for (const [seq, w] of this.waiters) {
        if (w.term < term) this.fail(seq, new ProposalUnknownError(`leadership changed (now term ${term}) before the proposal was applied`));
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
   * it. On a follower the command is forwarded to the leader. Rejects with
   * {@link NotLeaderError} at once if no leader is known, and with
   * {@link ProposalUnknownError} if the entry may or may not have committed
   * (leadership changed, or it timed out): retry it with the same session
   * ids, and it applies at most once.
   */
  propose(command: Uint8Array): Promise<{ result: R; index: number }> {
    const hook = this.opts.onProposal;
    if (hook === undefined) return this.proposeInner(command);
    const t0 = this.opts.clock.now();
    const p = this.proposeInner(command);
    p.then(
      () => hook('applied', this.opts.clock.now() - t0),
      (e: unknown) => hook(e instanceof NotLeaderError ? 'not-leader' : e instanceof NodeStoppedError ? 'stopped' : 'unknown', this.opts.clock.now() - t0),
    );
    return p;
  }

  private proposeInner(command: Uint8Array): Promise<{ result: R; index: number }> {
    if (this.stopped) return Promise.reject(new NodeStoppedError('the replica is stopped'));
    const seq = ++this.proposalSeq;
    const data = wrap(this.node.id, this.instance, seq, command);
    let term: number;
    let index: number | undefined;
    if (this.node.isLeader()) {
      const r = this.node.propose(data);
      // A leader that is handing leadership over takes no proposals: the caller retries elsewhere.
      if (r === null) return Promise.reject(new NotLeaderError(null, 'the leader is transferring leadership and takes no proposals'));
      term = r.term;
      index = r.index;
      this.atIndex.set(r.index, seq);
    } else {
      if (this.node.forward(data) === null) return Promise.reject(new NotLeaderError(this.node.status().leader));
      term = this.node.term;
    }
    return new Promise((resolve, reject) => {
      const timer = this.opts.clock.setTimer(this.proposeTimeoutMs, () => {
        this.fail(seq, new ProposalUnknownError(`the proposal was not applied within ${this.proposeTimeoutMs} ms`));
      });
      this.waiters.set(seq, { term, index, resolve, reject, timer });
    });
  }

  private fail(seq: number, err: Error): void {
    const w = this.waiters.get(seq);
    if (w === undefined) return;
    this.waiters.delete(seq);
    if (w.index !== undefined) this.atIndex.delete(w.index);
    w.timer.cancel();
    w.reject(err);
  }

  /**
   * Runs `fn` against the state machine once it reflects every write
   * committed before the call (ReadIndex; with `lease`, a leader's lease
   * spares the heartbeat round when it holds), or at once with `stale`.
   */
  async read<T>(fn: () => T, consistency: ReadConsistency = 'linearizable'): Promise<T> {
    if (this.stopped) throw new NodeStoppedError('the replica is stopped');
    if (consistency !== 'stale' && this.opts.canary !== 'read-without-readindex') {
      const index = await this.node.readIndex({ lease: consistency === 'lease' });
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
    for (const seq of [...this.waiters.keys()]) this.fail(seq, err);
    for (const w of this.appliedWaiters.splice(0)) w.reject(err);
  }

  private async applyLoop(): Promise<void> {
    // Applies since the event loop last turned: a timer set at the first one resets the count.
    let sinceTurn = 0;
    const turned = (): void => {
      sinceTurn = 0;
    };
    for (;;) {
      const items = await this.node.nextApplyBatch();
      if (items === null || this.stopped) {
        this.stop();
        return;
      }
      for (const item of items) {
        // A backlog (a follower catching up on the log after a snapshot) comes batch after
        // batch without the event loop turning in between: 60,000 entries held it for 146 ms.
        if (sinceTurn === 0) this.opts.clock.setTimer(0, turned);
        if (++sinceTurn > APPLIES_PER_TURN) {
          await this.nextTurn();
          if (this.stopped) return;
        }
        if (item.kind === 'snapshot') {
          const { meta, data } = item.snapshot;
          // A snapshot still being written describes a state the leader's replaces.
          this.snapshotJob = null;
          if (!(await this.install(data, meta))) {
            this.stop();
            return;
          }
          if (this.opts.canary === 'double-apply-after-snapshot') for (const e of this.recent) this.sm.apply(unwrap(e.data)?.command ?? e.data, { index: e.index, term: e.term });
          this.advanceTo(meta.index, meta.term, true);
          this.opts.onSnapshot?.('installed', meta.index, data.length);
          this.snapshotIndex = meta.index;
          this.bytesSinceSnapshot = 0;
          continue;
        }
        const e = item.entry;
        this.bytesSinceSnapshot += e.data.length + 16;
        if (this.opts.canary === 'double-apply-after-snapshot' && e.type === EntryType.Normal) {
          this.recent.push(e);
          if (this.recent.length > 8) this.recent.shift();
        }
        const env = e.type === EntryType.Normal ? unwrap(e.data) : null;
        const result = e.type === EntryType.Normal ? this.sm.apply(env?.command ?? e.data, { index: e.index, term: e.term }) : undefined;
        const mine = env !== null && env.origin === this.node.id && env.instance === this.instance ? env.seq : undefined;
        // A proposal this node put at this index, replaced by another entry: leadership changed.
        const placed = this.atIndex.get(e.index);
        if (placed !== undefined && placed !== mine) this.fail(placed, new ProposalUnknownError(`another entry was committed at index ${e.index}: leadership changed`));
        if (mine !== undefined) {
          const w = this.waiters.get(mine);
          if (w !== undefined) {
            this.waiters.delete(mine);
            if (w.index !== undefined) this.atIndex.delete(w.index);
            w.timer.cancel();
            w.resolve({ result: result as R, index: e.index });
          }
        }
        this.advanceTo(e.index, e.term);
      }
      this.maybeSnapshot();
    }
  }

  /** Restores the state machine from a leader's snapshot, a piece per turn of the clock where it can; false if the replica stopped meanwhile. */
  private async install(data: Uint8Array, meta: ApplyMeta): Promise<boolean> {
    if (this.sm.restoreIncrementally === undefined) {
      this.sm.restore(data, meta);
      return true;
    }
    const step = this.sm.restoreIncrementally(data, meta);
    while (!step()) {
      await this.nextTurn();
      if (this.stopped) return false;
    }
    return true;
  }

  /** Resolves on the clock's next turn: timers and I/O run before the caller goes on. */
  private nextTurn(): Promise<void> {
    return new Promise((resolve) => this.opts.clock.setTimer(0, resolve));
  }

  private advanceTo(index: number, term: number, snapshot = false): void {
    this.appliedIndex = index;
    this.appliedTerm = term;
    // Proposals a snapshot from the leader may cover: whether they made it cannot be told here.
    if (snapshot) {
      for (const [seq, w] of this.waiters) {
        if (w.index === undefined || w.index <= index) this.fail(seq, new ProposalUnknownError('a snapshot from the leader replaced the log before the proposal was applied'));
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
    if (this.maxRaftState < 0 || this.appliedIndex <= this.snapshotIndex || this.snapshotJob !== null) return;
    const size = this.opts.raftStateSize?.() ?? this.bytesSinceSnapshot;
    if (size < this.snapshotAt) return;
    this.bytesSinceSnapshot = 0;
    this.snapshotAt = this.nextSnapshotAt();
    if (this.sm.snapshotIncrementally === undefined) {
      this.compactTo(this.appliedIndex, this.sm.snapshot());
      return;
    }
    const job = { index: this.appliedIndex, next: this.sm.snapshotIncrementally() };
    this.snapshotJob = job;
    this.pumpSnapshot(job);
  }

  private nextSnapshotAt(): number {
    const j = this.opts.snapshotJitter ?? 0;
    // No draw without jitter: a replica's random sequence (and the simulator's runs) stay as they were.
    return j === 0 ? this.maxRaftState : Math.round(this.maxRaftState * (1 - j + 2 * j * this.random.float()));
  }

  /** One piece of the snapshot being written; the next piece after the clock's next turn, so applies and I/O go on between. */
  private pumpSnapshot(job: NonNullable<Replica<R>['snapshotJob']>): void {
    if (this.snapshotJob !== job || this.stopped) return;
    const data = job.next();
    if (data === null) {
      this.opts.clock.setTimer(0, () => this.pumpSnapshot(job));
      return;
    }
    this.snapshotJob = null;
    // Meanwhile a snapshot from the leader may have covered this index (then the job was dropped above).
    if (job.index > this.snapshotIndex) this.compactTo(job.index, data);
  }

  private compactTo(index: number, data: Uint8Array): void {
    this.node.compact(index, data);
    this.snapshotIndex = index;
    this.opts.onSnapshot?.('taken', index, data.length);
  }

  /** The term of the last applied entry. */
  get lastAppliedTerm(): number {
    return this.appliedTerm;
  }
}
