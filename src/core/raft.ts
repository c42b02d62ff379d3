import type { CanaryName } from '../util/canary.js';
import type { Random } from '../util/random.js';
import { ConfigError, resolveRaftOptions, type RaftConfig, type RaftObserver, type RaftOptions } from './config.js';
import { invariant } from './errors.js';
import { RaftLog } from './log.js';
import type { Progress } from './progress.js';
import { ConfTracker } from './conf-tracker.js';
import { ConfChangeError, encodeConfEntry, isJoint, isMember, isVoter, members } from './membership.js';
import type { VoteResult } from './quorum.js';
import { ReadOnly, type ReadAnswer } from './read-only.js';
import { LeaderTransfer } from './transfer.js';
import { Lease, leaseTicks } from './lease.js';
import { isLeaderMessage, lostEntriesReply, staleReply, voteReply } from './replies.js';
import { sameHardState, sameSoftState, type Ready, type ReadyOptions } from './ready.js';
import { Replication } from './replication.js';
import { SnapshotReceiver } from './snapshot-receiver.js';
import {
  EntryType,
  MessageType,
  Role,
  type AppMsg,
  type ConfChange,
  type ConfState,
  type AppRespMsg,
  type HardState,
  type HeartbeatMsg,
  type HeartbeatRespMsg,
  type Message,
  type NodeId,
  type RaftInitialState,
  type PreVoteMsg,
  type PreVoteRespMsg,
  type PropMsg,
  type ReadIndexMsg,
  type ReadIndexRespMsg,
  type SnapMsg,
  type SnapRespMsg,
  type RetainedSnapshot,
  type Snapshot,
  type SnapshotBytes,
  type SnapshotMeta,
  type SoftState,
  type TimeoutNowMsg,
  type VoteMsg,
  type VoteRespMsg,
} from './types.js';

export type { Ready, ReadyOptions } from './ready.js';

export type { RaftInitialState } from './types.js';

/** An election, or the pre-election that precedes one with pre-vote (dissertation §9.6). */
type CampaignType = 'election' | 'pre-election';

const EMPTY = new Uint8Array(0);

/**
 * The Raft consensus algorithm as a deterministic state machine: no I/O, no
 * clock, no global randomness. Feed it {@link tick}, {@link step} and
 * {@link propose}; drain it with {@link ready} and {@link advance}.
 */
export class Raft {
  readonly id: NodeId;
  /** The configuration in force along the log (it takes effect on append) and its quorum. */
  private readonly confs: ConfTracker;
  private readonly opts: RaftOptions;
  private readonly random: Random;
  private readonly observer: RaftObserver | undefined;
  /** A planted bug the simulator turned on (never set otherwise). */
  private readonly canary: CanaryName | undefined;

  private termValue = 0;
  private voteValue: NodeId | null = null;
  private roleValue: Role = Role.Follower;
  private leaderValue: NodeId | null = null;
  readonly log: RaftLog;
  /** The latest snapshot, kept to send to followers behind the log's start: in memory, or read from storage (see {@link readSnapshotFrom}). */
  private snapshotValue: RetainedSnapshot | null;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** Ticks since a leader was last heard (term changes do not reset it): a learner's patience. */
  private leaderlessTicks = 0;
  private votes = new Map<NodeId, boolean>();
  private readonly replication: Replication;
  private readonly snapshotReceiver = new SnapshotReceiver();
  private readonly reads: ReadOnly;
  /** Lease reads (lease.ts); drivers read from it how many reads it served. */
  readonly lease: Lease;

  private msgs: Message[] = [];
  /** Entries were proposed or acknowledgements freed the window: send appends at the next Ready. */
  private needsFlush = false;
  /** The commit index advanced: tell followers waiting for a forwarded entry at the next Ready (the others at the next tick). */
  private commitAdvanced = false;
  private snapshotToPersist: Snapshot | undefined;
  private snapshotToApply: Snapshot | undefined;
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private readyInFlight = false;
  private readonly transfer = new LeaderTransfer();

