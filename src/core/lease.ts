import type { CanaryName } from '../util/canary.js';
import { ConfigError, type RaftOptions } from './config.js';
import type { NodeId } from './types.js';

/**
 * Lease reads (dissertation §6.4.1), in ticks only.
 *
 * Why a lease is safe. With check quorum on, a follower refuses every vote
 * and pre-vote (but a leadership transfer's) while it has heard from its
 * leader within the last `electionTicks` of its own ticks: `Raft.inLease`
 * compares `electionElapsed`, reset whenever the leader's append, heartbeat
 * or snapshot arrives, with the fixed `electionTicks`, never with the
 * randomized timeout, so randomization only makes followers wait longer. A
 * node that has just started knows of no leader; with lease reads on it
 * refuses votes for its first `electionTicks` ticks too ({@link bootGuard}),
 * so a restart cannot shorten the wait; and while it follows a live leader it
 * ignores a newer term carried by anything but a leader's message
 * ({@link Lease.keepsLeader}). Every winner of a later term needs
 * the vote of a quorum, which intersects the quorum that acknowledged a
 * heartbeat round sent at leader tick `a`; each of those followers reset its
 * timer no earlier than the send, and its ticks are at least a tick apart, so
 * it votes no earlier than `(electionTicks - 1)` of its ticks after the send.
 * The leader's k-th tick comes no earlier than k ticks of its clock after it
 * started, and the driver catches its ticks up before a lease read, so a read
 * at tick `c < a + L` happens less than `L` ticks of the leader's clock after
 * the send. With both clocks within `maxClockDriftPpm` of real time, the
 * lease is safe if `L / (1 - d) <= (electionTicks - 1) / (1 + d)`:
 * {@link leaseTicks}. The one tick taken off is the follower's tick
 * granularity (its first tick after a receipt may come at once).
 *
 * What voids it. Another term's leader: the lease belongs to this term's
 * leadership and starts empty on each election. A leadership transfer: the
 * target's vote request carries the transfer flag, which followers grant
 * despite their lease, so the lease is void from the moment a transfer starts;
 * once a TimeoutNow has been sent it stays void for the rest of the term (a
 * late TimeoutNow can still start an election). A configuration change: only
 * a round sent after the configuration in force last changed counts, and its
 * acknowledgements must form a quorum of that configuration (both halves
 * while joint), the quorums elections then need.
 */
export class Lease {
  /** This leader's ticks since it was elected. */
  private ticks = 0;
  /** The lease holds while {@link ticks} is below this. */
  private until = 0;
  /** Heartbeat rounds in flight: when each was sent and who answered it. */
  private readonly rounds = new Map<number, { readonly at: number; readonly acks: Set<NodeId> }>();
  /** A TimeoutNow went out this term: no lease until the next election. */
  private voidForTerm = false;
  /** Ticks since this node started: with lease reads on, it refuses votes for the first election timeout. */
  private sinceBoot = 0;
  private servedCount = 0;

  constructor(
    private readonly self: NodeId,
    /** Ticks a lease lasts after the send of its round; 0 when lease reads are off. */
    readonly duration: number,
    private readonly electionTicks: number,
    /** The quorum in force: it changes with the configuration. */
    private readonly quorum: () => { isQuorum(ids: ReadonlySet<NodeId>): boolean },
  ) {}

  /** Whether lease reads are configured at all. */
  get enabled(): boolean {
    return this.duration > 0;
  }

  /** One tick of this node. */
  tick(): void {
    this.ticks++;
    if (this.sinceBoot < this.electionTicks) this.sinceBoot++;
  }

  /** This node just started and lease reads are on: it must not vote yet (a leader may still count on it). */
  bootGuard(): boolean {
    return this.enabled && this.sinceBoot < this.electionTicks;
  }

  /**
   * With lease reads on, a follower that heard from its leader within the
   * election timeout ignores a newer term carried by anything but a leader's
   * message, as if it were lost: a late reply from a node that has since
   * campaigned would otherwise make it forget its leader and grant that node
   * its vote while the leader still counts on its lease.
   */
  keepsLeader(followingLiveLeader: boolean, fromLeader: boolean): boolean {
    return this.enabled && followingLiveLeader && !fromLeader;
  }

