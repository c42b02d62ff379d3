/**
 * The leader's lease timer: it alone decides that a lease has expired, on
 * its own monotonic clock, and proposes `lease-expire` with the lease's
 * generation as it saw it (src/kv/leases.ts explains why that is safe).
 *
 * Deadlines live only in the leader's memory. A lease's deadline is set when
 * the leader first sees its grant or its latest keep-alive applied: TTL from
 * then, but never earlier than TTL plus one election timeout after this
 * node became leader (as etcd does). A keep-alive acknowledged by the old
 * leader is in the log the new leader holds; the extension covers a client
 * whose keep-alive was lost in the change and is retried against the new one.
 */

/** What the timer needs of the node and the store. */
export interface LeaseExpirerOptions {
  /** Every lease in the replicated state (as of this node's last applied command), in any order: walked once per tick, so better not copied. */
  readonly leases: () => Iterable<{ readonly id: number; readonly ttl: number; readonly generation: number }>;
  /** Whether this node leads, and in which term. */
  readonly leadership: () => { readonly leader: boolean; readonly term: number };
  /** Proposes an expiry through the log; resolves once applied (or rejects: retried next tick). */
  readonly proposeExpiry: (id: number, generation: number) => Promise<unknown>;
  /** A monotonic clock (ms), never the wall clock: a wall clock step must not expire leases. */
  readonly now: () => number;
  /** How long every lease is extended when this node becomes leader (ms): at least one election timeout. */
  readonly leaderExtensionMs: number;
}

interface Deadline {
  generation: number;
  at: number;
  /** An expiry for this generation is in flight. */
  proposing: boolean;
  /** The tick that last saw the lease (one that did not: the lease is gone). */
  seen: number;
}

/** Checks the leases' deadlines each {@link tick} while this node leads. */
export class LeaseExpirer {
  private term = -1;
  private leaderSince = 0;
  private deadlines = new Map<number, Deadline>();
  private ticks = 0;
  /** Expiries proposed so far (tests, metrics). */
  proposed = 0;

  constructor(private readonly o: LeaseExpirerOptions) {}

  /** Learns new grants and keep-alives, and proposes the expiry of every lease past its deadline. Cheap when not leader. */
  tick(): void {
    const { leader, term } = this.o.leadership();
    if (!leader) {
      if (this.term !== -1) {
        this.term = -1;
        this.deadlines.clear();
      }
      return;
    }
    const now = this.o.now();
    if (term !== this.term) {
      // A new leadership: nothing carries over from an earlier term of ours.
      this.term = term;
      this.leaderSince = now;
      this.deadlines.clear();
    }
    // One pass over the leases, allocating only for a new deadline: with the default cap of
    // 10,000 leases this runs every 100 ms on the leader (bench/lease-tick.ts measures it).
    const tick = ++this.ticks;
    let seen = 0;
    for (const l of this.o.leases()) {
      seen += 1;
      const ttlMs = l.ttl * 1000;
      let d = this.deadlines.get(l.id);
      if (d === undefined || d.generation !== l.generation) {
        // New, or a keep-alive applied: the deadline restarts from now (a new record: an expiry
        // still in flight for the old generation settles on the old one).
        d = { generation: l.generation, at: Math.max(now + ttlMs, this.leaderSince + ttlMs + this.o.leaderExtensionMs), proposing: false, seen: tick };
        this.deadlines.set(l.id, d);
      } else d.seen = tick;
      if (now >= d.at && !d.proposing) this.expire(l.id, d);
    }
    // Leases gone (revoked, expired) leave deadlines this tick did not see.
    if (this.deadlines.size > seen) for (const [id, d] of this.deadlines) if (d.seen !== tick) this.deadlines.delete(id);
  }

  private expire(id: number, d: Deadline): void {
    d.proposing = true;
    this.proposed += 1;
    const settle = (): void => {
      d.proposing = false;
    };
    this.o.proposeExpiry(id, d.generation).then(settle, settle);
  }

  /** Milliseconds until lease `id` expires by this leader's clock, or null if this node does not lead or has not seen it yet. */
  remainingMs(id: number): number | null {
    if (this.term === -1) return null;
    const d = this.deadlines.get(id);
    return d === undefined ? null : Math.max(0, d.at - this.o.now());
  }
}
