import type { NodeId } from './types.js';

export type VoteResult = 'won' | 'lost' | 'pending';

/**
 * A set of voters deciding by simple majority. All quorum arithmetic lives
 * here, so a joint configuration (old ∧ new) can replace it for membership
 * changes without touching the callers.
 */
export class MajorityConfig {
  readonly voters: readonly NodeId[];
  /** {@link committedIndex}'s work space: it runs on every acknowledgement, and a sort allocates. */
  private readonly acked: Float64Array;

  constructor(voters: Iterable<NodeId>) {
    this.voters = [...new Set(voters)].sort((a, b) => a - b);
    if (this.voters.length === 0) throw new RangeError('a configuration needs at least one voter');
    this.acked = new Float64Array(this.voters.length);
  }

  /** Votes needed to win. */
  quorum(): number {
    return Math.floor(this.voters.length / 2) + 1;
  }

  has(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  /**
   * The highest index acknowledged by a majority, given each voter's
   * acknowledged index (0 when unknown).
   */
  committedIndex(acked: (id: NodeId) => number): number {
    // Insertion sort, highest first: a handful of voters.
    const idx = this.acked;
    for (let i = 0; i < this.voters.length; i++) {
      const v = acked(this.voters[i]!);
      let j = i;
      for (; j > 0 && idx[j - 1]! < v; j--) idx[j] = idx[j - 1]!;
      idx[j] = v;
    }
    return idx[this.quorum() - 1]!;
  }

  /** Whether `ids` include a majority of the voters. */
  isQuorum(ids: ReadonlySet<NodeId>): boolean {
    let n = 0;
    for (const id of this.voters) if (ids.has(id)) n++;
    return n >= this.quorum();
  }

  /** Outcome of an election given the answers received so far. */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    let granted = 0;
    let missing = 0;
    for (const id of this.voters) {
      const v = votes.get(id);
      if (v === undefined) missing++;
      else if (v) granted++;
    }
    const q = this.quorum();
    if (granted >= q) return 'won';
    if (granted + missing >= q) return 'pending';
    return 'lost';
  }
}

/**
 * The quorum of a configuration: a majority of `incoming`, and while joint
 * (C_old,new) a majority of `outgoing` too (dissertation §4.3). Learners are
 * never part of it.
 */
export class JointConfig {
  readonly incoming: MajorityConfig | null;
  readonly outgoing: MajorityConfig | null;

  constructor(incoming: readonly NodeId[], outgoing: readonly NodeId[]) {
    // A node waiting to join has no voters at all: no quorum is ever reached.
    this.incoming = incoming.length > 0 ? new MajorityConfig(incoming) : null;
    this.outgoing = outgoing.length > 0 ? new MajorityConfig(outgoing) : null;
  }

  /** Voters of either half, sorted, without duplicates. */
  get voters(): readonly NodeId[] {
    return [...new Set([...(this.incoming?.voters ?? []), ...(this.outgoing?.voters ?? [])])].sort((a, b) => a - b);
  }

  has(id: NodeId): boolean {
    return (this.incoming?.has(id) ?? false) || (this.outgoing?.has(id) ?? false);
  }

  /** The highest index both halves have acknowledged by majority. */
  committedIndex(acked: (id: NodeId) => number): number {
    if (this.incoming === null) return 0;
    const inc = this.incoming.committedIndex(acked);
    return this.outgoing === null ? inc : Math.min(inc, this.outgoing.committedIndex(acked));
  }

  isQuorum(ids: ReadonlySet<NodeId>): boolean {
    if (this.incoming === null) return false;
    return this.incoming.isQuorum(ids) && (this.outgoing?.isQuorum(ids) ?? true);
  }

  /** Won if both halves are won; lost if either is lost. */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    if (this.incoming === null) return 'lost';
    const a = this.incoming.voteResult(votes);
    const b = this.outgoing?.voteResult(votes) ?? 'won';
    if (a === 'won' && b === 'won') return 'won';
    if (a === 'lost' || b === 'lost') return 'lost';
    return 'pending';
  }
}
