import type { CanaryName } from '../util/canary.js';
import { ConfChangeError, ConfigHistory, applyConfChange, bootstrapConf, decodeConfEntry, isJoint, isVoter, sameConf } from './membership.js';
import { JointConfig } from './quorum.js';
import type { RaftOptions } from './config.js';
import { EntryType, type ConfChange, type ConfState, type Entry, type NodeId, type SnapshotMeta } from './types.js';

/** What the leader knows when it checks a proposed change. */
export interface ProposalContext {
  /** The leader's commit index. */
  readonly committed: number;
  /** The leader has committed an entry of its own term. */
  readonly committedInTerm: boolean;
  /** How far a member is behind the leader's last index (undefined if unknown). */
  readonly lagOf: (id: NodeId) => number | undefined;
  readonly opts: Pick<RaftOptions, 'maxLearnerLag' | 'noopOnElection'>;
}

/**
 * The configuration in force along the log, and its quorum. A configuration
 * takes effect when its entry is appended; the log's configuration entries
 * and the snapshot decide it, so it is recovered from them at restart and
 * undone with a truncated entry. The Raft core asks it who votes and which
 * change may be made now; what follows from a change (progress, stepping
 * down) stays with the core.
 */
export class ConfTracker {
  private readonly history: ConfigHistory;
  /** Used when a snapshot carries no configuration (written before there were any). */
  private readonly bootstrap: ConfState;
  private quorumValue: JointConfig;
  private previousQuorum: JointConfig;
  /** The configuration the last Ready reported. */
  private reported: ConfState;
  /** Canary 'removed-ack-counts': removed voters whose acknowledgements still count. */
  private readonly removedVoters = new Set<NodeId>();

  constructor(
    bootstrapVoters: readonly NodeId[],
    snap: SnapshotMeta,
    entries: readonly Entry[],
    private readonly canary: CanaryName | undefined,
  ) {
    this.bootstrap = bootstrapConf(bootstrapVoters);
    this.history = new ConfigHistory(snap.index, snap.conf ?? this.bootstrap);
    for (const e of entries) if (e.type === EntryType.ConfChange) this.history.add(e.index, e.term, decodeConfEntry(e.data).conf);
    this.quorumValue = this.quorumOf(this.conf);
    this.previousQuorum = this.quorumValue;
    this.reported = this.conf;
  }

  /** The configuration in force: the latest in the log. */
  get conf(): ConfState {
    return this.history.current.conf;
  }

  /** The index of the entry that set it (or of the snapshot, or 0). */
  get index(): number {
    return this.history.current.index;
  }

  get quorum(): JointConfig {
    return this.quorumValue;
  }

  /**
   * How `self` may start an election when its timeout expires, or null if it
   * may not. A voter of the configuration in force campaigns (with a
   * pre-election first if `preVote`). So does, while that configuration is
   * uncommitted, a voter of the last committed one: it may still be needed
   * (dissertation §4.2.2: a removed leader that appended C_new may hold the
   * only log that can be elected); either once its election timeout expired
   * (`timedOut`). A learner only ever starts a pre-election, and only once no
   * leader was heard for three election timeouts (`patient`), so the voters
   * had time to elect one of their own: it may hold the only log the voters can
   * elect (a leader that died after replicating only to learners, while a
   * voter holds an uncommitted C_old,new that needs the learner's vote: sim
   * seed 16642), and the pre-election succeeds only then, without raising
   * anyone's term. Whoever campaigns, its own vote counts only if it is a voter.
   */
  campaignKind(self: NodeId, committed: number, preVote: boolean, timedOut: boolean, patient: boolean): 'election' | 'pre-election' | null {
    const voter = this.quorumValue.has(self) || (this.index > committed && isVoter(this.history.at(Math.max(committed, this.history.start)), self));
    if (voter) return !timedOut ? null : preVote ? 'pre-election' : 'election';
    return patient && this.conf.learners.includes(self) ? 'pre-election' : null;
  }

  /** The quorum before the last change (to tell which members it removed). */
  get before(): JointConfig {
    return this.previousQuorum;
  }

