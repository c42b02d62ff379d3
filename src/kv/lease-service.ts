import type { Replica } from '../node/replica.js';
import { encode } from '../util/codec.js';
import { AuthError } from '../auth/commands.js';
import { KvSessionError, validateSession, type KvResult, type Session } from './commands.js';
import { DEFAULT_MAX_LEASES, LeaseLimitError, LeaseNotFoundError, validateLeaseId, validateTtl, type LeaseCommand, type LeaseCommandResult, type LeaseView } from './leases.js';
import type { Consistency } from './service.js';
import type { KvStateMachine } from './state-machine.js';

/**
 * The lease API (`/v1/leases`, docs/API.md "Leases") over a replica of the
 * KV store: grants, keep-alives and revokes go through the log; reads are
 * served like key reads. With a session (the X-Client-Id and X-Request-Seq
 * headers), a retried grant, keep-alive or revoke applies once and answers
 * what the first did: a grant's retry returns the same lease. Errors:
 * `KvInputError` (bad TTL or id), {@link LeaseNotFoundError},
 * {@link LeaseLimitError} (`--max-leases` reached), `KvSessionError`,
 * `AuthError` (a revoke refused at apply time), and the replica's errors.
 */
export class LeaseService {
  constructor(
    private readonly replica: Replica<KvResult>,
    private readonly sm: KvStateMachine,
    /** The leader's precise time left (ms) for a lease, or null where this node does not know it (not leader). */
    private readonly remainingMs: (id: number) => number | null = () => null,
    /** The wall clock written into each command (for estimates on followers, never for expiry). */
    private readonly now: () => number = Date.now,
    /** `--max-leases`: a grant finding this many leases is refused (checked here, and at apply time from the command). */
    readonly maxLeases: number = DEFAULT_MAX_LEASES,
  ) {}

  private async propose(cmd: LeaseCommand): Promise<LeaseCommandResult> {
    const { result } = await this.replica.propose(encode(cmd));
    if (!result.ok) {
      if (result.error === 'not-found') throw new LeaseNotFoundError(result.message);
      if (result.error === 'unauthenticated' || result.error === 'permission-denied') throw new AuthError(result.error, result.message);
      if (result.error === 'too-many-leases') throw new LeaseLimitError(result.message, result.maxLeases);
      if (result.error === 'session-expired' || result.error === 'stale-request') throw new KvSessionError(result.error, result.message);
      throw new Error(`lease command refused: ${result.message}`);
    }
    if (result.op !== 'lease') throw new Error('lease command answered by another operation');
    return result;
  }

  /**
   * Grants a lease of `ttl` seconds; its id is the revision of the grant. Refused with
   * {@link LeaseLimitError} before anything is proposed when this node's state already
   * holds {@link maxLeases} leases (and at apply time, from the cap the command carries).
   */
  async grant(ttl: unknown, session?: unknown): Promise<{ id: number; ttl: number; revision: number }> {
    const t = validateTtl(ttl);
    const s = sessionOf(session);
    // A retry of a grant that applied must get its answer, not a refusal: only a new session request is pre-checked.
    if (this.sm.leaseCount >= this.maxLeases && !this.sm.hasSessionAt(s)) {
      throw new LeaseLimitError(`the store holds ${this.sm.leaseCount} leases, its maximum (--max-leases ${this.maxLeases}); revoke leases no longer needed, or raise --max-leases on every node`, this.maxLeases);
    }
    const r = await this.propose({ kind: 'lease-grant', ttl: t, time: this.now(), maxLeases: this.maxLeases, ...(s !== undefined && { session: s }) });
    return { id: r.id, ttl: r.ttl, revision: r.revision };
  }

  /** Renews lease `id` for its full TTL (a log entry: the leader restarts its deadline when it sees it applied). */
  async keepAlive(id: unknown, session?: unknown): Promise<{ id: number; ttl: number; revision: number }> {
    const s = sessionOf(session);
    const r = await this.propose({ kind: 'lease-keepalive', id: validateLeaseId(id), time: this.now(), ...(s !== undefined && { session: s }) });
    return { id: r.id, ttl: r.ttl, revision: r.revision };
  }

  /** Revokes lease `id`: its keys are deleted at the revision returned. `by`: the caller's token hash (auth on). */
  async revoke(id: unknown, by?: string, session?: unknown): Promise<{ id: number; revision: number; deletedKeys: number }> {
    const s = sessionOf(session);
    const r = await this.propose({ kind: 'lease-revoke', id: validateLeaseId(id), time: this.now(), ...(by !== undefined && { by }), ...(s !== undefined && { session: s }) });
    return { id: r.id, revision: r.revision, deletedKeys: r.deletedKeys };
  }

  /** Every lease, by id. */
  async list(consistency: Consistency = 'linearizable'): Promise<LeaseView[]> {
    return this.replica.read(
      () =>
        this.sm.leases().map((l) => {
          const full = this.sm.lease(l.id)!;
          return this.view(full);
        }),
      consistency,
    );
  }

  /** Lease `id`, with its keys; throws {@link LeaseNotFoundError}. */
  async get(id: unknown, consistency: Consistency = 'linearizable'): Promise<LeaseView> {
    const n = validateLeaseId(id);
    const l = await this.replica.read(() => this.sm.lease(n), consistency);
    if (l === undefined) throw new LeaseNotFoundError(`lease ${n} does not exist (never granted, revoked, or expired)`);
    return this.view(l);
  }

  /**
   * Time left: the leader's deadline where this node leads; elsewhere an
   * estimate from the wall-clock time of the last renewal (replicated) and
   * this node's wall clock, never more than the TTL.
   */
  private view(l: { id: number; ttl: number; generation: number; renewedAt: number; keys: string[] }): LeaseView {
    const ms = this.remainingMs(l.id) ?? Math.min(l.ttl * 1000, Math.max(0, l.renewedAt + l.ttl * 1000 - this.now()));
    return { id: l.id, ttl: l.ttl, remaining: Math.ceil(ms / 1000), generation: l.generation, keys: l.keys };
  }
}

function sessionOf(s: unknown): Session | undefined {
  return s === undefined ? undefined : validateSession(s);
}
