/**
 * A distributed lock on leases and transactions (docs/RECIPES.md): each
 * contender puts `<name>/<leaseId>` on its own lease; the lowest create
 * revision holds the lock, the others each wait for the key just before
 * theirs to go. The holder's **fencing token** is its key's create revision:
 * a write guarded by it ({@link guardedPut}, {@link LockHandle.fence}) applies
 * only while the holder still holds the lock, which is what makes the lock
 * safe against a holder that paused past its lease.
 */
import type { KvClient, TxnCompare, TxnOp, TxnResponse } from '../index.js';
import { fenceCompare, joinAndWait, type HeldKey, type QueueOptions } from './hold.js';
import { prefixOf, scan } from './queue.js';

export { fenceCompare };

/** Options of {@link DistributedLock}. */
export interface LockOptions {
  /** TTL (s) of the lease each acquisition opens when it is given no session (default 10). */
  readonly ttl?: number;
}

/** Options of {@link DistributedLock.acquire}. */
export interface AcquireOptions extends QueueOptions {
  /** Stored in the lock's key (who holds it, for humans). Default "". */
  readonly value?: string;
}

/** A held lock. Stop acting on the protected resource when `signal` aborts. */
export interface LockHandle extends HeldKey {
  /** Releases the lock: revokes its own lease (deleting the key), or deletes only the key if the lease was given. */
  release(): Promise<void>;
}

/** A named lock: every `DistributedLock` of the same name on the same cluster excludes the others. */
export class DistributedLock {
  private readonly prefix: string;

  constructor(
    private readonly client: KvClient,
    /** The key prefix the contenders queue under (`locks/jobs` → keys `locks/jobs/<leaseId>`). */
    readonly name: string,
    private readonly opts: LockOptions = {},
  ) {
    this.prefix = prefixOf(name);
  }

  /**
   * Waits for the lock, in order of arrival (create revision), and returns
   * the handle. On timeout or abort it leaves the queue (revoking its own
   * lease, or deleting its key) before rejecting with the signal's reason.
   */
  async acquire(opts: AcquireOptions = {}): Promise<LockHandle> {
    const hold = await joinAndWait(this.client, this.prefix, this.opts.ttl, opts.value ?? '', opts);
    return { ...hold.view(), release: () => hold.end('released') };
  }

  /** The current holder's key, token and value, or null if nobody holds the lock. */
  async holder(): Promise<{ key: string; token: number; value: string } | null> {
    const head = (await scan(this.client, this.prefix)).entries[0];
    return head === undefined ? null : { key: head.key, token: head.createRevision, value: head.value };
  }
}

/**
 * Puts `key` = `value` only if the holder of `fence.token` still holds the
 * lock (`fence.key`'s create revision is still the token), atomically with
 * the check. `succeeded` false: refused because the lock was lost; nothing
 * was written.
 */
export function guardedPut(client: KvClient, fence: { readonly key: string; readonly token: number }, key: string, value: string): Promise<TxnResponse> {
  return guardedTxn(client, fence, [{ op: 'put', key, value }]);
}

/** Applies `ops` only while the holder of `fence.token` holds the lock at `fence.key` and the `extra` compares hold. */
export function guardedTxn(client: KvClient, fence: { readonly key: string; readonly token: number }, ops: readonly TxnOp[], extra: readonly TxnCompare[] = []): Promise<TxnResponse> {
  return client.txn({ compare: [fenceCompare(fence.key, fence.token), ...extra], success: ops });
}
