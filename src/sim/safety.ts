import { bootstrapConf, decodeConfEntry, isJoint } from '../core/membership.js';
import { EntryType, MessageType, type ConfState, type Entry, type Message, type NodeId, type Role, type SnapshotMeta } from '../core/types.js';
import type { StorageState } from '../storage/types.js';

/** The checks the simulator runs; a failure names one. */
export const CHECKS = {
  'election-safety': 'at most one leader per term',
  'log-matching': 'two logs with an entry of the same index and term are identical up to it',
  'leader-completeness': 'a leader holds every entry committed before its term',
  'committed-unchanged': 'an entry, once committed, never changes',
  'commit-rule': 'a leader advances its commit index only to an entry of its own term (Figure 2; Figure 8 shows why)',
  'state-machine-safety': 'every replica applies the same command at the same index',
  'apply-order': 'a replica applies each index once, in increasing order',
  'replica-state': 'replicas at the same applied index have the same state hash',
  'commit-monotonic': 'a node’s commit index never decreases (within a run of the process; across restarts it resumes at or above what was durably written)',
  'durability': 'after a crash, storage holds what it acknowledged as durable, and a node recovers from any crash',
  'promises': 'a node never forgets a vote it granted or entries it acknowledged',
  'corruption': 'a node whose log has a flipped byte refuses to start',
  'node-failure': 'no node stops on an internal error',
  'client': 'the service answers every well-formed request with a result or a retryable error',
  'liveness': 'after healing, pending operations complete and replicas converge within 20 election timeouts',
  'linearizability': 'the client history is linearizable (an undecided check fails too)',
  'election-quorum': 'a leader was elected by the votes of a joint quorum of its configuration (learners and strangers do not count)',
  'commit-quorum': 'when a leader commits index i, the leader and the nodes that acknowledged i to it in its term include a joint quorum of its configuration in force',
  'one-change-at-a-time': 'a leader appends a configuration entry only once the previous one in its log has committed',
  'joint-phase': 'consecutive configurations keep the voters, enter the joint configuration (outgoing = previous voters) or leave it (voters kept)',
  'joint-left-after-commit': 'the entry that leaves C_old,new is appended only after C_old,new has committed',
  'snapshot-config': 'a snapshot carries the configuration in force at its index',
  'transfer-up-to-date': 'a leadership-transfer target campaigns only with a log at least as long as the TimeoutNow it received says',
  txn: 'the history of transactions (and the single-key operations on their keys) is strict-serializable: each transaction applied atomically, in isolation, between its call and its return',
  'lease-kept-alive': 'no lease expires sooner than its TTL (at the fastest clock the drift bound allows) after the call of its latest acknowledged grant or keep-alive, in runs whose clocks stay within the drift bound',
  'lease-expiry-atomic': "a revoked or expired lease's keys are all deleted at the revision of the revoke or expiry, and every replica deletes the same keys at the same revision",
  watch: 'each watcher receives exactly the committed changes under its prefix from its start revision, in revision order, with no gap or duplicate, across crashes, restarts and moves between nodes',
} as const;
export type CheckName = keyof typeof CHECKS;

/** A broken invariant: ends a simulation run. */
export class SimCheckFailure extends Error {
  override name = 'SimCheckFailure';
  constructor(
    readonly check: CheckName,
    message: string,
  ) {
    super(message);
  }
}