  /**
   * A lease read: true (and counted in {@link served}) if the lease holds. The
   * caller checks the rest first: this node leads, has committed an entry of
   * its term, and transfers no leadership. Otherwise the read takes a round.
   */
  grant(): boolean {
    if (!this.holds()) return false;
    this.servedCount++;
    return true;
  }

  /** Reads answered from the lease since this node started. */
  get served(): number {
    return this.servedCount;
  }

  /** Does the lease hold now? The caller checks the rest (leader, term commit, no transfer). */
  holds(): boolean {
    return this.enabled && !this.voidForTerm && this.ticks < this.until;
  }

  /** A heartbeat round went out now. */
  sent(round: number): void {
    if (!this.enabled || round <= 0) return;
    // Rounds sent a lease ago can no longer extend it (rounds are kept in the order they were sent).
    for (const [r, v] of this.rounds) {
      if (v.at + this.duration > this.ticks) break;
      this.rounds.delete(r);
    }
    this.rounds.set(round, { at: this.ticks, acks: new Set([this.self]) });
    this.extend(round); // a single voter needs no answer
  }

  /**
   * `from` answered round `round`: it had heard from this leader no earlier
   * than that round's send, and so no earlier than any earlier round's.
   */
  ack(from: NodeId, round: number): void {
    if (!this.enabled) return;
    let best = 0;
    for (const [r, v] of this.rounds) {
      if (r > round) break;
      v.acks.add(from);
      if (this.quorum().isQuorum(v.acks)) best = r;
    }
    if (best === 0) return;
    this.extend(best);
    // Rounds up to the one that made the lease can extend it no further.
    for (const r of this.rounds.keys()) {
      if (r > best) break;
      this.rounds.delete(r);
    }
  }

  /** A new leadership: nothing of an earlier one counts. */
  reset(): void {
    this.ticks = 0;
    this.until = 0;
    this.rounds.clear();
    this.voidForTerm = false;
  }

  /**
   * The lease ends now and rounds sent so far no longer count: a transfer
   * began, or the configuration in force changed.
   */
  revoke(): void {
    this.until = 0;
    this.rounds.clear();
  }

  /** A TimeoutNow went out: void until the next election. */
  timeoutNowSent(): void {
    this.revoke();
    this.voidForTerm = true;
  }

  private extend(round: number): void {
    const v = this.rounds.get(round);
    if (v === undefined || !this.quorum().isQuorum(v.acks)) return;
    this.until = Math.max(this.until, v.at + this.duration);
  }
}

/**
 * How many ticks a lease lasts: the largest `L` with
 * `L / (1 - d) <= (electionTicks - 1) / (1 + d)`, `d` the drift bound (see
 * {@link Lease}); 0 when lease reads are off. Throws {@link ConfigError} if
 * lease reads are on without check quorum (followers would not refuse votes,
 * so nothing bounds when another leader may be elected), or if the timeouts
 * leave no lease at all.
 */
export function leaseTicks(o: Pick<RaftOptions, 'leaseReads' | 'checkQuorum' | 'electionTicks' | 'maxClockDriftPpm'>, canary?: CanaryName): number {
  if (!o.leaseReads) return 0;
  if (!o.checkQuorum) {
    throw new ConfigError('leaseReads requires checkQuorum: without it a follower may vote for another leader while this one still counts on its lease', 'leaseReads');
  }
  // Canary 'lease-outlives-bound': the lease lasts the longest randomized election timeout.
  if (canary === 'lease-outlives-bound') return 2 * o.electionTicks;
  const d = o.maxClockDriftPpm / 1e6;
  const ticks = Math.floor(((o.electionTicks - 1) * (1 - d)) / (1 + d));
  if (ticks < 1) {
    throw new ConfigError(`leaseReads: electionTicks ${o.electionTicks} with maxClockDriftPpm ${o.maxClockDriftPpm} leaves no lease (it must last at least one tick)`, 'leaseReads');
  }
  return ticks;
}
