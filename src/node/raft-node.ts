import { effectiveReadTimeoutMs, type NodeOptions, type RaftObserver } from '../core/config.js';
import { Raft, type Ready } from '../core/raft.js';
import { ConfChangeError } from '../core/membership.js';
import { EntryType, MessageType, isRequest, type ConfChange, type ConfState, type Entry, type HardState, type Message, type NodeId, type Role, type Snapshot, type SnapshotBytes, type SnapshotMeta } from '../core/types.js';
import type { LogStorage, StorageState } from '../storage/types.js';
import type { Clock, Timer } from '../util/clock.js';
import type { Random } from '../util/random.js';
import type { CanaryName } from '../util/canary.js';
import { NotLeaderError, ReadIndexError } from './errors.js';

/**
 * Carries messages to peers. It may drop or reorder them (Raft copes) but
 * must never block the caller.
 */
export interface Transport {
  send(m: Message): void;
}

/** What the apply path hands to the state machine, in log order. */
export type ApplyItem = { readonly kind: 'entry'; readonly entry: Entry } | { readonly kind: 'snapshot'; readonly snapshot: Snapshot };

/** Timing knobs of a {@link RaftNode} (see {@link NodeOptions}). */
export type RaftNodeTiming = Pick<NodeOptions, 'tickMs' | 'electionTicks' | 'heartbeatTicks'>;

/**
 * What a {@link RaftNode} is made of. Every option of {@link NodeOptions} is
 * required: take them from a profile with `resolveNodeOptions` (src/core/config.ts),
 * or let `startNode` (./builder.ts) do it.
 */
export interface RaftNodeOptions extends NodeOptions {
  readonly id: NodeId;
  readonly voters: readonly NodeId[];
  readonly storage: LogStorage;
  /** What the storage held at start ({@link LogStorage.load}). */
  readonly initialState: StorageState;
  readonly clock: Clock;
  readonly random: Random;
  readonly transport: Transport;
  /** Synchronous callbacks for tests and metrics; must not call back into the node. */
  readonly observer?: RaftObserver | undefined;
  /** Called once if the node hits an error it cannot continue from (storage failure, broken invariant). */
  readonly onFatal?: ((err: unknown) => void) | undefined;
  /** A planted bug, for the simulator to prove its checks (see util/canary.ts). Never set otherwise. */
  readonly canary?: CanaryName | undefined;
}

/** A node's externally visible state. */
export interface NodeStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly leader: NodeId | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
}

/**
 * Drives a {@link Raft} core with real parts: a clock for ticks, a
 * {@link LogStorage}, a {@link Transport}, and an apply queue the state
 * machine drains. Its loop is the one the core's contract asks for: take a
 * Ready, persist it, then send, then advance; one Ready at a time, so nothing
 * leaves before the state it promises is durable. Committed entries are handed
 * out while the write is in flight: a quorum holds them already. A leader's
 * Ready that promises nothing does not wait for its write (at most
 * {@link MAX_WRITES_IN_FLIGHT} in flight; the core hears of them through
 * `Raft.persisted`).
 */
export class RaftNode {
  readonly id: NodeId;
  private readonly core: Raft;
  private readonly storage: LogStorage;
  private readonly clock: Clock;
  private readonly transport: Transport;
  private readonly tickMs: number;
  private readonly applyCapacity: number;
  private readonly onFatal: ((err: unknown) => void) | undefined;
  private readonly canary: CanaryName | undefined;

  private ticker: Timer | null = null;
  /**
   * With lease reads: ticks the core has had since `baseAt` (local clock). The k-th tick after
   * the base never comes before k tick lengths after it (core/lease.ts relies on it).
   */
  private readonly leaseTicking: { baseAt: number; done: number } | null;
  private scheduled = false;
  private busy = false;
  private stoppedFlag = false;
  private fatalError: unknown = undefined;
  /** Responses that RPC callers wait for, keyed by the message object the core produced. */
  private readonly pendingReplies = new Map<Message, (m: Message | null) => void>();
  private readonly applyQueue: ApplyItem[] = [];
  /** The last hard state handed to storage. */
  private writtenHardState: HardState;
  private readonly roleListeners: ((info: { role: Role; term: number; leader: NodeId | null }) => void)[] = [];
  private readonly confListeners: ((conf: ConfState) => void)[] = [];
  private readonly readTimeoutMs: number;
  private readCtx = 0;
  private readonly pendingReads = new Map<number, { resolve: (index: number) => void; reject: (err: Error) => void; timer: Timer }>();
  private applyWaiter: ((items: ApplyItem[] | null) => void) | null = null;
  /** A leader's writes issued without holding up the next Ready (at most {@link MAX_WRITES_IN_FLIGHT}). */
  private writesInFlight = 0;
  /** A compaction asked for while a Ready was in flight: made after its advance(). */
  private pendingCompaction: { readonly index: number; readonly data: Uint8Array } | null = null;
  /** The stored snapshot the core reads its latest snapshot from, if any (see {@link readSnapshotFromStorage}). */
  private snapshotReader: (SnapshotBytes & { close(): void }) | null = null;