  constructor(cfg: RaftConfig, initial: RaftInitialState) {
    if (cfg.voters.length > 0 && !cfg.voters.includes(cfg.id)) {
      throw new ConfigError(`node ${cfg.id} is not among the voters ${cfg.voters.join(',')} (a node that joins an existing cluster starts with no voters)`, 'voters');
    }
    this.opts = resolveRaftOptions(cfg);
    this.id = cfg.id;
    this.random = cfg.random;
    this.observer = cfg.observer;
    this.canary = cfg.canary;
    this.reads = new ReadOnly(cfg.id, () => this.confs.quorum);
    this.lease = new Lease(cfg.id, leaseTicks(this.opts, cfg.canary), this.opts.electionTicks, () => this.confs.quorum);
    this.replication = new Replication(this, this.opts, (m) => this.send(m));

    const snapMeta = initial.snapshot?.meta ?? { index: 0, term: 0 };
    this.snapshotValue = initial.snapshot;
    this.log = new RaftLog(snapMeta, initial.entries, initial.hardState.commit);
    this.confs = new ConfTracker(cfg.voters, snapMeta, initial.entries, cfg.canary);
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
  /** Voters of the configuration in force (both halves while joint). */
  get voters(): readonly NodeId[] {
    return this.confs.quorum.voters;
  }
  /** The configuration in force: the latest in the log. */
  get conf(): ConfState {
    return this.confs.conf;
  }
  /** The index of the entry that set {@link conf} (it is final once committed). */
  get confIndex(): number {
    return this.confs.index;
  }
  /** The leadership transfer in progress, if any. */
  get transferTarget(): NodeId | null {
    return this.transfer.target;
  }
  get snapshot(): RetainedSnapshot | null {
    return this.snapshotValue;
  }

  /**
   * The latest snapshot's bytes can be read from `data` (its durable file)
   * instead of the copy in memory, which the core then drops. Returns false,
   * and changes nothing, unless the latest snapshot is still `meta` and
   * `data` is as long.
   */
  readSnapshotFrom(meta: SnapshotMeta, data: SnapshotBytes): boolean {
    const s = this.snapshotValue;
    if (s === null || s.meta.index !== meta.index || s.meta.term !== meta.term || s.data.length !== data.length) return false;
    this.snapshotValue = { meta: s.meta, data };
    return true;
  }

  hardState(): HardState {
    return { term: this.termValue, vote: this.voteValue, commit: this.log.committed };
  }

  softState(): SoftState {
    return { role: this.roleValue, leader: this.leaderValue };
  }

  /** The leader's view of a follower, for status pages and tests. */
  progressOf(id: NodeId): Readonly<Progress> | undefined {
    return this.roleValue === Role.Leader ? this.replication.get(id) : undefined;
  }

  // ---- inputs ------------------------------------------------------------

  /** Advances logical time by one tick. */
  tick(): void {
    this.lease.tick();
    if (this.roleValue === Role.Leader) {
      this.heartbeatElapsed++;
      if (this.heartbeatElapsed >= this.opts.heartbeatTicks) {
        this.heartbeatElapsed = 0;
        if (this.lease.enabled) this.sendReadRound(); // each heartbeat a round: its acknowledgements extend the lease
        else this.replication.broadcastHeartbeat(this.reads.round);
      }
      this.replication.retransmitSnapshots();
      this.replication.sendCommitNotices();
      this.transfer.tick(this.opts.electionTicks);
      this.electionElapsed++;
      if (this.electionElapsed >= this.opts.electionTicks) {
        this.electionElapsed = 0;
        if (this.opts.checkQuorum && !this.replication.quorumActive(this.confs.quorum, this.id)) this.becomeFollower(this.termValue, null);
      }
      return;
    }
    this.electionElapsed++;
    // Removed nodes and nodes waiting to join never campaign; learners only ask (ConfTracker.campaignKind).
    const patient = ++this.leaderlessTicks >= 3 * this.opts.electionTicks;
    const kind = this.confs.campaignKind(this.id, this.log.committed, this.opts.preVote, this.electionElapsed >= this.randomizedElectionTimeout, patient);
    // A learner asks again only after another election timeout (other nodes' campaigns reset its timer).
    if (kind !== null && !this.confs.quorum.has(this.id)) this.leaderlessTicks = 2 * this.opts.electionTicks;
    if (kind !== null) this.campaign(kind);
  }

  /**
   * Asks a follower's leader to append `data`; returns that leader, or null if none is known.
   * Nothing reports whether it was appended: the proposer recognises its entry when it applies.
   */
  forward(data: Uint8Array): NodeId | null {
    if (this.roleValue === Role.Leader || this.leaderValue === null) return null;
    this.send<PropMsg>({ type: MessageType.Prop, term: this.termValue, from: this.id, to: this.leaderValue, data: [data] });
    return this.leaderValue;
  }

  /** Appends a command if this node is the leader (and not transferring): where it will appear if it commits, else null. */
  propose(data: Uint8Array, type: EntryType = EntryType.Normal): { index: number; term: number } | null {
    invariant(type !== EntryType.ConfChange, 'configuration changes go through proposeConfChange');
    // During a transfer the leader takes no proposals: they could not commit before it steps down.
    if (this.roleValue !== Role.Leader || this.transfer.target !== null) return null;
    return this.appendOwn(type, data);
  }

  private appendOwn(type: EntryType, data: Uint8Array): { index: number; term: number } {
    const index = this.log.lastIndex() + 1;
    this.log.append([{ index, term: this.termValue, type, data }]);
    this.needsFlush = true;
    return { index, term: this.termValue };
  }

  /**
   * Proposes a membership change (leader only). A change of the voters enters
   * the joint configuration, which this leader (or its successor) leaves by
   * itself once it commits. Throws {@link ConfChangeError} naming the reason
   * if the change cannot be made now: not the leader, a transfer or another
   * change in flight, no commit yet in this term, a learner not caught up, or
   * a change the rules refuse. Returns where the entry was appended.
   */
  proposeConfChange(cc: ConfChange): { index: number; term: number } {
    if (this.roleValue !== Role.Leader) throw new ConfChangeError('not the leader');
    if (this.transfer.target !== null) throw new ConfChangeError(`a leadership transfer to ${this.transfer.target} is in progress`);
    const next = this.confs.checkProposal(cc, {
      committed: this.log.committed,
      committedInTerm: this.log.term(this.log.committed) === this.termValue,
      lagOf: (id) => this.replication.lag(id),
      opts: this.opts,
    });
    const at = this.appendOwn(EntryType.ConfChange, encodeConfEntry({ change: cc, conf: next }));
    this.confs.appended(at.index, at.term, next);
    this.switchConf();
    // Canary 'leave-joint-early': leave C_old,new at once, before it commits.
    if (this.canary === 'leave-joint-early' && isJoint(next)) this.leaveJoint();
    return at;
  }

  /**
   * Transfers leadership (dissertation §3.10) to `to`, or to the most
   * up-to-date voter: stops taking proposals and reads, brings the target up
   * to date, then tells it to campaign at once. Abandoned after an election
   * timeout. Throws {@link ConfChangeError} if it cannot start. Returns the target.
   */
  transferLeader(to: NodeId | null): NodeId {
    if (this.roleValue !== Role.Leader) throw new ConfChangeError('not the leader');
    const target = this.transfer.start(to, this.confs.quorum.voters, this.id, (id) => this.replication.get(id)?.match);
    // This leader's read authority ends now: the target may lead before it learns so.
    this.answerReads(this.reads.drop());
    this.lease.revoke();
    const pr = this.replication.get(target)!;
    if (pr.match === this.log.lastIndex() || this.canary === 'transfer-not-up-to-date') this.sendTimeoutNow(target);
    else this.replication.sendAppend(target, true);
    return target;
  }

  /**
   * The service's snapshot covering every entry up to `index` (which it has
   * applied): the log before it is discarded. Stale calls are ignored.
   */
  compact(index: number, data: Uint8Array): void {
    if (index <= this.log.snapIndex) return;
    invariant(index <= this.log.applied, () => `snapshot at ${index} but only ${this.log.applied} applied`);
    const term = this.log.term(index)!;
    // The snapshot carries the configuration in force at its index (canary: it drops it).
    const conf = this.confs.snapshotConf(index);
    this.log.compact(index);
    this.confs.compactTo(index);
    const snap = { meta: { index, term, conf }, data };
    this.snapshotValue = snap;
    this.snapshotToPersist = snap;
  }

  /**
   * Starts a linearizable read `ctx` (unique among this node's reads in progress): the leader records
   * its commit index and confirms its leadership with a heartbeat round to a majority; a follower asks
   * the leader. A Ready then holds a {@link ReadState} (serve once that index is applied) or a failed
   * read. Returns false at once if no leader is known. With `lease`, a leader whose lease holds (lease.ts) answers at once.
   */
  readIndex(ctx: number, lease = false): boolean {
    if (this.roleValue === Role.Leader) {
      this.registerRead(ctx, this.id, lease);
      return true;
    }
    if (this.leaderValue === null) return false;
    this.send<ReadIndexMsg>({ type: MessageType.ReadIndex, term: this.termValue, from: this.id, to: this.leaderValue, ctx, ...(lease && { lease }) });
    return true;
  }

  /**
   * Processes one message. If `m` is a request (vote, append, heartbeat,
   * snapshot chunk) the response is returned as well as queued, so an
   * RPC-style transport can send it back as the reply.
   */
  step(m: Message): Message | undefined {
    if (m.to !== this.id || m.from === this.id) return undefined;
    // From outside the configuration only a leader's messages and vote requests are taken: a joining
    // node knows no configuration yet, and a new voter may ask for our vote before our log names it
    // (unanswered, a majority that includes it may never elect anyone: sim seed 884).
    const stranger = !isMember(this.conf, m.from);
    if (stranger && !isLeaderMessage(m) && m.type !== MessageType.Vote && m.type !== MessageType.PreVote) return undefined;

    // A forwarded proposal is just commands: the leader appends them whatever the sender's term.
    if (m.type === MessageType.Prop && m.term <= this.termValue) {
      this.handleProp(m);
      return undefined;
    }
    if (m.term > this.termValue) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        // Check quorum: while we hear from a live leader (or, with lease reads, have just started: lease.ts),
        // a candidate is cut off, not the leader. A stranger is refused then whatever the options: it may be
        // a removed server that never learned of its removal (§4.2.3). A transfer's vote is the leader's own wish.
        const transfer = m.type === MessageType.Vote && m.transfer === true;
        const heard = this.leaderHeard();
        if (!transfer && ((this.opts.checkQuorum && (heard || this.lease.bootGuard())) || (stranger && heard))) return this.send(voteReply(this.id, m, false, this.termValue));
        if (m.type === MessageType.Vote) this.becomeFollower(m.term, null); // a pre-vote never changes our term
      } else if (this.lease.keepsLeader(this.roleValue === Role.Follower && this.leaderHeard(), isLeaderMessage(m))) {
        return undefined;
      } else if (m.type === MessageType.PreVoteResp && m.granted) {
        // Our own pre-vote term, echoed: not a newer term.
      } else {
        this.becomeFollower(m.term, isLeaderMessage(m) ? m.from : null);
      }
    } else if (m.term < this.termValue && this.canary !== 'accept-stale-term') {
      // Figure 2: reply false to a stale request, telling the sender our term so it steps down.
      const stale = staleReply(this.id, this.termValue, m);
      if (stale !== undefined) this.send(stale.reply);
      return stale?.rpc === true ? stale.reply : undefined;
    }

