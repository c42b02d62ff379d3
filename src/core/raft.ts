import { concatBytes } from '../util/bytes.js';
import { canary } from '../util/canary.js';
import type { Random } from '../util/random.js';
import { ConfigError, resolveRaftOptions, type RaftConfig, type RaftObserver } from './config.js';
import { invariant } from './errors.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import { MajorityConfig } from './quorum.js';
import {
  EntryType,
  MessageType,
  Role,
  type AppMsg,
  type AppRespMsg,
  type Entry,
  type HardState,
  type HeartbeatMsg,
  type HeartbeatRespMsg,
  type Message,
  type NodeId,
  type PreVoteMsg,
  type PreVoteRespMsg,
  type PropMsg,
  type ReadIndexMsg,
  type ReadIndexRespMsg,
  type ReadState,
  type SnapMsg,
  type SnapRespMsg,
  type Snapshot,
  type SnapshotMeta,
  type SoftState,
  type VoteMsg,
  type VoteRespMsg,
} from './types.js';

/** What the core is restarted from: everything storage holds. */
export interface RaftInitialState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
}

/**
 * A batch of work for the driver, in this order: persist `hardState`,
 * `snapshot` and `entries` (durably if `mustSync`); then send `messages`; then
 * restore `applySnapshot` into the state machine and apply `committedEntries`;
 * then call {@link Raft.advance}. No message may leave before the state in the
 * same Ready is durable: votes and acknowledgements promise it.
 */
export interface Ready {
  readonly softState: SoftState | undefined;
  readonly hardState: HardState | undefined;
  /** Entries to append to storage; the first one may overwrite (truncate) a stored suffix. */
  readonly entries: readonly Entry[];
  /** A snapshot to store; entries it covers are dropped from storage. */
  readonly snapshot: Snapshot | undefined;
  readonly messages: readonly Message[];
  /** A snapshot received from the leader that the state machine must load. */
  readonly applySnapshot: Snapshot | undefined;
  /** Committed entries to apply, in order, after `applySnapshot`. */
  readonly committedEntries: readonly Entry[];
  /** Reads confirmed by {@link Raft.readIndex}: serve each once `index` is applied. */
  readonly readStates: readonly ReadState[];
  /** Contexts of reads that cannot be confirmed (leadership lost, or refused by the leader). */
  readonly failedReads: readonly number[];
  /** Whether the persisted part must reach stable storage before messages go out. */
  readonly mustSync: boolean;
}

/** Options for {@link Raft.ready}. */
export interface ReadyOptions {
  /** Most committed entries to hand out in this Ready (backpressure from the apply path). */
  readonly maxCommitted?: number;
}

/** A read waiting for the leader to confirm it (dissertation §6.4). */
interface PendingRead {
  readonly ctx: number;
  /** Who asked: this node, or a follower to answer with ReadIndexResp. */
  readonly from: NodeId;
  index: number;
  /** The heartbeat round that confirms it; 0 until one is sent. */
  round: number;
  readonly acks: Set<NodeId>;
}

/** A snapshot being received chunk by chunk. */
interface IncomingSnapshot {
  readonly meta: SnapshotMeta;
  readonly size: number;
  readonly chunks: Uint8Array[];
  received: number;
}

const EMPTY = new Uint8Array(0);

/**
 * The Raft consensus algorithm as a deterministic state machine: no I/O, no
 * clock, no global randomness. Feed it {@link tick}, {@link step} and
 * {@link propose}; drain it with {@link ready} and {@link advance}.
 */
export class Raft {
  readonly id: NodeId;
  private readonly config: MajorityConfig;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly random: Random;
  private readonly maxInflight: number;
  private readonly maxEntriesPerAppend: number;
  private readonly maxBytesPerAppend: number;
  private readonly maxSnapshotChunkBytes: number;
  private readonly noopOnElection: boolean;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly observer: RaftObserver | undefined;

  private termValue = 0;
  private voteValue: NodeId | null = null;
  private roleValue: Role = Role.Follower;
  private leaderValue: NodeId | null = null;
  readonly log: RaftLog;
  /** The latest snapshot, kept to send to followers behind the log's start. */
  private snapshotValue: Snapshot | null;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private votes = new Map<NodeId, boolean>();
  private progress = new Map<NodeId, Progress>();
  private incomingSnapshot: IncomingSnapshot | null = null;

