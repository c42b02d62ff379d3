/**
 * A lease kept alive by this process: what a lock holder or a leadership
 * candidate stands on (docs/RECIPES.md). Its `signal` aborts the moment the
 * lease is gone or *may* be gone, so the holder stops acting on a lock it may
 * no longer hold.
 */
import { KvClientError, type KvClient } from '../index.js';

/** Why a {@link LeaseSession} ended: the reason its `signal` carries. */
export type LeaseLostReason =
  /** The cluster said the lease does not exist (it expired or was revoked). */
  | 'expired'
  /** No keep-alive succeeded within the TTL: the lease may have expired (a partition, a stalled process). */
  | 'deadline'
  /** The key the recipe stands on was deleted by someone else. */
  | 'deleted'
  /** {@link LeaseSession.close} (or a release, a resign) ended it on purpose. */
  | 'closed';

/** The reason of an aborted {@link LeaseSession.signal} or lock/leadership `signal`. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
  constructor(
    message: string,
    readonly reason: LeaseLostReason,
    /** The lease. */
    readonly leaseId: number,
  ) {
    super(message);
  }
}

/** Options of {@link LeaseSession.open}. */
export interface LeaseSessionOptions {
  /** The lease's TTL in whole seconds (default 10). A holder that stops renewing loses everything after this long. */
  readonly ttl?: number;
  /** How often to renew (ms); default a third of the TTL. */
  readonly keepAliveIntervalMs?: number;
}

/**
 * A lease granted on open and renewed until {@link close}. `signal` aborts
 * (with a {@link LeaseLostError}) when the cluster answers that the lease is
 * gone, or when no keep-alive succeeded within one TTL of being *sent*: the
 * leader counts the TTL from when it applied the keep-alive, which is later,
 * so this process gives up before the cluster can have expired the lease
 * (provided the two clocks run at the same rate, within the cluster's drift
 * bound).
 */
export class LeaseSession {
  private readonly controller = new AbortController();
  private deadlineTimer: NodeJS.Timeout | undefined;
  private beatTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | null = null;
  private renewing = true;
  private closed = false;
  /** @internal Keys of this lease a recipe stands on now (a session queues once at a time per lock or election). */
  readonly claimed = new Set<string>();

  private constructor(
    private readonly client: KvClient,
    /** The lease id (the revision of its grant). */
    readonly id: number,
    /** The TTL in seconds. */
    readonly ttl: number,
    sentAt: number,
    intervalMs: number,
  ) {
    this.armDeadline(sentAt);
    void this.renew(intervalMs);
  }

  /** Grants a lease of `ttl` seconds and starts renewing it. */
  static async open(client: KvClient, opts: LeaseSessionOptions = {}): Promise<LeaseSession> {
    const ttl = opts.ttl ?? 10;
    const sentAt = performance.now();
    const lease = await client.grantLease(ttl);
    return new LeaseSession(client, lease.id, lease.ttl, sentAt, opts.keepAliveIntervalMs ?? Math.max(100, (lease.ttl * 1000) / 3));
  }

  /** Aborts when the lease is lost or may be lost, or the session is closed; its `reason` is a {@link LeaseLostError}. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** True while the lease is believed held. */
  get alive(): boolean {
    return !this.controller.signal.aborted;
  }

  /** Ends the session (aborting `signal` with reason `closed`) and revokes the lease: every key attached to it is deleted at once. */
  async close(): Promise<void> {
    // A lease given up on by the deadline may still be alive on the cluster: revoke it so its keys go now, not a TTL later.
    const gone = this.closed || (this.signal.reason as LeaseLostError | undefined)?.reason === 'expired';
    this.closed = true;
    this.end(new LeaseLostError(`lease ${this.id} closed`, 'closed', this.id));
    if (gone) return;
    try {
      await this.client.revokeLease(this.id);
    } catch (e) {
      // Already expired: nothing left to revoke.
      if (!(e instanceof KvClientError && e.code === 'lease-not-found')) throw e;
    }
  }

  /**
   * Stops renewing without revoking, as a crashed or paused process would:
   * the lease (and every key on it) goes when the cluster expires it, one TTL
   * later; `signal` aborts (reason `deadline`) when this process's own
   * deadline passes. Used to hand keys over to expiry, and by the tests that
   * show fencing at work.
   */
  abandon(): void {
    this.renewing = false;
    clearTimeout(this.beatTimer);
    this.wake?.();
  }

  /** Aborts `signal` with `error` (once) and stops everything. */
  private end(error: LeaseLostError): void {
    this.renewing = false;
    clearTimeout(this.beatTimer);
    clearTimeout(this.deadlineTimer);
    this.wake?.();
    if (!this.controller.signal.aborted) this.controller.abort(error);
  }

  private armDeadline(sentAt: number): void {
    clearTimeout(this.deadlineTimer);
    const left = sentAt + this.ttl * 1000 - performance.now();
    this.deadlineTimer = setTimeout(() => this.end(new LeaseLostError(`lease ${this.id}: no keep-alive succeeded within its TTL of ${this.ttl} s; it may have expired`, 'deadline', this.id)), Math.max(0, left));
    this.deadlineTimer.unref?.();
  }

  private async renew(intervalMs: number): Promise<void> {
    for (;;) {
      await new Promise<void>((r) => {
        this.wake = r;
        this.beatTimer = setTimeout(r, intervalMs);
      });
      if (!this.renewing) return;
      const sentAt = performance.now();
      try {
        await this.client.keepAlive(this.id);
        if (!this.renewing) return;
        this.armDeadline(sentAt);
      } catch (e) {
        if (e instanceof KvClientError && e.code === 'lease-not-found') {
          this.end(new LeaseLostError(`lease ${this.id} expired or was revoked`, 'expired', this.id));
          return;
        }
        // Unreachable for now: the next beat retries; the deadline ends the session if none succeeds in time.
      }
    }
  }
}
