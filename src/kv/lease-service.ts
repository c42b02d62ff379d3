import type { Replica } from '../node/replica.js';
import { encode } from '../util/codec.js';
import { AuthError } from '../auth/commands.js';
import type { KvResult } from './commands.js';
import { LeaseNotFoundError, validateLeaseId, validateTtl, type LeaseCommand, type LeaseCommandResult, type LeaseView } from './leases.js';
import type { Consistency } from './service.js';
import type { KvStateMachine } from './state-machine.js';

/**
 * The lease API (`/v1/leases`, docs/API.md "Leases") over a replica of the
 * KV store: grants, keep-alives and revokes go through the log; reads are
 * served like key reads. Errors: `KvInputError` (bad TTL or id),
 * {@link LeaseNotFoundError}, `AuthError` (a revoke refused at apply time), and
 * the replica's errors.
 */
export class LeaseService {
  constructor(
    private readonly replica: Replica<KvResult>,
    private readonly sm: KvStateMachine,
    /** The leader's precise time left (ms) for a lease, or null where this node does not know it (not leader). */
    private readonly remainingMs: (id: number) => number | null = () => null,
    /** The wall clock written into each command (for estimates on followers, never for expiry). */
    private readonly now: () => number = Date.now,
  ) {}

  private async propose(cmd: LeaseCommand): Promise<LeaseCommandResult> {
    const { result } = await this.replica.propose(encode(cmd));
    if (!result.ok) {
      if (result.error === 'not-found') throw new LeaseNotFoundError(result.message);
      if (result.error === 'unauthenticated' || result.error === 'permission-denied') throw new AuthError(result.error, result.message);
      throw new Error(`lease command refused: ${result.message}`);
    }
    if (result.op !== 'lease') throw new Error('lease command answered by another operation');
    return result;
  }

  /** Grants a lease of `ttl` seconds; its id is the revision of the grant. */
  async grant(ttl: unknown): Promise<{ id: number; ttl: number; revision: number }> {
    const r = await this.propose({ kind: 'lease-grant', ttl: validateTtl(ttl), time: this.now() });
    return { id: r.id, ttl: r.ttl, revision: r.revision };
  }

  /** Renews lease `id` for its full TTL (a log entry: the leader restarts its deadline when it sees it applied). */
  async keepAlive(id: unknown): Promise<{ id: number; ttl: number; revision: number }> {
    const r = await this.propose({ kind: 'lease-keepalive', id: validateLeaseId(id), time: this.now() });
    return { id: r.id, ttl: r.ttl, revision: r.revision };
  }

  /** Revokes lease `id`: its keys are deleted at the revision returned. `by`: the caller's token hash (auth on). */
  async revoke(id: unknown, by?: string): Promise<{ id: number; revision: number; deletedKeys: number }> {
    const r = await this.propose({ kind: 'lease-revoke', id: validateLeaseId(id), time: this.now(), ...(by !== undefined && { by }) });
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