    switch (m.type) {
      case MessageType.Vote:
      case MessageType.PreVote:
        return this.handleVote(m);
      case MessageType.VoteResp:
      case MessageType.PreVoteResp:
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
      case MessageType.TimeoutNow:
        this.acceptLeader(m.from);
        this.handleTimeoutNow(m);
        return undefined;
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
        if (this.roleValue === Role.Leader) this.registerRead(m.ctx, m.from, m.lease === true);
        else this.answerReads(this.reads.refuse(m.ctx, m.from));
        return undefined;
      case MessageType.Prop:
        this.handleProp(m);
        return undefined;
      case MessageType.ReadIndexResp:
        this.reads.answered(m.ctx, m.index);
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
      this.reads.hasWork() ||
      this.snapshotToPersist !== undefined ||
      this.snapshotToApply !== undefined ||
      !sameHardState(hs, this.prevHardState) ||
      !sameSoftState(this.softState(), this.prevSoftState) ||
      this.confs.unreported ||
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
    this.log.stableTo(this.log.lastIndex());
    const termOrVoteChanged = hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote;
    const rd: Ready = {
      softState: sameSoftState(ss, this.prevSoftState) ? undefined : ss,
      conf: this.confs.takeReport(),
      hardState: sameHardState(hs, this.prevHardState) ? undefined : hs,
      entries,
      snapshot: this.snapshotToPersist,
      messages: this.msgs,
      applySnapshot: this.snapshotToApply,
      committedEntries: this.log.nextToApply(opts.maxCommitted ?? Infinity),
      readStates: this.reads.takeReadStates(),
      failedReads: this.reads.takeFailedReads(),
      mustSync: termOrVoteChanged || entries.length > 0 || this.snapshotToPersist !== undefined,
    };
    this.msgs = [];
    this.snapshotToPersist = undefined;
    this.snapshotToApply = undefined;
    this.prevHardState = hs;
    this.prevSoftState = ss;
    this.readyInFlight = true;
    return rd;
  }