  constructor(opts: RaftNodeOptions) {
    this.id = opts.id;
    this.storage = opts.storage;
    this.clock = opts.clock;
    this.transport = opts.transport;
    this.tickMs = opts.tickMs;
    this.applyCapacity = opts.applyBuffer;
    this.onFatal = opts.onFatal;
    this.canary = opts.canary;
    this.readTimeoutMs = effectiveReadTimeoutMs(opts);
    this.leaseTicking = opts.leaseReads ? { baseAt: opts.clock.now(), done: 0 } : null;
    this.writtenHardState = opts.initialState.hardState;
    this.core = new Raft(
      {
        id: opts.id,
        voters: opts.voters,
        electionTicks: opts.electionTicks,
        heartbeatTicks: opts.heartbeatTicks,
        random: opts.random,
        maxInflight: opts.maxInflight,
        maxEntriesPerAppend: opts.maxEntriesPerAppend,
        maxBytesPerAppend: opts.maxBytesPerAppend,
        maxSnapshotChunkBytes: opts.maxSnapshotChunkBytes,
        noopOnElection: opts.noopOnElection,
        preVote: opts.preVote,
        checkQuorum: opts.checkQuorum,
        maxLearnerLag: opts.maxLearnerLag,
        leaseReads: opts.leaseReads,
        maxClockDriftPpm: opts.maxClockDriftPpm,
        canary: opts.canary,
        observer: {
          onRoleChange: (info) => {
            opts.observer?.onRoleChange?.(info);
            for (const l of this.roleListeners) l(info);
          },
          onFollowerLostEntries: (info) => opts.observer?.onFollowerLostEntries?.(info),
        },
      },
      opts.initialState,
    );
    if (opts.initialState.snapshot !== null) this.readSnapshotFromStorage(opts.initialState.snapshot.meta);
    this.armTicker();
    // Entries committed before a restart are applied without waiting for a leader.
    this.schedule();
  }

  // ---- inputs ------------------------------------------------------------

  /** Delivers a message from a peer (a request or a response). */
  step(m: Message): void {
    if (this.stoppedFlag) return;
    this.guard(() => this.core.step(m));
    this.schedule();
  }

  /**
   * Delivers a request and resolves with its response once it may leave
   * (after the state it promises is durable), or null if the node stopped or
   * had nothing to answer. For RPC-style transports.
   */
  handleRequest(m: Message): Promise<Message | null> {
    if (this.stoppedFlag || !isRequest(m)) return Promise.resolve(null);
    const resp = this.guard(() => this.core.step(m));
    if (resp === undefined) return Promise.resolve(null);
    this.schedule();
    return new Promise((resolve) => this.pendingReplies.set(resp, resolve));
  }

  /** Proposes a command; null unless this node is the leader. */
  propose(data: Uint8Array): { index: number; term: number } | null {
    if (this.stoppedFlag) return null;
    const r = this.guard(() => this.core.propose(data, EntryType.Normal));
    if (r !== null) this.schedule();
    return r ?? null;
  }

  /**
   * On a follower: sends `data` to the leader to append. Returns the leader's
   * id, or null if none is known (or this node is the leader: propose instead).
   */
  forward(data: Uint8Array): number | null {
    if (this.stoppedFlag) return null;
    const to = this.guard(() => this.core.forward(data)) ?? null;
    if (to !== null) this.schedule();
    return to;
  }

  /** The state machine's snapshot covering entries up to `index`: the log behind it is discarded. */
  compact(index: number, data: Uint8Array): void {
    if (this.stoppedFlag) return;
    // The Ready in flight handed out entries the core counts as applied only at advance().
    if (this.busy) {
      this.pendingCompaction = { index, data };
      return;
    }
    this.guard(() => this.core.compact(index, data));
    this.schedule();
  }

