/**
 * Leases of the KV store (docs/API.md "Leases"), as etcd has them: a lease
 * is granted with a TTL, keys are attached to it by a put, and when it is
 * revoked or expires every key attached to it is deleted at that one
 * revision. Not to be confused with the leader's read lease (src/core/lease.ts).
 *
 * Every change of a lease is a log entry, keep-alives included: each
 * keep-alive bumps the lease's generation. Expiry is decided by the leader
 * only (src/kv/lease-expirer.ts), on its own monotonic clock, and proposed as
 * `lease-expire` carrying the generation the leader saw; the state machine
 * applies it only if the lease still has that generation, so a keep-alive
 * that reached the log first wins. The state machine never reads a clock.
 */
import { KvInputError, type Session } from './commands.js';

/** The shortest TTL a lease may be granted with (seconds). */
export const MIN_LEASE_TTL = 1;
/** The longest TTL a lease may be granted with (seconds): one year. */
export const MAX_LEASE_TTL = 365 * 24 * 3600;
/** Leases a store may hold at once unless `--max-leases` says otherwise: the leader's timer checks every one each tick. */
export const DEFAULT_MAX_LEASES = 10_000;

/**
 * The commands that change leases. `time` is the proposer's wall clock (ms), as every command carries.
 * `session` (optional, absent in commands of older versions): the client's session, so a retried
 * grant, keep-alive or revoke applies once and answers what the first did (like a KV write).
 * `maxLeases` (optional, absent in older commands: no cap): the proposer's `--max-leases`; a grant
 * that finds that many leases is refused at apply time.
 */
export type LeaseCommand =
  | { readonly kind: 'lease-grant'; readonly ttl: number; readonly time: number; readonly session?: Session | undefined; readonly maxLeases?: number | undefined }
  | { readonly kind: 'lease-keepalive'; readonly id: number; readonly time: number; readonly session?: Session | undefined }
  /** `by`: the caller's token hash; revoking deletes keys, so it needs write permission on each of them. */
  | { readonly kind: 'lease-revoke'; readonly id: number; readonly time: number; readonly by?: string | undefined; readonly session?: Session | undefined }
  /** Proposed by the leader's timer only: applies only while the lease is still at `generation`. */
  | { readonly kind: 'lease-expire'; readonly id: number; readonly generation: number; readonly time: number };

const KINDS = new Set(['lease-grant', 'lease-keepalive', 'lease-revoke', 'lease-expire']);

/** Whether a decoded command is a lease command (not a key-value write). */
export function isLeaseCommand(c: unknown): c is LeaseCommand {
  return typeof c === 'object' && c !== null && KINDS.has((c as { kind?: unknown }).kind as string);
}

/** What a lease command answered. `applied` is false for an expiry that lost to a keep-alive or revoke. */
export interface LeaseCommandResult {
  readonly ok: true;
  readonly op: 'lease';
  readonly action: 'grant' | 'keepalive' | 'revoke' | 'expire';
  readonly revision: number;
  readonly id: number;
  /** The granted TTL (seconds); 0 when the lease is gone. */
  readonly ttl: number;
  /** The lease's generation after the command (keep-alives applied since the grant). */
  readonly generation: number;
  /** Keys deleted with the lease (revoke, expire). */
  readonly deletedKeys: number;
  readonly applied: boolean;
}

/** A lease as `GET /v1/leases` lists it. */
export interface LeaseView {
  readonly id: number;
  /** The TTL it was granted with (seconds). */
  readonly ttl: number;
  /** Seconds until it expires unless kept alive: the leader's deadline, or an estimate elsewhere (see {@link LeaseTable}). */
  readonly remaining: number;
  /** Keep-alives applied since the grant. */
  readonly generation: number;
  /** The keys attached to it, in order. */
  readonly keys: readonly string[];
}

/** A lease named by a request does not exist (never granted, revoked, or expired). */
export class LeaseNotFoundError extends Error {
  override name = 'LeaseNotFoundError';
}

/** A grant refused because the store holds its maximum of leases (`--max-leases`). */
export class LeaseLimitError extends Error {
  override name = 'LeaseLimitError';
  constructor(
    message: string,
    readonly maxLeases: number,
  ) {
    super(message);
  }
}

/** Checks a TTL from a request (whole seconds within bounds); throws {@link KvInputError}. */
export function validateTtl(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < MIN_LEASE_TTL || v > MAX_LEASE_TTL) {
    throw new KvInputError(`ttl must be a whole number of seconds from ${MIN_LEASE_TTL} to ${MAX_LEASE_TTL}, got ${JSON.stringify(v) ?? 'nothing'}`);
  }
  return v;
}

/** Checks a lease id from a request (a positive integer: the revision of its grant); throws {@link KvInputError}. */
export function validateLeaseId(v: unknown, what = 'lease id'): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) throw new KvInputError(`${what} must be a positive integer, got ${JSON.stringify(v) ?? 'nothing'}`);
  return n;
}

/** A lease in the replicated state. Its keys are also marked on their records (KvRecord.lease). */
export interface LeaseState {
  readonly id: number;
  readonly ttl: number;
  generation: number;
  /** The proposer's wall clock (ms) at the grant or last keep-alive: for estimates on followers only, never for expiry. */
  renewedAt: number;
  readonly keys: Set<string>;
}

/** A lease in a snapshot; its keys come back from the records. */
export type SnapLease = [id: number, ttl: number, generation: number, renewedAt: number];

/** The leases of one state machine, by id (the revision of the grant). */
export class LeaseTable {
  private leases = new Map<number, LeaseState>();

  get size(): number {
    return this.leases.size;
  }

  get(id: number): LeaseState | undefined {
    return this.leases.get(id);
  }

  grant(id: number, ttl: number, time: number): LeaseState {
    const l: LeaseState = { id, ttl, generation: 0, renewedAt: time, keys: new Set() };
    this.leases.set(id, l);
    return l;
  }

  /** Removes the lease; returns its keys in order (the caller deletes them). */
  remove(id: number): string[] {
    const l = this.leases.get(id);
    this.leases.delete(id);
    return l === undefined ? [] : [...l.keys].sort();
  }

  entries(): IterableIterator<[number, LeaseState]> {
    return this.leases.entries();
  }

  /** Every lease, in no particular order, without copying (the leader's timer walks them each tick). */
  values(): IterableIterator<LeaseState> {
    return this.leases.values();
  }

  snapshot(): SnapLease[] {
    return [...this.leases].map(([id, l]) => [id, l.ttl, l.generation, l.renewedAt]);
  }

  /** Replaces every lease with the snapshot's (keys empty: the caller re-attaches them from the records). */
  restore(snap: readonly SnapLease[] | undefined): void {
    this.leases = new Map((snap ?? []).map(([id, ttl, generation, renewedAt]) => [id, { id, ttl, generation, renewedAt, keys: new Set<string>() }]));
  }

  /** A canonical text of every lease, for the state digest. */
  canonical(): string {
    return [...this.leases.keys()]
      .sort((a, b) => a - b)
      .map((id) => {
        const l = this.leases.get(id)!;
        return `${id}:${l.ttl}:${l.generation}:${l.renewedAt}:${[...l.keys].sort().join('\u0000')}`;
      })
      .join('\n');
  }
}