  /** The quorum that decides commitment. */
  commitQuorum(): JointConfig {
    if (this.removedVoters.size === 0) return this.quorumValue;
    return new JointConfig([...this.quorumValue.voters, ...this.removedVoters], []);
  }

  /** Canary 'removed-ack-counts': keep counting this removed voter. */
  keepCounting(id: NodeId): void {
    this.removedVoters.add(id);
  }

  /** Leadership ended: nothing removed is counted any more. */
  clearRemoved(): void {
    this.removedVoters.clear();
  }

  /** The configuration changed since the last Ready reported it. */
  get unreported(): boolean {
    return this.conf !== this.reported;
  }

  /** The configuration for the next Ready, if it changed. */
  takeReport(): ConfState | undefined {
    const prev = this.reported;
    this.reported = this.conf;
    return prev === this.conf || sameConf(prev, this.conf) ? undefined : this.conf;
  }

  /**
   * On a leader: the configuration `cc` leads to, if it may be made now. At
   * most one change is in flight: the previous one has committed and the
   * joint configuration has been left. Throws {@link ConfChangeError} saying why not.
   */
  checkProposal(cc: ConfChange, ctx: ProposalContext): ConfState {
    // Without the election no-op a new leader commits nothing, and so finishes no transition and
    // learns nothing its predecessor committed, until a client writes.
    if (!ctx.opts.noopOnElection) throw new ConfChangeError('membership changes need noopOnElection (on in the production profile)');
    if (isJoint(this.conf)) throw new ConfChangeError('the cluster is still leaving a joint configuration');
    if (this.index > ctx.committed) throw new ConfChangeError(`the previous configuration change (index ${this.index}) has not committed yet`);
    // Dissertation §4.1: a leader changes the configuration only after committing an entry of its term.
    if (!ctx.committedInTerm) throw new ConfChangeError('this leader has not yet committed an entry of its term');
    for (const s of cc.steps) {
      const behind = s.type === 'promote' ? ctx.lagOf(s.id) : undefined;
      if (behind !== undefined && behind > ctx.opts.maxLearnerLag) {
        throw new ConfChangeError(`learner ${s.id} is ${behind} entries behind (at most ${ctx.opts.maxLearnerLag}): promote it once it has caught up`);
      }
    }
    return applyConfChange(this.conf, cc, this.canary);
  }

  /** The configuration that leaves C_old,new. */
  leaveConf(): ConfState {
    return applyConfChange(this.conf, { steps: [] });
  }

  /** This node appended a configuration entry at (index, term): it is in force now. */
  appended(index: number, term: number, conf: ConfState): void {
    this.history.add(index, term, conf);
    this.refresh();
  }

  /**
   * After the log took entries from a leader: configurations whose entries
   * were truncated are undone, and configuration entries among `appended`
   * take effect. Returns true if the configuration in force changed.
   */
  syncWithLog(termAt: (index: number) => number | undefined, appended: readonly Entry[]): boolean {
    let changed = this.history.dropTruncated(termAt);
    for (const e of appended) {
      if (e.type !== EntryType.ConfChange || e.index <= this.index || termAt(e.index) !== e.term) continue;
      this.history.add(e.index, e.term, decodeConfEntry(e.data).conf);
      changed = true;
    }
    if (changed) this.refresh();
    return changed;
  }

  /** A snapshot replaced the log: its configuration (or, from an old snapshot, the bootstrap one) is in force. */
  reset(index: number, conf: ConfState | undefined): void {
    this.history.reset(index, conf ?? this.bootstrap);
    this.refresh();
  }

  /** The configuration a snapshot at `index` carries (canary: none). */
  snapshotConf(index: number): ConfState | undefined {
    return this.canary === 'snapshot-drops-config' ? undefined : this.history.at(index);
  }

  compactTo(index: number): void {
    this.history.compactTo(index);
  }

  private refresh(): void {
    this.previousQuorum = this.quorumValue;
    this.quorumValue = this.quorumOf(this.conf);
  }

  private quorumOf(c: ConfState): JointConfig {
    // Canary 'learner-counts': learners vote and acknowledge as if they were voters.
    if (this.canary === 'learner-counts') return new JointConfig([...c.voters, ...c.learners], c.outgoing);
    return new JointConfig(c.voters, c.outgoing);
  }
}