  private msgs: Message[] = [];
  /** Entries were proposed or acknowledgements freed the window: send appends at the next Ready. */
  private needsFlush = false;
  /** The commit index advanced: tell idle followers at the next Ready. */
  private commitAdvanced = false;
  private snapshotToPersist: Snapshot | undefined;
  private snapshotToApply: Snapshot | undefined;
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private readyInFlight = false;
  /** Reads that arrived before this leader committed an entry of its term. */
  private readsAwaitingCommit: PendingRead[] = [];
  /** Reads with a read index, in order, waiting for a heartbeat round. */
  private readQueue: PendingRead[] = [];
  private readRound = 0;
  private readRoundNeeded = false;
  private readStates: ReadState[] = [];
  private failedReads: number[] = [];

  constructor(cfg: RaftConfig, initial: RaftInitialState) {
    if (!cfg.voters.includes(cfg.id)) throw new ConfigError(`node ${cfg.id} is not among the voters ${cfg.voters.join(',')}`, 'voters');
    const o = resolveRaftOptions(cfg);
    this.id = cfg.id;
    this.config = new MajorityConfig(cfg.voters);
    this.electionTicks = o.electionTicks;
    this.heartbeatTicks = o.heartbeatTicks;
    this.random = cfg.random;
    this.maxInflight = o.maxInflight;
    this.maxEntriesPerAppend = o.maxEntriesPerAppend;
    this.maxBytesPerAppend = o.maxBytesPerAppend;
    this.maxSnapshotChunkBytes = o.maxSnapshotChunkBytes;
    this.noopOnElection = o.noopOnElection;
    this.preVote = o.preVote;
    this.checkQuorum = o.checkQuorum;
    this.observer = cfg.observer;

    const snapMeta = initial.snapshot?.meta ?? { index: 0, term: 0 };
    this.snapshotValue = initial.snapshot;
    this.log = new RaftLog(snapMeta, initial.entries, initial.hardState.commit);
    this.termValue = initial.hardState.term;
    this.voteValue = initial.hardState.vote;
    this.prevHardState = this.hardState();
    this.prevSoftState = { role: Role.Follower, leader: null };
    this.resetTimers();
  }

  // ---- queries -----------------------------------------------------------

  get term(): number {
    return this.termValue;
  }
  get vote(): NodeId | null {
    return this.voteValue;
  }
  get role(): Role {
    return this.roleValue;
  }
  get leader(): NodeId | null {
    return this.leaderValue;
  }
  get voters(): readonly NodeId[] {
    return this.config.voters;
  }
  get snapshot(): Snapshot | null {
    return this.snapshotValue;
  }

  hardState(): HardState {
    return { term: this.termValue, vote: this.voteValue, commit: this.log.committed };
  }

  softState(): SoftState {
    return { role: this.roleValue, leader: this.leaderValue };
  }

  /** The leader's view of a follower, for status pages and tests. */
  progressOf(id: NodeId): Readonly<Progress> | undefined {
    return this.roleValue === Role.Leader ? this.progress.get(id) : undefined;
  }

  // ---- inputs ------------------------------------------------------------