  /**
   * A linearizable read index (dissertation §6.4): resolves with an index
   * such that a state machine that has applied it reflects every write
   * committed before this call. On a follower the leader is asked. Rejects
   * with {@link NotLeaderError} if no leader is known, and with
   * {@link ReadIndexError} if leadership is lost or the timeout passes; never hangs.
   */
  readIndex(opts: { lease?: boolean } = {}): Promise<number> {
    if (this.stoppedFlag) return Promise.reject(new ReadIndexError(`node ${this.id} is stopped`));
    const ctx = ++this.readCtx;
    const lease = opts.lease === true && this.leaseTicking !== null;
    // A leader's lease is counted in its ticks: first give the core every tick its clock says is due
    // (never a follower: ticks due before a heartbeat arrived would shorten its wait to vote).
    if (lease && this.core.role === 'leader') this.guard(() => this.catchUpTicks());
    const ok = this.guard(() => this.core.readIndex(ctx, lease));
    if (!ok) return Promise.reject(new NotLeaderError(null));
    this.schedule();
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimer(this.readTimeoutMs, () => {
        if (this.pendingReads.delete(ctx)) reject(new ReadIndexError(`read index not confirmed within ${this.readTimeoutMs} ms`));
      });
      this.pendingReads.set(ctx, { resolve, reject, timer });
    });
  }

  private settleReads(rd: Ready): void {
    for (const rs of rd.readStates) {
      const p = this.pendingReads.get(rs.ctx);
      if (p === undefined) continue;
      this.pendingReads.delete(rs.ctx);
      p.timer.cancel();
      p.resolve(rs.index);
    }
    for (const ctx of rd.failedReads) {
      const p = this.pendingReads.get(ctx);
      if (p === undefined) continue;
      this.pendingReads.delete(ctx);
      p.timer.cancel();
      p.reject(new ReadIndexError('leadership was lost before the read was confirmed'));
    }
  }

  /**
   * Proposes a membership change (leader only): see {@link Raft.proposeConfChange}.
   * Throws `ConfChangeError` naming why it cannot be made now. Returns where
   * the entry was appended; it is in force at once and final once committed.
   */
  proposeConfChange(cc: ConfChange): { index: number; term: number } {
    if (this.stoppedFlag) throw new ConfChangeError(`node ${this.id} is stopped`);
    const at = this.core.proposeConfChange(cc);
    this.schedule();
    return at;
  }

  /**
   * Starts a leadership transfer to `to` (or the most up-to-date voter):
   * see {@link Raft.transferLeader}. Throws `ConfChangeError` if it cannot
   * start; returns the target. Watch {@link onRoleChange} for the outcome.
   */
  transferLeader(to: NodeId | null): NodeId {
    if (this.stoppedFlag) throw new ConfChangeError(`node ${this.id} is stopped`);
    const target = this.core.transferLeader(to);
    this.schedule();
    return target;
  }

  /** The configuration in force (the latest in this node's log). */
  get conf(): ConfState {
    return this.core.conf;
  }

  /** The configuration the latest snapshot carries (in force at its index), if there is one. */
  snapshotConf(): ConfState | undefined {
    return this.core.snapshot?.meta.conf;
  }

  /** The index of the entry that set {@link conf}: the configuration is final once the commit index reaches it. */
  get confIndex(): number {
    return this.core.confIndex;
  }

  /** On the leader: each member's replication progress (match index), for status pages and promotion. */
  progress(): Map<NodeId, { match: number; next: number; state: string }> {
    const out = new Map<NodeId, { match: number; next: number; state: string }>();
    for (const id of [...this.core.conf.voters, ...this.core.conf.outgoing, ...this.core.conf.learners]) {
      const pr = this.core.progressOf(id);
      if (pr !== undefined) out.set(id, { match: pr.match, next: pr.next, state: pr.state });
    }
    return out;
  }

  /** Calls `fn` whenever the configuration in force changes (after the Ready that reports it is persisted). */
  onConfChange(fn: (conf: ConfState) => void): () => void {
    this.confListeners.push(fn);
    return () => {
      const i = this.confListeners.indexOf(fn);
      if (i >= 0) this.confListeners.splice(i, 1);
    };
  }

  /** Calls `fn` (synchronously) whenever this node's role or term changes. Returns an unsubscribe function. */
  onRoleChange(fn: (info: { role: Role; term: number; leader: NodeId | null }) => void): () => void {
    this.roleListeners.push(fn);
    return () => {
      const i = this.roleListeners.indexOf(fn);
      if (i >= 0) this.roleListeners.splice(i, 1);
    };
  }

  // ---- queries -----------------------------------------------------------

  get stopped(): boolean {
    return this.stoppedFlag;
  }

  get term(): number {
    return this.core.term;
  }

  /** The node it voted for in the current term, if any. */
  get vote(): NodeId | null {
    return this.core.vote;
  }

  get role(): Role {
    return this.core.role;
  }

  isLeader(): boolean {
    return !this.stoppedFlag && this.core.role === 'leader';
  }

  status(): NodeStatus {
    const log = this.core.log;
    return {
      id: this.id,
      role: this.core.role,
      term: this.core.term,
      leader: this.core.leader,
      commitIndex: log.committed,
      appliedIndex: log.applied,
      lastIndex: log.lastIndex(),
      snapshotIndex: log.snapIndex,
    };
  }

  /** The term at `index` (the snapshot's own index included), if the log still holds it. */
  termAt(index: number): number | undefined {
    return this.core.log.term(index);
  }

  /** The entry at `index` if it is in the in-memory log (tests and invariant checks). */
  entryAt(index: number): Entry | undefined {
    return this.core.log.entryAt(index);
  }

  // ---- apply side ----------------------------------------------------------

  /**
   * The next item for the state machine, in log order; null once the node
   * stopped. Items are taken by a single consumer.
   */
  async nextApply(): Promise<ApplyItem | null> {
    if (this.applyQueue.length === 0) {
      const batch = await this.nextApplyBatch();
      if (batch === null) return null;
      this.applyQueue.unshift(...batch);
    }
    return this.takeApply(1)[0] ?? null;
  }

  /**
   * Every item waiting for the state machine (at least one), in log order;
   * null once the node stopped. Cheaper than {@link nextApply} under load.
   */
  nextApplyBatch(): Promise<ApplyItem[] | null> {
    if (this.stoppedFlag) return Promise.resolve(null);
    if (this.applyQueue.length > 0) return Promise.resolve(this.takeApply(this.applyQueue.length));
    return new Promise((resolve) => {
      this.applyWaiter = resolve;
    });
  }

  private takeApply(n: number): ApplyItem[] {
    const items = this.applyQueue.splice(0, n);
    // Room freed up: the core may hand out more committed entries.
    if (items.length > 0) this.schedule();
    return items;
  }

  private flushApplyWaiter(): void {
    const w = this.applyWaiter;
    if (w !== null && this.applyQueue.length > 0) {
      this.applyWaiter = null;
      w(this.takeApply(this.applyQueue.length));
    }
  }

  // ---- lifecycle ------------------------------------------------------------

  /** Stops ticking and processing; pending RPC replies resolve null. Storage stays open. */
  stop(): void {
    if (this.stoppedFlag) return;
    this.stoppedFlag = true;
    this.ticker?.cancel();
    this.ticker = null;
    for (const resolve of this.pendingReplies.values()) resolve(null);
    this.pendingReplies.clear();
    this.applyWaiter?.(null);
    this.applyWaiter = null;
    for (const p of this.pendingReads.values()) {
      p.timer.cancel();
      p.reject(new ReadIndexError(`node ${this.id} stopped`));
    }
    this.pendingReads.clear();
    this.snapshotReader?.close();
    this.snapshotReader = null;
  }

  /** Reads this node answered from its leader lease (core/lease.ts) since it started. */
  get leaseReadsServed(): number {
    return this.core.lease.served;
  }

  /**
   * Where the core reads its latest snapshot from to send it to a follower:
   * `storage` once the snapshot is durable and storage can read it back
   * ({@link LogStorage.openSnapshot}), `memory` until then; null with no snapshot.
   */
  get snapshotSource(): 'memory' | 'storage' | null {
    const s = this.core.snapshot;
    if (s === null) return null;
    return s.data === this.snapshotReader ? 'storage' : 'memory';
  }

  /** Bytes of the latest snapshot the core keeps in memory: 0 once it reads them from storage, or with no snapshot. */
  get snapshotMemoryBytes(): number {
    return this.snapshotSource === 'memory' ? this.core.snapshot!.data.length : 0;
  }

  /** The error that stopped this node, if any. */
  get failure(): unknown {
    return this.fatalError;
  }

  // ---- the Ready loop ---------------------------------------------------------

  private armTicker(): void {
    this.ticker = this.clock.setTimer(this.tickMs, () => {
      if (this.stoppedFlag) return;
      this.guard(() => this.tickOnce());
      this.schedule();
      if (!this.stoppedFlag) this.armTicker();
    });
  }

  /**
   * One tick of the timer. With lease reads, a leader catches up every tick
   * its clock says is due ({@link catchUpTicks}); anything else ticks once
   * and counts from now on, forgetting how late its timer was: a late
   * follower tick only makes it wait longer to vote, while a catch-up would
   * count ticks due before the leader's last message arrived.
   */
  private tickOnce(): void {
    const t = this.leaseTicking;
    if (t === null) return this.core.tick();
    if (this.core.role === 'leader') return this.catchUpTicks();
    this.core.tick();
    t.done = 0;
    t.baseAt = this.clock.now();
  }

  /**
   * Ticks a leader up to what its clock says is due: its timer may fire late
   * (a busy event loop, a paused process), and a lease counted in ticks that
   * did not happen would outlast its bound in real time. Stops if it steps down.
   */
  private catchUpTicks(): void {
    const t = this.leaseTicking!;
    // The epsilon keeps a timer that fires exactly on time from counting one tick short.
    const due = Math.floor((this.clock.now() - t.baseAt) / this.tickMs + 1e-9);
    while (t.done < due && this.core.role === 'leader') {
      t.done++;
      this.core.tick();
    }
  }

  private schedule(): void {
    if (this.scheduled || this.busy || this.stoppedFlag) return;
    this.scheduled = true;
    // Batch everything that happens in this turn (e.g. many proposals) into one Ready.
    queueMicrotask(() => {
      this.scheduled = false;
      void this.processReady();
    });
  }

  private applyBudget(): number {
    return Math.max(0, this.applyCapacity - this.applyQueue.length);
  }

  private async processReady(): Promise<void> {
    if (this.busy || this.stoppedFlag || (this.writesInFlight >= MAX_WRITES_IN_FLIGHT && this.hasUnstableEntries())) return;
    const opts = { maxCommitted: this.applyBudget() };
    if (!this.core.hasReady(opts)) return;
    this.busy = true;
    const rd = this.core.ready(opts);
    this.settleReads(rd);
    // A leader's appends, heartbeats and snapshot chunks promise nothing about its own
    // disk: they go out at once, while its log is written (Raft dissertation §10.2.1; the
    // core counts the leader toward a commit only once advance() or persisted() confirms the write).
    // But they claim its term: in the Ready that makes it leader (a sole voter wins its
    // election in one step) they wait until the term and vote are durable, or a crash
    // could forget a term it led and vote for another leader in it (sim seed 32392).
    // Votes and acknowledgements wait for the write.
    const written = this.writtenHardState;
    const termDurable = rd.hardState === undefined || (rd.hardState.term === written.term && rd.hardState.vote === written.vote);
    const after: Message[] = [];
    for (const m of rd.messages) {
      if (this.pendingReplies.has(m)) after.push(m);
      else if ((isLeaderSend(m) && termDurable) || this.canary === 'send-before-durable' || (this.canary === 'ack-before-fsync' && (m.type === MessageType.AppResp || m.type === MessageType.SnapResp))) this.transport.send(m);
      else after.push(m);
    }
    // Committed entries are durable on a quorum already: they are applied while this node's
    // own write is in flight (as etcd does), not one fsync later. A snapshot from the leader
    // is applied only once it is stored, and entries after it wait with it.
    const applyEarly = rd.applySnapshot === undefined;
    if (applyEarly) this.handOut(rd.committedEntries);
    // A leader's Ready with nothing that must wait for its write (no answer, vote or
    // acknowledgement, no snapshot or configuration, its term durable) does not hold up the
    // next one: the next entries go out to the followers while these are being written, and
    // the core counts the leader toward their commit once the write completes (persisted()).
    if (this.core.role === 'leader' && after.length === 0 && termDurable && rd.snapshot === undefined && applyEarly && rd.conf === undefined) {
      this.writeInBackground(rd);
      this.guard(() => this.core.advance(rd, false));
      this.busy = false;
      this.schedule();
      return;
    }
    try {
      if (needsWrite(rd)) {
        const written = this.write(rd);
        // Only durable state is waited for; a commit-index-only update promises nothing, and
        // storage applies writes in the order they are issued, so applying need not wait for it.
        if (rd.mustSync) await written;
        else written.catch((err: unknown) => this.fail(err));
        if (rd.snapshot !== undefined) this.readSnapshotFromStorage(rd.snapshot.meta);
      }
    } catch (err) {
      this.fail(err);
      return;
    }
    // The node may have been stopped (crashed) while the write was in flight: say nothing then.
    if (this.stoppedFlag) return;
    for (const m of after) {
      const reply = this.pendingReplies.get(m);
      if (reply !== undefined) {
        this.pendingReplies.delete(m);
        reply(m);
      } else {
        this.transport.send(m);
      }
    }
    if (rd.conf !== undefined) for (const l of this.confListeners) l(rd.conf);
    if (!applyEarly) {
      this.applyQueue.push({ kind: 'snapshot', snapshot: rd.applySnapshot! });
      this.handOut(rd.committedEntries);
    }
    this.guard(() => this.core.advance(rd));
    const pc = this.pendingCompaction;
    this.pendingCompaction = null;
    if (pc !== null) this.guard(() => this.core.compact(pc.index, pc.data));
    this.busy = false;
    this.schedule();
  }

  private hasUnstableEntries(): boolean {
    return this.core.log.unstableFrom <= this.core.log.lastIndex();
  }

  /** Writes a leader's Ready without holding up the next one; tells the core once it is durable. */
  private writeInBackground(rd: Ready): void {
    if (!needsWrite(rd)) return;
    const written = this.write(rd);
    const last = rd.entries[rd.entries.length - 1];
    // Only fsynced writes count: one that carries just the commit index waits for nothing.
    const counted = rd.mustSync;
    if (counted) this.writesInFlight++;
    written.then(
      () => {
        if (counted) this.writesInFlight--;
        if (this.stoppedFlag) return;
        if (last !== undefined) this.guard(() => this.core.persisted(last.index, last.term));
        this.schedule();
      },
      (err: unknown) => this.fail(err),
    );
  }

  /**
   * Once snapshot `meta` is durable, the core reads it from storage instead
   * of keeping it in memory: it is the whole state (hundreds of megabytes with
   * a million keys), and only read to catch up a follower behind the log's start.
   */
  private readSnapshotFromStorage(meta: SnapshotMeta): void {
    if (this.storage.openSnapshot === undefined) return;
    this.storage.openSnapshot(meta).then(
      (reader) => {
        if (reader === null) return;
        // A newer snapshot may have replaced it meanwhile (then the core keeps that one).
        if (this.stoppedFlag || !this.core.readSnapshotFrom(meta, reader)) {
          reader.close();
          return;
        }
        this.snapshotReader?.close();
        this.snapshotReader = reader;
      },
      (err: unknown) => {
        if (!this.stoppedFlag) this.fail(err);
      },
    );
  }

  /** Hands a Ready's persisted part to storage; remembers the hard state it holds. */
  private write(rd: Ready): Promise<void> {
    const hardState = this.canary === 'vote-without-persist' ? this.withoutNewVote(rd.hardState) : rd.hardState;
    const written = this.storage.write({ hardState, snapshot: rd.snapshot, entries: rd.entries, sync: rd.mustSync });
    if (hardState !== undefined) this.writtenHardState = hardState;
    return written;
  }

  private handOut(entries: readonly Entry[]): void {
    for (const entry of entries) this.applyQueue.push({ kind: 'entry', entry });
    this.flushApplyWaiter();
  }

  /** Canary 'vote-without-persist': the hard state as written, without a vote cast in the current term. */
  private withoutNewVote(hs: HardState | undefined): HardState | undefined {
    if (hs === undefined) return undefined;
    const prev = this.writtenHardState;
    return { term: hs.term, vote: prev.term === hs.term ? prev.vote : null, commit: hs.commit };
  }

  private guard<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.fail(err);
      if (this.onFatal === undefined) throw err;
      return undefined;
    }
  }

  private fail(err: unknown): void {
    if (this.fatalError !== undefined) return;
    this.fatalError = err;
    this.stop();
    this.onFatal?.(err);
  }
}

/**
 * A leader's Readies with new entries whose writes may be in flight at once.
 * Two: while one is being fsynced, the next batch of entries goes out to the
 * followers and queues its write; later proposals wait for the first write to
 * complete and go out together, so each Ready still carries what one fsync's
 * time brought. Readies without new entries (commits, heartbeats) go on.
 */
const MAX_WRITES_IN_FLIGHT = 2;

function isLeaderSend(m: Message): boolean {
  return m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap;
}

function needsWrite(rd: Ready): boolean {
  return rd.mustSync || rd.hardState !== undefined;
}
