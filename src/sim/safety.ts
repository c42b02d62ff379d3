import { MessageType, type Entry, type Message, type NodeId, type Role } from '../core/types.js';
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
  /** Terms in which a leader was elected (for the statistics). */
  leaderChanges = 0;

  constructor(private readonly logCheckEveryMs = 50) {}

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
    if (m.type === MessageType.VoteResp && m.granted) {
      this.promisesOf(m.from).votes.set(m.term, m.to);
    } else if ((m.type === MessageType.AppResp && m.success) || (m.type === MessageType.SnapResp && m.done)) {
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

  /** A node restarted from `state`: it must still hold what it promised before the crash. */
  onRecover(id: NodeId, state: StorageState): void {
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
    for (const n of nodes) this.checkCommit(n);
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
      if (known === undefined) this.committed.set(i, { term: e.term, type: e.type, hash: hashBytes(e.data) });
      else if (!sameEntry(known, e)) {
        this.fail('committed-unchanged', `index ${i} was committed with term ${known.term}; node ${n.id} now has term ${e.term} there${known.term === e.term ? ' with other data' : ''} at commit index ${commit}`);
      }
    }
    s.recorded = commit;
    const t = n.termAt(commit);
    if (t !== undefined) this.noteCommitted(commit, t, n.term());
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