/** A cheap, stable hash of bytes (FNV-1a), for comparing entries without keeping them. */
export function hashBytes(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

/** What the monitor can read of a live node. */
export interface NodeView {
  readonly id: NodeId;
  readonly incarnation: number;
  /** The node's current term. */
  term(): number;
  isLeader(): boolean;
  commitIndex(): number;
  snapIndex(): number;
  lastIndex(): number;
  termAt(index: number): number | undefined;
  entryAt(index: number): Entry | undefined;
  /** The configuration in force on the node (the membership checks skip nodes without one). */
  conf?(): ConfState | undefined;
  /** The configuration its latest snapshot carries. */
  snapshotConf?(): ConfState | undefined;
}

/** True if `ids` holds a majority of the voters and, while joint, of the outgoing voters. */
export function hasJointQuorum(c: ConfState, ids: ReadonlySet<NodeId>): boolean {
  const majority = (vs: readonly NodeId[]): boolean => vs.filter((v) => ids.has(v)).length * 2 > vs.length;
  return majority(c.voters) && (c.outgoing.length === 0 || majority(c.outgoing));
}

/** Why `next` may not follow `prev` in a log, or null if it may. */
export function badTransition(prev: ConfState, next: ConfState): string | null {
  const same = (a: readonly NodeId[], b: readonly NodeId[]): boolean => a.length === b.length && [...a].sort((x, y) => x - y).every((x, i) => x === [...b].sort((p, q) => p - q)[i]);
  if (isJoint(next)) {
    if (isJoint(prev)) return 'a joint configuration follows another joint configuration';
    if (!same(next.outgoing, prev.voters)) return `the joint configuration's outgoing voters ${next.outgoing} are not the previous voters ${prev.voters}`;
    return null;
  }
  if (isJoint(prev)) return same(next.voters, prev.voters) ? null : `leaving the joint configuration changed the voters from ${prev.voters} to ${next.voters}`;
  return same(next.voters, prev.voters) ? null : `the voters changed from ${prev.voters} to ${next.voters} without a joint configuration`;
}

function describeConf(c: ConfState): string {
  return `voters ${c.voters.join(',') || '-'}${c.outgoing.length > 0 ? ` outgoing ${c.outgoing.join(',')}` : ''}${c.learners.length > 0 ? ` learners ${c.learners.join(',')}` : ''}`;
}

/** What the monitor follows of a leader's log in its term: the configuration entries it appends. */
interface LeaderLog {
  readonly incarnation: number;
  readonly term: number;
  scanned: number;
  confIndex: number;
  conf: ConfState;
}

interface EntryId {
  readonly term: number;
  readonly type: number;
  readonly hash: number;
}

function sameEntry(a: EntryId, e: Entry): boolean {
  return a.term === e.term && a.type === e.type && a.hash === hashBytes(e.data);
}

/** What a node promised peers, which its storage must keep across a crash. */
interface Promises {
  /** Votes granted: term → candidate. */
  readonly votes: Map<number, NodeId>;
  /** The highest index acknowledged as stored, in the highest term it acknowledged in. */
  ack: { term: number; index: number } | null;
}

/**
 * Watches a whole simulated cluster for violations of Raft's safety
 * properties (Figure 3 of the paper and then some). Event checks run as the
 * event happens (a role change, an apply, a message sent); state checks run
 * after every simulation step.
 */
export class SafetyMonitor {
  private readonly leaders = new Map<number, NodeId>();
  /** `node:term` for every node that sent a leader's message in that term. */
  private readonly leaderSends = new Set<string>();
  /** Every entry known committed: index → identity. */
  private readonly committed = new Map<number, EntryId>();
  /**
   * The highest index known committed, by the term it was seen committed in
   * (the observer's current term: it was committed in that term or before).
   * A leader of term T must hold those seen in terms below T.
   */
  private readonly frontier = new Map<number, { index: number; term: number }>();
  /** Per node: the commit index last seen in this incarnation, and up to where entries were recorded as committed. */
  private readonly commitSeen = new Map<NodeId, { incarnation: number; commit: number; recorded: number }>();
  /** Per node: the last index applied in this incarnation. */
  private readonly applied = new Map<NodeId, { incarnation: number; index: number }>();
  /** Per applied index: the command applied there and the state hash after it. */
  private readonly applies = new Map<number, { term: number; hash: number; node: NodeId }>();
  private readonly digests = new Map<number, { digest: string; node: NodeId }>();
  private readonly promises = new Map<NodeId, Promises>();
  private lastLogCheck = -Infinity;
  /** Votes granted (as sent): term → candidate → voters. */
  private readonly granted = new Map<number, Map<NodeId, Set<NodeId>>>();
  /** Per leader: its term and the configuration entries it appended. */
  private readonly leaderLogs = new Map<NodeId, LeaderLog>();
  /** Committed configuration entries: index → configuration. */
  private readonly committedConfs = new Map<number, ConfState>();
  /** Every index in 1..contiguous is known committed. */
  private contiguous = 0;
  /** Acknowledgements (successful appends and snapshots) sent to a leader: `term:leader` → node → highest index. */
  private readonly acks = new Map<string, Map<NodeId, number>>();
  /** Per node: the lastIndex of the last TimeoutNow it received. */
  private readonly timeoutNow = new Map<NodeId, number>();
  /** The configuration a brand-new cluster starts with (null: the snapshot check only asks for a configuration). */
  private readonly bootstrap: ConfState | null;
  /** Terms in which a leader was elected (for the statistics). */
  leaderChanges = 0;

  constructor(
    private readonly logCheckEveryMs = 50,
    bootstrapVoters?: readonly NodeId[],
  ) {
    this.bootstrap = bootstrapVoters === undefined ? null : bootstrapConf(bootstrapVoters);
  }

  private fail(check: CheckName, message: string): never {
    throw new SimCheckFailure(check, message);
  }

  // ---- events ----------------------------------------------------------------

  /** A node's role changed; `view` reads its state at that moment. */
  onRole(view: NodeView, role: Role, term: number): void {
    if (role !== 'leader') return;
    const prev = this.leaders.get(term);
    if (prev !== undefined && prev !== view.id) this.fail('election-safety', `two leaders in term ${term}: node ${prev} and node ${view.id}`);
    if (prev === undefined) this.leaderChanges++;
    this.leaders.set(term, view.id);
    const conf = view.conf?.();
    if (conf !== undefined) {
      const votes = new Set(this.granted.get(term)?.get(view.id) ?? []);
      votes.add(view.id);
      if (!hasJointQuorum(conf, votes)) {
        this.fail('election-quorum', `node ${view.id} became leader of term ${term} with the votes of ${[...votes].sort((a, b) => a - b)}, not a quorum of ${describeConf(conf)}`);
      }
    }
    // A candidate paused mid-election may win long after: its grants are kept for many terms (lease profile seed 80:
    // a candidate of term 25 paused while terms reached 56, then won with a grant the monitor had dropped).
    for (const t of this.granted.keys()) if (t < term - 512) this.granted.delete(t);
    for (const k of this.acks.keys()) if (Number(k.slice(0, k.indexOf(':'))) < term - 8) this.acks.delete(k);
    let index = 0;
    let t = 0;
    for (const [seenIn, f] of this.frontier) {
      if (seenIn < term && f.index > index) ({ index, term: t } = f);
    }
    if (index === 0 || index <= view.snapIndex()) return;
    const have = view.termAt(index);
    if (have !== t) {
      this.fail(
        'leader-completeness',
        `node ${view.id} became leader of term ${term} without committed entry ${index} (term ${t}): ` +
          (have === undefined ? `its log ends at ${view.lastIndex()}` : `it has term ${have} there`),
      );
    }
  }

  /** A node sent a message: votes and acknowledgements are promises about its storage. */
  onSend(m: Message): void {
    if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap || m.type === MessageType.TimeoutNow) this.leaderSends.add(`${m.from}:${m.term}`);
    if (m.type === MessageType.VoteResp && m.granted) {
      this.promisesOf(m.from).votes.set(m.term, m.to);
      let byCandidate = this.granted.get(m.term);
      if (byCandidate === undefined) this.granted.set(m.term, (byCandidate = new Map()));
      let voters = byCandidate.get(m.to);
      if (voters === undefined) byCandidate.set(m.to, (voters = new Set()));
      voters.add(m.from);
    } else if (m.type === MessageType.Vote && m.transfer === true) {
      const wanted = this.timeoutNow.get(m.from);
      if (wanted !== undefined && m.lastIndex < wanted) {
        this.fail('transfer-up-to-date', `node ${m.from} campaigned for term ${m.term} on a leadership transfer with its log ending at ${m.lastIndex}, but the TimeoutNow it received asked for ${wanted}`);
      }
    } else if (m.type === MessageType.Snap && m.offset === 0) {
      this.checkSnapshot(`node ${m.from}'s snapshot sent to node ${m.to}`, m.meta);
    } else if ((m.type === MessageType.AppResp && m.success) || (m.type === MessageType.SnapResp && m.done)) {
      const key = `${m.term}:${m.to}`;
      let byNode = this.acks.get(key);
      if (byNode === undefined) this.acks.set(key, (byNode = new Map()));
      if ((byNode.get(m.from) ?? -1) < m.index) byNode.set(m.from, m.index);
      const p = this.promisesOf(m.from);
      const index = m.index;
      if (p.ack === null || m.term > p.ack.term || (m.term === p.ack.term && index > p.ack.index)) p.ack = { term: m.term, index };
    }
  }

  private promisesOf(id: NodeId): Promises {
    let p = this.promises.get(id);
    if (p === undefined) {
      p = { votes: new Map(), ack: null };
      this.promises.set(id, p);
    }
    return p;
  }

  /** A message reached node `m.to` (before it steps it). */
  onReceive(m: Message): void {
    if (m.type === MessageType.TimeoutNow) this.timeoutNow.set(m.to, m.lastIndex);
  }

  /** A node stores a snapshot (its own, or one it received). */
  onSnapshotStored(id: NodeId, meta: SnapshotMeta): void {
    this.checkSnapshot(`node ${id}'s stored snapshot`, meta);
  }

  /**
   * A snapshot must carry a configuration, and the one in force at its
   * index: the latest committed configuration entry at or before it (a
   * snapshot covers only committed entries), or the bootstrap configuration.
   * Checked when every index up to the snapshot's is known.
   */
  private checkSnapshot(what: string, meta: SnapshotMeta): void {
    if (meta.conf === undefined) this.fail('snapshot-config', `${what} at index ${meta.index} carries no configuration`);
    if (this.bootstrap === null) return;
    while (this.committed.has(this.contiguous + 1)) this.contiguous++;
    if (meta.index > this.contiguous) return;
    let at = 0;
    for (const i of this.committedConfs.keys()) if (i <= meta.index && i > at) at = i;
    const want = at === 0 ? this.bootstrap : this.committedConfs.get(at)!;
    if (describeConf(want) !== describeConf(meta.conf)) {
      this.fail('snapshot-config', `${what} at index ${meta.index} carries ${describeConf(meta.conf)}, but ${describeConf(want)} was in force there (${at === 0 ? 'bootstrap' : `entry ${at}`})`);
    }
  }

  /** A node restarted from `state`: it must still hold what it promised before the crash. */
  onRecover(id: NodeId, state: StorageState): void {
    this.timeoutNow.delete(id);
    // A node that led a term in memory, crashed before its term was durable and never spoke in it
    // (a sole voter elects itself in one step) was never a leader anyone could see: forget it.
    for (const [term, leader] of this.leaders) {
      if (leader === id && term > state.hardState.term && !this.leaderSends.has(`${id}:${term}`)) this.leaders.delete(term);
    }
    if (state.snapshot !== null) this.checkSnapshot(`node ${id}'s recovered snapshot`, state.snapshot.meta);
    const p = this.promises.get(id);
    if (p === undefined) return;
    const hs = state.hardState;
    for (const [term, candidate] of p.votes) {
      if (term > hs.term) this.fail('promises', `node ${id} granted its vote in term ${term} to node ${candidate}, but restarted in term ${hs.term}`);
      if (term === hs.term && hs.vote !== candidate) {
        this.fail('promises', `node ${id} granted its vote in term ${term} to node ${candidate}, but restarted having voted for ${hs.vote === null ? 'nobody' : `node ${hs.vote}`}`);
      }
    }
    for (const term of [...p.votes.keys()]) if (term < hs.term) p.votes.delete(term);
    if (p.ack !== null) {
      const last = state.entries.at(-1)?.index ?? state.snapshot?.meta.index ?? 0;
      if (p.ack.term > hs.term) this.fail('promises', `node ${id} acknowledged entries up to ${p.ack.index} in term ${p.ack.term}, but restarted in term ${hs.term}`);
      if (p.ack.term === hs.term && last < p.ack.index) {
        this.fail('promises', `node ${id} acknowledged entries up to ${p.ack.index} in term ${p.ack.term}, but restarted with its log ending at ${last}`);
      }
    }
  }

  /** A replica's state machine applied the command at `index` (normal entries only). */
  onApply(view: NodeView, index: number, term: number, command: Uint8Array, digest: string): void {
    const { id, incarnation } = view;
    const a = this.applied.get(id);
    if (a !== undefined && a.incarnation === incarnation && index <= a.index) {
      this.fail('apply-order', `node ${id} applied index ${index} after index ${a.index}`);
    }
    this.applied.set(id, { incarnation, index });
    const hash = hashBytes(command);
    const prev = this.applies.get(index);
    if (prev === undefined) this.applies.set(index, { term, hash, node: id });
    else if (prev.term !== term || prev.hash !== hash) {
      this.fail('state-machine-safety', `index ${index}: node ${id} applied a command of term ${term}, node ${prev.node} one of term ${prev.term}${prev.term === term ? ' with other data' : ''}`);
    }
    this.noteCommitted(index, term, view.term());
    this.checkDigest(id, index, digest);
  }

  /** A replica's state machine was replaced by a snapshot at `index`. */
  onRestore(view: NodeView, index: number, term: number, digest: string): void {
    const { id, incarnation } = view;
    const a = this.applied.get(id);
    if (a !== undefined && a.incarnation === incarnation && index <= a.index) {
      this.fail('apply-order', `node ${id} installed a snapshot at ${index} after applying index ${a.index}`);
    }
    this.applied.set(id, { incarnation, index });
    this.noteCommitted(index, term, view.term());
    this.checkDigest(id, index, digest);
  }

  private checkDigest(id: NodeId, index: number, digest: string): void {
    const d = this.digests.get(index);
    if (d === undefined) this.digests.set(index, { digest, node: id });
    else if (d.digest !== digest) this.fail('replica-state', `at applied index ${index}, node ${id} has state ${digest} but node ${d.node} had ${d.digest}`);
  }

  private noteCommitted(index: number, term: number, seenIn: number): void {
    const f = this.frontier.get(seenIn);
    if (f === undefined || index > f.index) this.frontier.set(seenIn, { index, term });
  }

  // ---- after every step ----------------------------------------------------------

  /** Checks the state of every live node; `now` is virtual time. */
  afterStep(nodes: readonly NodeView[], now: number): void {
    for (const n of nodes) {
      const before = this.commitSeen.get(n.id);
      const from = before !== undefined && before.incarnation === n.incarnation ? before.commit : undefined;
      this.checkCommit(n);
      if (n.isLeader()) {
        if (from !== undefined && n.commitIndex() > from) this.checkCommitQuorum(n);
        this.checkLeaderConfs(n);
      }
    }
    if (now - this.lastLogCheck >= this.logCheckEveryMs) {
      this.lastLogCheck = now;
      for (let i = 0; i < nodes.length; i++) for (let j = i + 1; j < nodes.length; j++) this.checkLogMatching(nodes[i]!, nodes[j]!);
    }
  }

  private checkCommit(n: NodeView): void {
    const commit = n.commitIndex();
    let s = this.commitSeen.get(n.id);
    if (s === undefined || s.incarnation !== n.incarnation) {
      // A restart: entries recovered up to the durable commit index are checked again.
      s = { incarnation: n.incarnation, commit, recorded: n.snapIndex() };
      this.commitSeen.set(n.id, s);
    } else if (commit < s.commit) {
      this.fail('commit-monotonic', `node ${n.id}'s commit index went from ${s.commit} down to ${commit}`);
    } else if (commit > s.commit && n.isLeader() && n.termAt(commit) !== n.term()) {
      this.fail('commit-rule', `leader ${n.id} of term ${n.term()} advanced its commit index from ${s.commit} to ${commit}, an entry of term ${n.termAt(commit)}`);
    }
    s.commit = commit;
    if (commit <= s.recorded) return;
    const from = Math.max(s.recorded, n.snapIndex()) + 1;
    for (let i = from; i <= commit; i++) {
      const e = n.entryAt(i);
      if (e === undefined) continue;
      const known = this.committed.get(i);
      if (known === undefined) {
        this.committed.set(i, { term: e.term, type: e.type, hash: hashBytes(e.data) });
        if (e.type === EntryType.ConfChange) this.committedConfs.set(i, decodeConfEntry(e.data).conf);
      } else if (!sameEntry(known, e)) {
        this.fail('committed-unchanged', `index ${i} was committed with term ${known.term}; node ${n.id} now has term ${e.term} there${known.term === e.term ? ' with other data' : ''} at commit index ${commit}`);
      }
    }
    s.recorded = commit;
    const t = n.termAt(commit);
    if (t !== undefined) this.noteCommitted(commit, t, n.term());
  }

  /**
   * The leader's new commit index was acknowledged (to it, in its term) by a
   * joint quorum of its configuration in force, counting the leader. An
   * acknowledgement sent is a superset of one received, so this never fires
   * on a correct leader; learners and removed nodes are not in the quorum.
   */
  private checkCommitQuorum(n: NodeView): void {
    const conf = n.conf?.();
    if (conf === undefined) return;
    const commit = n.commitIndex();
    const have = new Set<NodeId>([n.id]);
    for (const [id, index] of this.acks.get(`${n.term()}:${n.id}`) ?? []) if (index >= commit) have.add(id);
    if (!hasJointQuorum(conf, have)) {
      this.fail('commit-quorum', `leader ${n.id} of term ${n.term()} committed index ${commit}, acknowledged only by ${[...have].sort((a, b) => a - b)}: not a quorum of ${describeConf(conf)}`);
    }
  }

  /** Follows the configuration entries a leader appends in its term (its log only grows then). */
  private checkLeaderConfs(n: NodeView): void {
    const conf = n.conf?.();
    if (conf === undefined) return;
    const l = this.leaderLogs.get(n.id);
    if (l === undefined || l.incarnation !== n.incarnation || l.term !== n.term()) {
      // A new leader: its latest configuration entry is the one in force (or it was compacted, hence committed).
      let confIndex = n.snapIndex();
      for (let i = n.lastIndex(); i > n.snapIndex(); i--) {
        if (n.entryAt(i)?.type === EntryType.ConfChange) {
          confIndex = i;
          break;
        }
      }
      this.leaderLogs.set(n.id, { incarnation: n.incarnation, term: n.term(), scanned: n.lastIndex(), confIndex, conf });
      return;
    }
    const last = n.lastIndex();
    if (l.scanned < n.snapIndex()) {
      // Entries were compacted before this check saw them (a snapshot taken within one step):
      // start again from the configuration the snapshot carries (checked by 'snapshot-config').
      const sc = n.snapshotConf?.();
      if (sc !== undefined) [l.conf, l.confIndex] = [sc, n.snapIndex()];
      l.scanned = n.snapIndex();
    }
    for (let i = l.scanned + 1; i <= last; i++) {
      const e = n.entryAt(i);
      if (e === undefined || e.type !== EntryType.ConfChange) continue;
      const next = decodeConfEntry(e.data).conf;
      const bad = badTransition(l.conf, next);
      if (bad !== null) this.fail('joint-phase', `leader ${n.id} of term ${n.term()} appended configuration entry ${i}: ${bad}`);
      // The leader's commit index only grows: if the previous entry is uncommitted now, it was then.
      if (l.confIndex > n.commitIndex()) {
        if (isJoint(l.conf) && !isJoint(next)) {
          this.fail('joint-left-after-commit', `leader ${n.id} of term ${n.term()} left the joint configuration (entry ${i}) before entry ${l.confIndex} (${describeConf(l.conf)}) committed (commit index ${n.commitIndex()})`);
        }
        this.fail('one-change-at-a-time', `leader ${n.id} of term ${n.term()} appended configuration entry ${i} while entry ${l.confIndex} was uncommitted (commit index ${n.commitIndex()})`);
      }
      l.confIndex = i;
      l.conf = next;
    }
    l.scanned = Math.max(l.scanned, last);
  }

  /** Log matching over the last entries the two logs share. */
  private checkLogMatching(a: NodeView, b: NodeView): void {
    const lo = Math.max(a.snapIndex(), b.snapIndex()) + 1;
    let k = Math.min(a.lastIndex(), b.lastIndex());
    const floor = Math.max(lo, k - 64);
    while (k >= floor && a.termAt(k) !== b.termAt(k)) k--;
    for (let i = k; i >= Math.max(lo, k - 64); i--) {
      const ea = a.entryAt(i);
      const eb = b.entryAt(i);
      if (ea === undefined || eb === undefined) return;
      if (ea.term !== eb.term || ea.type !== eb.type || hashBytes(ea.data) !== hashBytes(eb.data)) {
        this.fail('log-matching', `nodes ${a.id} and ${b.id} agree on the term at index ${k} (${a.termAt(k)}) but differ at index ${i} (terms ${ea.term} and ${eb.term})`);
      }
    }
  }

  /** Committed entries known so far (for statistics). */
  get committedCount(): number {
    return this.committed.size;
  }
}