  /**
   * Tells the core that everything in `rd` was sent and handed to the state
   * machine, and persisted unless `persisted` is false: then {@link persisted}
   * reports it later (a leader whose write is still in flight).
   */
  advance(rd: Ready, persisted = true): void {
    invariant(this.readyInFlight, 'advance() without a Ready');
    this.readyInFlight = false;
    const last = rd.entries[rd.entries.length - 1];
    if (persisted && last !== undefined) this.persisted(last.index, last.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) this.log.appliedTo(lastApplied.index);
  }

  /** The log up to `index` (of term `term`) is durable. The leader counts itself toward a quorum only for such entries. */
  persisted(index: number, term: number): void {
    if (this.log.persistedTo(index, term) && this.roleValue === Role.Leader) this.maybeCommit();
  }

  // ---- role transitions ----------------------------------------------------

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.opts.electionTicks + this.random.int(this.opts.electionTicks);
  }

  private reset(term: number): void {
    if (term !== this.termValue) {
      this.termValue = term;
      this.voteValue = null;
    }
    this.answerReads(this.reads.drop());
    this.leaderValue = null;
    this.resetTimers();
    this.votes.clear();
    this.replication.clear();
    this.snapshotReceiver.reset();
    this.transfer.clear();
    this.confs.clearRemoved();
  }

  private becomeFollower(term: number, leader: NodeId | null): void {
    this.reset(term);
    this.roleValue = Role.Follower;
    this.leaderValue = leader;
    this.notifyRole();
  }

  /**
   * Starts an election in the next term, or (with pre-vote) a pre-election
   * that asks whether a majority would vote for us there, raising no term and
   * casting no vote. Winning a pre-election starts the election.
   */
  private campaign(kind: CampaignType, transfer = false): void {
    const pre = kind === 'pre-election';
    if (pre) {
      this.roleValue = Role.PreCandidate;
      this.leaderValue = null;
      this.resetTimers();
      this.votes.clear();
    } else {
      this.reset(this.termValue + 1);
      this.roleValue = Role.Candidate;
      this.voteValue = this.id;
    }
    this.notifyRole();
    if (this.poll(this.id, true) === 'won') {
      this.wonCampaign(kind);
      return;
    }
    const term = pre ? this.termValue + 1 : this.termValue;
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const to of this.confs.quorum.voters) {
      if (to === this.id) continue;
      if (pre) this.send<PreVoteMsg>({ type: MessageType.PreVote, term, from: this.id, to, lastIndex, lastTerm });
      else this.send<VoteMsg>({ type: MessageType.Vote, term, from: this.id, to, lastIndex, lastTerm, ...(transfer && { transfer: true }) });
    }
  }

  /** Records a vote (or pre-vote) from `from` and tallies the campaign. */
  private poll(from: NodeId, granted: boolean): VoteResult {
    this.votes.set(from, granted);
    return this.confs.quorum.voteResult(this.votes);
  }

  private wonCampaign(kind: CampaignType): void {
    if (kind === 'pre-election') this.campaign('election');
    else this.becomeLeader();
  }

  private becomeLeader(): void {
    invariant(this.roleValue === Role.Candidate, 'only a candidate becomes leader');
    this.roleValue = Role.Leader;
    this.leaderValue = this.id;
    this.heartbeatElapsed = this.leaderlessTicks = 0;
    this.lease.reset();
    const next = this.log.lastIndex() + 1;
    this.replication.start(members(this.conf).filter((id) => id !== this.id), next);
    this.notifyRole();
    if (this.opts.noopOnElection) {
      this.log.append([{ index: next, term: this.termValue, type: EntryType.Noop, data: EMPTY }]);
    }
    // Announce leadership at once with an append probe to every follower.
    for (const id of this.replication.followers()) this.replication.sendAppend(id, true);
  }

  private notifyRole(): void {
    this.observer?.onRoleChange?.({ id: this.id, role: this.roleValue, term: this.termValue, leader: this.leaderValue });
  }

  /** A valid leader of the current term spoke to us. */
  private acceptLeader(from: NodeId): void {
    invariant(this.roleValue !== Role.Leader, () => `two leaders in term ${this.termValue}: ${this.id} and ${from}`);
    if (this.roleValue === Role.Candidate || this.roleValue === Role.PreCandidate) this.becomeFollower(this.termValue, from);
    this.leaderValue = from;
    this.electionElapsed = this.leaderlessTicks = 0;
  }

  // ---- elections -------------------------------------------------------------

  /** A leader was heard from (on a leader: a majority answered) within the last election timeout. */
  private leaderHeard(): boolean {
    return this.leaderValue !== null && this.electionElapsed < this.opts.electionTicks;
  }

  private handleProp(m: PropMsg): void {
    if (this.roleValue !== Role.Leader) return; // no leader here: the proposer will time out and retry
    let last = 0;
    for (const data of m.data) last = this.propose(data, EntryType.Normal)?.index ?? last;
    // The proposer answers its client once it applies the entry: tell it the commit at once.
    const pr = this.replication.get(m.from);
    if (last > 0 && pr !== undefined) pr.forwardedTo = last;
  }

  private handleVote(m: VoteMsg | PreVoteMsg): VoteRespMsg | PreVoteRespMsg {
    if (m.type === MessageType.PreVote) {
      // Granting changes nothing here: no term, no vote. Only a newer term with a log as up to date as ours.
      const granted = m.term > this.termValue && this.log.isUpToDate(m.lastIndex, m.lastTerm);
      return this.send(voteReply(this.id, m, granted, granted ? m.term : this.termValue));
    }
    // One vote per term; and none while we follow a live leader of this term.
    const canVote = this.voteValue === m.from || (this.voteValue === null && this.leaderValue === null);
    const granted = canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm);
    if (granted) {
      this.voteValue = m.from;
      this.electionElapsed = 0;
    }
    return this.send(voteReply(this.id, m, granted, this.termValue));
  }

  private handleVoteResp(m: VoteRespMsg | PreVoteRespMsg): void {
    const kind: CampaignType = m.type === MessageType.PreVoteResp ? 'pre-election' : 'election';
    if (this.roleValue !== (kind === 'pre-election' ? Role.PreCandidate : Role.Candidate)) return;
    // A granted pre-vote echoes the term we would campaign in; any other is stale.
    if (kind === 'pre-election' && m.granted && m.term !== this.termValue + 1) return;
    const result = this.poll(m.from, m.granted);
    if (result === 'won') this.wonCampaign(kind);
    else if (result === 'lost') this.becomeFollower(this.termValue, null);
  }

  // ---- replication: follower side -------------------------------------------

  private handleAppend(m: AppMsg): AppRespMsg {
    const base = { type: MessageType.AppResp, term: this.termValue, from: this.id, to: m.from } as const;
    const r = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.entries);
    if (!r.ok) return this.send<AppRespMsg>({ ...base, success: false, index: m.prevIndex, hintTerm: r.hintTerm, hintIndex: r.hintIndex });
    // Configurations whose entries were truncated are undone; appended ones take effect.
    if (this.confs.syncWithLog((i) => this.log.term(i), r.appended)) this.switchConf();
    this.log.commitTo(Math.min(m.commit, r.lastNew));
    return this.send<AppRespMsg>({ ...base, success: true, index: r.lastNew, hintTerm: 0, hintIndex: 0 });
  }

  private handleHeartbeat(m: HeartbeatMsg): HeartbeatRespMsg {
    // The leader sends min(our match, its commit), so every entry up to it matches.
    const lastIndex = this.log.lastIndex();
    this.log.commitTo(Math.min(m.commit, lastIndex));
    // The leader believes we hold entries we do not: we lost some we had acknowledged.
    if (m.commit > lastIndex) this.send(lostEntriesReply(this.id, this.termValue, m, lastIndex));
    return this.send<HeartbeatRespMsg>({ type: MessageType.HeartbeatResp, term: this.termValue, from: this.id, to: m.from, ctx: m.ctx });
  }

  private handleSnapshot(m: SnapMsg): SnapRespMsg {
    const reply = (offset: number, done: boolean, index: number): SnapRespMsg =>
      this.send<SnapRespMsg>({ type: MessageType.SnapResp, term: this.termValue, from: this.id, to: m.from, snapIndex: m.meta.index, offset, done, index });
    if (m.meta.index <= this.log.committed) {
      this.snapshotReceiver.reset();
      return reply(m.size, true, this.log.committed);
    }
    const got = this.snapshotReceiver.receive(m);
    if (!got.done) return reply(got.offset, false, 0);
    this.installSnapshot(got.snapshot);
    return reply(m.size, true, got.snapshot.meta.index);
  }

  /** Figure 13, steps 6–8, for a complete snapshot newer than our commit index. */
  private installSnapshot(snap: Snapshot): void {
    if (this.log.matchTerm(snap.meta.index, snap.meta.term)) {
      // We already hold the entries it covers: commit up to it and apply them normally.
      this.log.commitTo(snap.meta.index);
      return;
    }
    this.log.restore(snap.meta);
    // The snapshot's configuration replaces whatever the discarded log held, even a later one.
    this.confs.reset(snap.meta.index, snap.meta.conf);
    this.switchConf();
    this.snapshotValue = snap;
    this.snapshotToPersist = snap;
    this.snapshotToApply = snap;
  }

  // ---- replication: leader side -----------------------------------------------

  private handleAppendResp(m: AppRespMsg): void {
    const pr = this.leaderProgress(m.from);
    if (pr === undefined) return;
    if (!m.success) {
      const match = pr.match;
      if (this.replication.appendRejected(m, pr) === 'lost') {
        this.observer?.onFollowerLostEntries?.({ id: m.from, match, lastIndex: pr.next - 1 });
      }
      return;
    }
    const wasPaused = pr.isPaused();
    const updated = pr.appendAcked(m.index);
    if (updated) this.maybeCommit();
    if (updated || wasPaused) this.needsFlush = true;
    if (m.from === this.transfer.target && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleHeartbeatResp(m: HeartbeatRespMsg): void {
    const pr = this.leaderProgress(m.from);
    if (pr === undefined) return;
    if (m.ctx > 0) this.answerReads(this.reads.ack(m.from, m.ctx));
    this.lease.ack(m.from, m.ctx);
    pr.heartbeatAnswered();
    // The follower is reachable; if it is behind (appends lost, or still on the way), probe it.
    if (pr.state !== 'snapshot' && pr.match < this.log.lastIndex()) this.replication.sendAppend(m.from, true);
  }

  private handleSnapshotResp(m: SnapRespMsg): void {
    const pr = this.leaderProgress(m.from);
    if (pr === undefined) return;
    const outcome = this.replication.snapshotAnswered(m, pr);
    if (outcome !== 'none') this.maybeCommit();
    if (outcome === 'match') this.needsFlush = true;
    else if (outcome === 'installed') this.replication.sendAppend(m.from, true);
  }

  /** The progress of a follower that just answered us, marked active for check quorum. */
  private leaderProgress(from: NodeId): Progress | undefined {
    if (this.roleValue !== Role.Leader) return undefined;
    const pr = this.replication.get(from);
    if (pr !== undefined) pr.recentActive = true;
    return pr;
  }

  /** Commits the highest index a majority holds, if it is of the current term (Figure 8). */
  private maybeCommit(): boolean {
    const mci = this.confs.commitQuorum().committedIndex((id) => (id === this.id ? this.log.persisted : (this.replication.get(id)?.match ?? 0)));
    if (mci > this.log.committed && (this.log.term(mci) === this.termValue || this.canary === 'commit-previous-term')) {
      this.log.commitTo(mci);
      this.commitAdvanced = true;
      // The first commit of this term makes the commit index a safe read index.
      this.reads.committedTo(mci);
      this.afterConfCommit();
      return true;
    }
    return false;
  }

  /**
   * Once the configuration in force has committed: a joint one is left (by whichever leader sees
   * it commit, so a new leader finishes a transition its predecessor began), and a leader that is
   * no longer a voter steps down, first telling the others the commit index: without it, a new
   * leader would not know C_new committed until an entry of its own term does (sim seed 4534).
   */
  private afterConfCommit(): void {
    if (this.roleValue !== Role.Leader || this.confs.index > this.log.committed) return;
    if (isJoint(this.conf)) this.leaveJoint();
    else if (!isVoter(this.conf, this.id)) {
      this.replication.broadcastHeartbeat(this.reads.round);
      this.becomeFollower(this.termValue, null);
    }
  }

  /** Appends the entry that leaves C_old,new for C_new. */
  private leaveJoint(): void {
    const next = this.confs.leaveConf();
    const at = this.appendOwn(EntryType.ConfChange, encodeConfEntry({ change: { steps: [] }, conf: next }));
    this.confs.appended(at.index, at.term, next);
    this.switchConf();
  }

  /** The configuration in force changed: new quorum, and on a leader, progress for exactly its members. */
  private switchConf(): void {
    if (this.roleValue !== Role.Leader) return;
    this.lease.revoke(); // only rounds acknowledged by a quorum of the new configuration count
    const wanted = new Set(members(this.conf).filter((id) => id !== this.id));
    for (const id of [...this.replication.followers()]) {
      if (wanted.has(id)) continue;
      // Canary 'removed-ack-counts': a removed voter's acknowledgements still count.
      if (this.canary === 'removed-ack-counts' && this.confs.before.has(id)) this.confs.keepCounting(id);
      else this.replication.remove(id);
    }
    const added = [...wanted].filter((id) => this.replication.get(id) === undefined);
    this.replication.start(added, this.log.lastIndex() + 1);
    for (const id of added) this.replication.sendAppend(id, true);
    if (this.transfer.target !== null && !this.confs.quorum.has(this.transfer.target)) this.transfer.clear();
  }

  // ---- leadership transfer (dissertation §3.10) ------------------------------

  private sendTimeoutNow(to: NodeId): void {
    this.lease.timeoutNowSent();
    this.send<TimeoutNowMsg>({ type: MessageType.TimeoutNow, term: this.termValue, from: this.id, to, lastIndex: this.log.lastIndex() });
  }

  /** The leader asks us to campaign now: its log is no longer than ours (checked by the leader). */
  private handleTimeoutNow(m: TimeoutNowMsg): void {
    if (!this.confs.quorum.has(this.id)) return;
    // An out-of-date target would only disrupt: it cannot win (canary: it campaigns anyway).
    if (this.log.lastIndex() < m.lastIndex && this.canary !== 'transfer-not-up-to-date') return;
    this.campaign('election', true);
  }

  // ---- linearizable reads (dissertation §6.4) -------------------------------

  private registerRead(ctx: number, from: NodeId, lease: boolean): void {
    // The leader's read authority ended when a transfer began.
    if (this.transfer.target !== null) return this.answerReads(this.reads.refuse(ctx, from));
    // Until it commits an entry of its own term, a new leader does not know the commit index.
    if (this.log.term(this.log.committed) !== this.termValue && this.canary !== 'no-noop-before-reads') {
      this.reads.awaitCommit(ctx, from);
      // Without a no-op on election, nothing of this term may ever be proposed: append one now.
      if (this.log.term(this.log.lastIndex()) !== this.termValue) this.propose(EMPTY, EntryType.Noop);
    } else if (lease && this.lease.grant()) this.answerReads(this.reads.answerNow(ctx, from, this.log.committed));
    else this.reads.add(ctx, from, this.log.committed);
  }

  /** Starts one heartbeat round for every read registered since the last one: concurrent reads share it. */
  private flushReads(): void {
    if (!this.reads.takeRoundNeeded() || this.roleValue !== Role.Leader) return;
    this.sendReadRound();
    this.answerReads(this.reads.release()); // a single-node cluster needs no round trip
  }

  private sendReadRound(): void {
    this.reads.startRound();
    this.lease.sent(this.reads.round);
    this.replication.broadcastHeartbeat(this.reads.round);
  }

  /** Sends followers the answers to their reads, in order. */
  private answerReads(answers: readonly ReadAnswer[]): void {
    for (const a of answers) {
      this.send<ReadIndexRespMsg>({ type: MessageType.ReadIndexResp, term: this.termValue, from: this.id, to: a.to, ctx: a.ctx, index: a.index });
    }
  }

  /** Sends what proposals and acknowledgements made pending since the last Ready. */
  private flushAppends(): void {
    const pending = this.needsFlush || this.commitAdvanced;
    this.needsFlush = false;
    this.commitAdvanced = false;
    if (this.roleValue === Role.Leader && pending) this.replication.sendAppends();
  }

  private send<M extends Message>(m: M): M {
    this.msgs.push(m);
    return m;
  }
}