  /** Advances logical time by one tick. */
  tick(): void {
    if (this.roleValue === Role.Leader) {
      this.heartbeatElapsed++;
      if (this.heartbeatElapsed >= this.heartbeatTicks) {
        this.heartbeatElapsed = 0;
        this.broadcastHeartbeat();
      }
      this.retransmitSnapshots();
      this.electionElapsed++;
      if (this.electionElapsed >= this.electionTicks) {
        this.electionElapsed = 0;
        if (this.checkQuorum && !this.quorumActive()) this.becomeFollower(this.termValue, null);
      }
      return;
    }
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTimeout) {
      if (this.preVote) this.becomePreCandidate();
      else this.campaign();
    }
  }

  /** With check quorum: has a majority answered in the last election timeout? Resets the marks. */
  private quorumActive(): boolean {
    const active = new Set<NodeId>([this.id]);
    for (const [id, pr] of this.progress) {
      if (pr.recentActive) active.add(id);
      pr.recentActive = false;
    }
    return this.config.isQuorum(active);
  }

  /**
   * Asks a follower's leader to append `data` (the follower cannot).
   * Returns the leader it went to, or null if no leader is known. Nothing
   * reports whether it was appended: the proposer recognises its entry when
   * it applies.
   */
  forward(data: Uint8Array): NodeId | null {
    if (this.roleValue === Role.Leader || this.leaderValue === null) return null;
    this.send<PropMsg>({ type: MessageType.Prop, term: this.termValue, from: this.id, to: this.leaderValue, data: [data] });
    return this.leaderValue;
  }

  /**
   * Appends a command to the log if this node is the leader, returning where
   * it will appear if it commits; null if this node is not the leader.
   */
  propose(data: Uint8Array, type: EntryType = EntryType.Normal): { index: number; term: number } | null {
    if (this.roleValue !== Role.Leader) return null;
    const index = this.log.lastIndex() + 1;
    this.log.append([{ index, term: this.termValue, type, data }]);
    this.needsFlush = true;
    return { index, term: this.termValue };
  }

  /**
   * The service's snapshot covering every entry up to `index` (which it has
   * applied): the log before it is discarded. Stale calls are ignored.
   */
  compact(index: number, data: Uint8Array): void {
    if (index <= this.log.snapIndex) return;
    invariant(index <= this.log.applied, () => `snapshot at ${index} but only ${this.log.applied} applied`);
    const term = this.log.term(index)!;
    this.log.compact(index);
    this.snapshotValue = { meta: { index, term }, data };
    this.snapshotToPersist = this.snapshotValue;
  }

  /**
   * Starts a linearizable read identified by `ctx` (unique among this node's
   * reads in progress): the leader records its commit index and confirms with
   * a heartbeat round to a majority that it is still the leader; a follower
   * asks the leader. The outcome comes in a Ready: a {@link ReadState} (serve
   * the read once that index is applied) or a failed read. Returns false at
   * once if no leader is known.
   */
  readIndex(ctx: number): boolean {
    if (this.roleValue === Role.Leader) {
      this.registerRead(ctx, this.id);
      return true;
    }
    if (this.leaderValue === null) return false;
    this.send<ReadIndexMsg>({ type: MessageType.ReadIndex, term: this.termValue, from: this.id, to: this.leaderValue, ctx });
    return true;
  }

  /**
   * Processes one message. If `m` is a request (vote, append, heartbeat,
   * snapshot chunk) the response is returned as well as queued, so an
   * RPC-style transport can send it back as the reply.
   */
  step(m: Message): Message | undefined {
    if (m.to !== this.id || m.from === this.id || !this.config.has(m.from)) return undefined;

    // A forwarded proposal is just commands: the leader appends them whatever the sender's term.
    if (m.type === MessageType.Prop && m.term <= this.termValue) {
      this.handleProp(m);
      return undefined;
    }
    if (m.term > this.termValue) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        // Check quorum: while we hear from a live leader, a candidate is cut off, not the leader.
        if (this.inLease()) return this.refuseVote(m);
        // A pre-vote never changes our term.
        if (m.type === MessageType.Vote) this.becomeFollower(m.term, null);
      } else if (m.type === MessageType.PreVoteResp && m.granted) {
        // Our own pre-vote term, echoed: not a newer term.
      } else {
        const fromLeader = m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap;
        this.becomeFollower(m.term, fromLeader ? m.from : null);
      }
    } else if (m.term < this.termValue && !canary('accept-stale-term')) {
      // Figure 2: reply false to a stale request, telling the sender our term so it steps down.
      return this.rejectStale(m);
    }

    switch (m.type) {
      case MessageType.Vote:
        return this.handleVote(m);
      case MessageType.VoteResp:
        this.handleVoteResp(m);
        return undefined;
      case MessageType.App:
        this.acceptLeader(m.from);
        return this.handleAppend(m);
      case MessageType.Heartbeat:
        this.acceptLeader(m.from);
        return this.handleHeartbeat(m);
      case MessageType.Snap:
        this.acceptLeader(m.from);
        return this.handleSnapshot(m);
      case MessageType.AppResp:
        this.handleAppendResp(m);
        return undefined;
      case MessageType.HeartbeatResp:
        this.handleHeartbeatResp(m);
        return undefined;
      case MessageType.SnapResp:
        this.handleSnapshotResp(m);
        return undefined;
      case MessageType.ReadIndex:
        this.handleReadIndex(m);
        return undefined;
      case MessageType.Prop:
        this.handleProp(m);
        return undefined;
      case MessageType.PreVote:
        return this.handlePreVote(m);
      case MessageType.PreVoteResp:
        this.handlePreVoteResp(m);
        return undefined;
      case MessageType.ReadIndexResp:
        if (m.index < 0) this.failedReads.push(m.ctx);
        else this.readStates.push({ ctx: m.ctx, index: m.index });
        return undefined;
    }
  }

  // ---- outputs -----------------------------------------------------------

  /** True if {@link ready} has something for the driver. */
  hasReady(opts: ReadyOptions = {}): boolean {
    if (this.readyInFlight) return false;
    const hs = this.hardState();
    return (
      this.msgs.length > 0 ||
      this.needsFlush ||
      this.commitAdvanced ||
      this.log.unstableFrom <= this.log.lastIndex() ||
      this.readRoundNeeded ||
      this.readStates.length > 0 ||
      this.failedReads.length > 0 ||
      this.snapshotToPersist !== undefined ||
      this.snapshotToApply !== undefined ||
      !sameHardState(hs, this.prevHardState) ||
      !sameSoftState(this.softState(), this.prevSoftState) ||
      ((opts.maxCommitted ?? Infinity) > 0 && this.log.committed > this.log.applied)
    );
  }

  /** Takes the pending work. Call {@link advance} with it once it is done. */
  ready(opts: ReadyOptions = {}): Ready {
    invariant(!this.readyInFlight, 'ready() called again before advance()');
    this.flushAppends();
    this.flushReads();
    const hs = this.hardState();
    const ss = this.softState();
    const entries = this.log.unstable();
    this.log.unstableFrom = this.log.lastIndex() + 1;
    const termOrVoteChanged = hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote;
    const rd: Ready = {
      softState: sameSoftState(ss, this.prevSoftState) ? undefined : ss,
      hardState: sameHardState(hs, this.prevHardState) ? undefined : hs,
      entries,
      snapshot: this.snapshotToPersist,
      messages: this.msgs,
      applySnapshot: this.snapshotToApply,
      committedEntries: this.log.nextToApply(opts.maxCommitted ?? Infinity),
      readStates: this.readStates,
      failedReads: this.failedReads,
      mustSync: termOrVoteChanged || entries.length > 0 || this.snapshotToPersist !== undefined,
    };
    this.msgs = [];
    this.readStates = [];
    this.failedReads = [];
    this.snapshotToPersist = undefined;
    this.snapshotToApply = undefined;
    this.prevHardState = hs;
    this.prevSoftState = ss;
    this.readyInFlight = true;
    return rd;
  }

  /** Tells the core that everything in `rd` was persisted, sent and handed to the state machine. */
  advance(rd: Ready): void {
    invariant(this.readyInFlight, 'advance() without a Ready');
    this.readyInFlight = false;
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined && this.log.matchTerm(last.index, last.term)) {
      this.log.persisted = Math.max(this.log.persisted, last.index);
      // The leader counts itself toward a quorum only for entries it has made durable.
      if (this.roleValue === Role.Leader) this.maybeCommit();
    }
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) this.log.applied = Math.max(this.log.applied, lastApplied.index);
  }

  // ---- role transitions ----------------------------------------------------

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + this.random.int(this.electionTicks);
  }

  private reset(term: number): void {
    if (term !== this.termValue) {
      this.termValue = term;
      this.voteValue = null;
    }
    this.dropReads();
    this.leaderValue = null;
    this.resetTimers();
    this.votes.clear();
    this.progress.clear();
    this.incomingSnapshot = null;
  }

  private becomeFollower(term: number, leader: NodeId | null): void {
    this.reset(term);
    this.roleValue = Role.Follower;
    this.leaderValue = leader;
    this.notifyRole();
  }

  private campaign(): void {
    this.reset(this.termValue + 1);
    this.roleValue = Role.Candidate;
    this.voteValue = this.id;
    this.notifyRole();
    this.votes.set(this.id, true);
    if (this.config.voteResult(this.votes) === 'won') {
      this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const to of this.config.voters) {
      if (to === this.id) continue;
      this.send<VoteMsg>({ type: MessageType.Vote, term: this.termValue, from: this.id, to, lastIndex, lastTerm });
    }
  }

  private becomeLeader(): void {
    invariant(this.roleValue === Role.Candidate, 'only a candidate becomes leader');
    this.roleValue = Role.Leader;
    this.leaderValue = this.id;
    this.heartbeatElapsed = 0;
    const next = this.log.lastIndex() + 1;
    for (const id of this.config.voters) {
      if (id !== this.id) this.progress.set(id, new Progress(next, this.maxInflight));
    }
    this.notifyRole();
    if (this.noopOnElection) {
      this.log.append([{ index: next, term: this.termValue, type: EntryType.Noop, data: EMPTY }]);
    }
    // Announce leadership at once with an append probe to every follower.
    for (const id of this.progress.keys()) this.sendAppend(id, true);
  }

  private notifyRole(): void {
    this.observer?.onRoleChange?.({ id: this.id, role: this.roleValue, term: this.termValue, leader: this.leaderValue });
  }

  /** A valid leader of the current term spoke to us. */
  private acceptLeader(from: NodeId): void {
    invariant(this.roleValue !== Role.Leader, () => `two leaders in term ${this.termValue}: ${this.id} and ${from}`);
    if (this.roleValue === Role.Candidate || this.roleValue === Role.PreCandidate) this.becomeFollower(this.termValue, from);
    this.leaderValue = from;
    this.electionElapsed = 0;
  }

  // ---- elections -------------------------------------------------------------

  /**
   * With check quorum: a leader was heard from (or, on the leader, a majority
   * answered) within the last election timeout, so a vote request can only
   * come from a node that was cut off.
   */
  private inLease(): boolean {
    return this.checkQuorum && this.leaderValue !== null && this.electionElapsed < this.electionTicks;
  }

  private refuseVote(m: VoteMsg | PreVoteMsg): VoteRespMsg | PreVoteRespMsg {
    if (m.type === MessageType.PreVote) return this.send<PreVoteRespMsg>({ type: MessageType.PreVoteResp, term: this.termValue, from: this.id, to: m.from, granted: false });
    return this.send<VoteRespMsg>({ type: MessageType.VoteResp, term: this.termValue, from: this.id, to: m.from, granted: false });
  }

  /** Asks for pre-votes for the next term, without raising ours (dissertation §9.6). */
  private becomePreCandidate(): void {
    this.roleValue = Role.PreCandidate;
    this.leaderValue = null;
    this.resetTimers();
    this.votes.clear();
    this.notifyRole();
    this.votes.set(this.id, true);
    if (this.config.voteResult(this.votes) === 'won') {
      this.campaign();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const to of this.config.voters) {
      if (to !== this.id) this.send<PreVoteMsg>({ type: MessageType.PreVote, term: this.termValue + 1, from: this.id, to, lastIndex, lastTerm });
    }
  }

  private handlePreVote(m: PreVoteMsg): PreVoteRespMsg {
    // Granting changes nothing here: no term, no vote. Only a newer term with a log as up to date as ours.
    const granted = m.term > this.termValue && this.log.isUpToDate(m.lastIndex, m.lastTerm);
    return this.send<PreVoteRespMsg>({ type: MessageType.PreVoteResp, term: granted ? m.term : this.termValue, from: this.id, to: m.from, granted });
  }

  private handlePreVoteResp(m: PreVoteRespMsg): void {
    if (this.roleValue !== Role.PreCandidate || (m.granted && m.term !== this.termValue + 1)) return;
    this.votes.set(m.from, m.granted);
    const result = this.config.voteResult(this.votes);
    if (result === 'won') this.campaign();
    else if (result === 'lost') this.becomeFollower(this.termValue, null);
  }

  private handleProp(m: PropMsg): void {
    if (this.roleValue !== Role.Leader) return; // no leader here: the proposer will time out and retry
    for (const data of m.data) this.propose(data, EntryType.Normal);
  }

  private handleVote(m: VoteMsg): VoteRespMsg {
    // One vote per term; and none while we follow a live leader of this term.
    const canVote = this.voteValue === m.from || (this.voteValue === null && this.leaderValue === null);
    const granted = canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm);
    if (granted) {
      this.voteValue = m.from;
      this.electionElapsed = 0;
    }
    return this.send<VoteRespMsg>({ type: MessageType.VoteResp, term: this.termValue, from: this.id, to: m.from, granted });
  }

  private handleVoteResp(m: VoteRespMsg): void {
    if (this.roleValue !== Role.Candidate) return;
    this.votes.set(m.from, m.granted);
    const result = this.config.voteResult(this.votes);
    if (result === 'won') this.becomeLeader();
    else if (result === 'lost') this.becomeFollower(this.termValue, null);
  }

  // ---- replication: follower side -------------------------------------------

  private handleAppend(m: AppMsg): AppRespMsg {
    const reply = (success: boolean, index: number, hintTerm = 0, hintIndex = 0): AppRespMsg =>
      this.send<AppRespMsg>({ type: MessageType.AppResp, term: this.termValue, from: this.id, to: m.from, success, index, hintTerm, hintIndex });

    let prevIndex = m.prevIndex;
    let entries = m.entries;
    const committed = this.log.committed;
    if (prevIndex < committed) {
      // Everything up to our commit index matches any current leader's log, so
      // the consistency check holds at `committed`: keep only what lies beyond it.
      const skip = committed - prevIndex;
      if (skip >= entries.length) return reply(true, committed);
      invariant(entries[skip - 1]!.term === this.log.term(committed), () => `leader ${m.from} disagrees with committed index ${committed}`);
      prevIndex = committed;
      entries = entries.slice(skip);
    } else {
      const lastIndex = this.log.lastIndex();
      if (prevIndex > lastIndex) return reply(false, prevIndex, 0, lastIndex + 1);
      const t = this.log.term(prevIndex)!;
      if (t !== m.prevTerm) return reply(false, prevIndex, t, this.log.firstIndexOfTermAt(prevIndex));
    }

    const lastNew = this.log.appendFromLeader(prevIndex, entries);
    this.log.commitTo(Math.min(m.commit, lastNew));
    return reply(true, lastNew);
  }

  private handleHeartbeat(m: HeartbeatMsg): HeartbeatRespMsg {
    // The leader sends min(our match, its commit), so every entry up to it matches.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    return this.send<HeartbeatRespMsg>({ type: MessageType.HeartbeatResp, term: this.termValue, from: this.id, to: m.from, ctx: m.ctx });
  }

  private handleSnapshot(m: SnapMsg): SnapRespMsg {
    const reply = (offset: number, done: boolean, index: number): SnapRespMsg =>
      this.send<SnapRespMsg>({ type: MessageType.SnapResp, term: this.termValue, from: this.id, to: m.from, snapIndex: m.meta.index, offset, done, index });

    if (m.meta.index <= this.log.committed) {
      this.incomingSnapshot = null;
      return reply(m.size, true, this.log.committed);
    }
    let inc = this.incomingSnapshot;
    if (inc === null || inc.meta.index !== m.meta.index || inc.meta.term !== m.meta.term || inc.size !== m.size) {
      if (m.offset !== 0) return reply(0, false, 0);
      inc = this.incomingSnapshot = { meta: m.meta, size: m.size, chunks: [], received: 0 };
    }
    if (m.offset === inc.received && inc.received + m.data.length <= inc.size) {
      inc.chunks.push(m.data);
      inc.received += m.data.length;
    }
    if (inc.received < inc.size) return reply(inc.received, false, 0);

    this.incomingSnapshot = null;
    this.installSnapshot({ meta: inc.meta, data: concatBytes(inc.chunks) });
    return reply(inc.size, true, inc.meta.index);
  }

  /** Figure 13, steps 6–8, for a complete snapshot newer than our commit index. */
  private installSnapshot(snap: Snapshot): void {
    if (this.log.matchTerm(snap.meta.index, snap.meta.term)) {
      // We already hold the entries it covers: commit up to it and apply them normally.
      this.log.commitTo(snap.meta.index);
      return;
    }
    this.log.restore(snap.meta);
    this.snapshotValue = snap;
    this.snapshotToPersist = snap;
    this.snapshotToApply = snap;
  }

  // ---- replication: leader side -----------------------------------------------

  private handleAppendResp(m: AppRespMsg): void {
    const pr = this.leaderProgress(m.from);
    if (pr === undefined) return;
    if (!m.success) {
      if (pr.maybeDecrTo(m.index, this.nextFromHint(m))) this.sendAppend(m.from, true);
      return;
    }
    const wasPaused = pr.isPaused();
    const updated = pr.maybeUpdate(m.index);
    if (pr.state === 'probe' && (updated || pr.match === m.index)) {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(m.index);
    }
    if (updated) this.maybeCommit();
    if (updated || wasPaused) this.needsFlush = true;
  }

  /** Where to resume after a rejection, from the follower's (term, first index) hint. */
  private nextFromHint(m: AppRespMsg): number {
    if (m.hintTerm > 0) {
      const j = this.log.lastIndexOfTerm(m.hintTerm, m.index);
      if (j !== undefined) return j + 1;
    }
    return m.hintIndex;
  }

  private handleHeartbeatResp(m: HeartbeatRespMsg): void {
    const pr = this.leaderProgress(m.from);
    if (pr === undefined) return;
    if (m.ctx > 0) this.ackReads(m.from, m.ctx);
    if (pr.state === 'probe') pr.probeSent = false;
    else if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    // The follower is reachable; if it is behind (appends lost, or still on the way), probe it.
    if (pr.state !== 'snapshot' && pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
  }

  private handleSnapshotResp(m: SnapRespMsg): void {
    const pr = this.leaderProgress(m.from);
    if (pr === undefined) return;
    if (pr.state !== 'snapshot' || m.snapIndex !== pr.pendingSnapshot) {
      // An answer about another snapshot; only a completed one tells us something.
      if (m.done && pr.maybeUpdate(m.index)) {
        if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeProbe();
        this.maybeCommit();
        this.needsFlush = true;
      }
      return;
    }
    if (m.done) {
      pr.maybeUpdate(m.index);
      pr.becomeProbe();
      this.maybeCommit();
      this.sendAppend(m.from, true);
      return;
    }
    pr.snapshotOffset = m.offset;
    this.sendSnapshotChunk(m.from, pr);
  }

  /** The progress of a follower that just answered us, marked active for check quorum. */
  private leaderProgress(from: NodeId): Progress | undefined {
    if (this.roleValue !== Role.Leader) return undefined;
    const pr = this.progress.get(from);
    if (pr !== undefined) pr.recentActive = true;
    return pr;
  }

  /** Commits the highest index a majority holds, if it is of the current term (Figure 8). */
  private maybeCommit(): boolean {
    const mci = this.config.committedIndex((id) => (id === this.id ? this.log.persisted : (this.progress.get(id)?.match ?? 0)));
    if (mci > this.log.committed && (this.log.term(mci) === this.termValue || canary('commit-previous-term'))) {
      this.log.commitTo(mci);
      this.commitAdvanced = true;
      // The first commit of this term makes the commit index a safe read index.
      for (const r of this.readsAwaitingCommit.splice(0)) this.queueRead(r);
      return true;
    }
    return false;
  }

  // ---- linearizable reads (dissertation §6.4) -------------------------------

  private registerRead(ctx: number, from: NodeId): void {
    const r: PendingRead = { ctx, from, index: 0, round: 0, acks: new Set([this.id]) };
    // Until it commits an entry of its own term, a new leader does not know the commit index.
    if (this.log.term(this.log.committed) !== this.termValue && !canary('no-noop-before-reads')) {
      this.readsAwaitingCommit.push(r);
      // Without a no-op on election, nothing of this term may ever be proposed: append one now.
      if (this.log.term(this.log.lastIndex()) !== this.termValue) this.propose(EMPTY, EntryType.Noop);
    } else this.queueRead(r);
  }

  private queueRead(r: PendingRead): void {
    r.index = this.log.committed;
    this.readQueue.push(r);
    this.readRoundNeeded = true;
  }

  private handleReadIndex(m: ReadIndexMsg): void {
    if (this.roleValue === Role.Leader) this.registerRead(m.ctx, m.from);
    else this.send<ReadIndexRespMsg>({ type: MessageType.ReadIndexResp, term: this.termValue, from: this.id, to: m.from, ctx: m.ctx, index: -1 });
  }

  /** Starts one heartbeat round for every read registered since the last one: concurrent reads share it. */
  private flushReads(): void {
    if (!this.readRoundNeeded) return;
    this.readRoundNeeded = false;
    if (this.roleValue !== Role.Leader) return;
    this.readRound++;
    for (const r of this.readQueue) if (r.round === 0) r.round = this.readRound;
    this.broadcastHeartbeat();
    this.releaseConfirmedReads(); // a single-node cluster needs no round trip
  }

  /** A heartbeat answer for round `round` confirms leadership for every read of that round or before. */
  private ackReads(from: NodeId, round: number): void {
    for (const r of this.readQueue) {
      if (r.round === 0 || r.round > round) break;
      r.acks.add(from);
    }
    this.releaseConfirmedReads();
  }

  private releaseConfirmedReads(): void {
    while (this.readQueue.length > 0) {
      const r = this.readQueue[0]!;
      if (r.round === 0 || !this.config.isQuorum(r.acks)) break;
      this.readQueue.shift();
      if (r.from === this.id) this.readStates.push({ ctx: r.ctx, index: r.index });
      else this.send<ReadIndexRespMsg>({ type: MessageType.ReadIndexResp, term: this.termValue, from: this.id, to: r.from, ctx: r.ctx, index: r.index });
    }
  }

  /** On leaving leadership: local reads fail, followers' reads are refused. */
  private dropReads(): void {
    for (const r of [...this.readsAwaitingCommit.splice(0), ...this.readQueue.splice(0)]) {
      if (r.from === this.id) this.failedReads.push(r.ctx);
      else this.send<ReadIndexRespMsg>({ type: MessageType.ReadIndexResp, term: this.termValue, from: this.id, to: r.from, ctx: r.ctx, index: -1 });
    }
    this.readRoundNeeded = false;
  }

  /**
   * Sends one append to `to` if its progress allows: the entries from its next
   * index, batched, or (if `sendIfEmpty`) an empty probe. Switches to sending
   * the snapshot when the entries it needs are compacted. Returns true if a
   * message went out.
   */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to)!;
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined || pr.next <= this.log.snapIndex) {
      const snap = this.snapshotValue;
      invariant(snap !== null, () => `follower ${to} needs index ${pr.next} but the log starts after ${this.log.snapIndex} with no snapshot`);
      pr.becomeSnapshot(snap.meta.index);
      this.sendSnapshotChunk(to, pr);
      return true;
    }
    const entries = this.log.slice(pr.next, this.log.lastIndex() + 1, this.maxEntriesPerAppend, this.maxBytesPerAppend);
    if (entries.length === 0 && !sendIfEmpty) return false;
    const commit = this.log.committed;
    this.send<AppMsg>({ type: MessageType.App, term: this.termValue, from: this.id, to, prevIndex, prevTerm, entries, commit });
    pr.sentEntries(prevIndex + entries.length, entries.length);
    pr.commitSent = Math.max(pr.commitSent, Math.min(commit, prevIndex + entries.length));
    return true;
  }

  private sendSnapshotChunk(to: NodeId, pr: Progress): void {
    const snap = this.snapshotValue!;
    if (pr.pendingSnapshot !== snap.meta.index) {
      // We compacted again since this transfer began: send the newer snapshot from the start.
      pr.becomeSnapshot(snap.meta.index);
    }
    const offset = Math.min(pr.snapshotOffset, snap.data.length);
    const end = Math.min(snap.data.length, offset + this.maxSnapshotChunkBytes);
    this.send<SnapMsg>({
      type: MessageType.Snap,
      term: this.termValue,
      from: this.id,
      to,
      meta: snap.meta,
      offset,
      data: snap.data.subarray(offset, end),
      size: snap.data.length,
    });
    pr.snapshotChunkOut = true;
    pr.snapshotTicks = 0;
  }

  /** Resends an unanswered snapshot chunk after an election timeout. */
  private retransmitSnapshots(): void {
    for (const [id, pr] of this.progress) {
      if (pr.state !== 'snapshot') continue;
      pr.snapshotTicks++;
      if (pr.snapshotTicks >= this.electionTicks) this.sendSnapshotChunk(id, pr);
    }
  }

  private broadcastHeartbeat(): void {
    for (const [to, pr] of this.progress) {
      // Never claim a commit index beyond what this follower is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      this.send<HeartbeatMsg>({ type: MessageType.Heartbeat, term: this.termValue, from: this.id, to, commit, ctx: this.readRound });
      pr.commitSent = Math.max(pr.commitSent, commit);
    }
  }

  /** Sends batched appends for new entries, and the commit index to idle followers that lack it. */
  private flushAppends(): void {
    const pending = this.needsFlush || this.commitAdvanced;
    this.needsFlush = false;
    this.commitAdvanced = false;
    if (this.roleValue !== Role.Leader || !pending) return;
    const committed = this.log.committed;
    for (const [id, pr] of this.progress) {
      let sent = false;
      while (this.sendAppend(id, false)) sent = true;
      // An empty append is safe only when nothing is in flight (it cannot overtake earlier
      // appends); it tells an idle follower the commit index at once, not at the next heartbeat.
      if (!sent && pr.state === 'replicate' && pr.inflights.count === 0 && Math.min(pr.match, committed) > pr.commitSent) {
        this.sendAppend(id, true);
      }
    }
  }

  private rejectStale(m: Message): Message | undefined {
    const base = { term: this.termValue, from: this.id, to: m.from };
    switch (m.type) {
      case MessageType.Vote:
        return this.send<VoteRespMsg>({ ...base, type: MessageType.VoteResp, granted: false });
      case MessageType.PreVote:
        return this.send<PreVoteRespMsg>({ ...base, type: MessageType.PreVoteResp, granted: false });
      case MessageType.App:
        return this.send<AppRespMsg>({ ...base, type: MessageType.AppResp, success: false, index: m.prevIndex, hintTerm: 0, hintIndex: 0 });
      case MessageType.Heartbeat:
        return this.send<HeartbeatRespMsg>({ ...base, type: MessageType.HeartbeatResp, ctx: m.ctx });
      case MessageType.ReadIndex:
        this.send<ReadIndexRespMsg>({ ...base, type: MessageType.ReadIndexResp, ctx: m.ctx, index: -1 });
        return undefined;
      case MessageType.Snap:
        return this.send<SnapRespMsg>({ ...base, type: MessageType.SnapResp, snapIndex: m.meta.index, offset: 0, done: false, index: 0 });
      default:
        return undefined; // a response from an older term: nothing to learn
    }
  }

  private send<M extends Message>(m: M): M {
    this.msgs.push(m);
    return m;
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader;
}
