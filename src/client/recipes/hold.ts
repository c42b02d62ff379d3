/**
 * What a lock handle and a leadership share: a key at the head of a queue,
 * its fencing token (the key's create revision), and a signal that aborts
 * when the lease is lost or the key deleted by anyone else.
 */
import type { KvClient, TxnCompare } from '../index.js';
import { anySignal, deletion, enqueue, waitForHead } from './queue.js';
import { LeaseLostError, LeaseSession } from './session.js';

/** Options of {@link DistributedLock.acquire} and {@link Election.campaign}. */
export interface QueueOptions {
  /** Give up (rejecting with the signal's reason) when it aborts. */
  readonly signal?: AbortSignal;
  /** Give up after this long (ms): rejects with a `TimeoutError` DOMException. */
  readonly timeoutMs?: number;
  /**
   * Stand on this lease instead of opening one: ending the hold then deletes
   * only its key, and the session stays open. Without it, the call opens its
   * own lease, and ending the hold revokes it.
   */
  readonly session?: LeaseSession;
}

/**
 * Queues under `prefix` with `value` and waits to head the queue. On timeout,
 * abort or a lost lease it leaves the queue (revoking its own lease, or
 * deleting its key) before rejecting.
 */
export async function joinAndWait(client: KvClient, prefix: string, ttl: number | undefined, value: string, opts: QueueOptions): Promise<Hold> {
  const abort = anySignal([opts.signal], opts.timeoutMs);
  abort.throwIfAborted();
  const session = opts.session ?? (await LeaseSession.open(client, { ...(ttl !== undefined && { ttl }) }));
  const owns = opts.session === undefined;
  let entry: { key: string; createRevision: number } | undefined;
  try {
    entry = await enqueue(client, prefix, session, value);
    session.claimed.add(entry.key);
    const seenAt = await waitForHead(client, prefix, entry.key, entry.createRevision, session.id, anySignal([abort, session.signal]));
    return new Hold(client, session, owns, entry.key, entry.createRevision, seenAt);
  } catch (e) {
    // A waiter that gave up must not block the others until its lease runs out.
    if (entry !== undefined) session.claimed.delete(entry.key);
    if (owns) await session.close().catch(() => undefined);
    else if (entry !== undefined) await client.txn({ compare: [fenceCompare(entry.key, entry.createRevision)], success: [{ op: 'delete', key: entry.key }] }).catch(() => undefined);
    throw e;
  }
}

/** What a held lock and a leadership both are: a key at the head of a queue, its fencing token, and how to know it was lost. */
export interface HeldKey {
  /** The holder's key, `<name>/<leaseId>`. */
  readonly key: string;
  /** The fencing token: the create revision of `key`. Greater for every later holder. */
  readonly token: number;
  /** The lease it stands on. */
  readonly session: LeaseSession;
  /** Aborts (reason: a {@link LeaseLostError}) when it is lost (lease expired or may have, key deleted) or given up. */
  readonly signal: AbortSignal;
  /** Resolves with the reason once `signal` aborts. */
  readonly lost: Promise<LeaseLostError>;
  /** A transaction compare that holds only while it is held: add it to a write's compares to fence it. */
  readonly fence: TxnCompare;
}

/** The compare that holds while the key `key` still has create revision `token`, i.e. while that holder holds it. */
export function fenceCompare(key: string, token: number): TxnCompare {
  return { key, target: 'createRevision', op: '=', value: token };
}

export class Hold {
  private readonly watchStop = new AbortController();
  private readonly keyGone = new AbortController();
  /** Aborts when the hold is lost or ended; the reason is a {@link LeaseLostError}. */
  readonly signal: AbortSignal;
  /** Resolves (never rejects) with the reason when `signal` aborts. */
  readonly lost: Promise<LeaseLostError>;
  private ended = false;

  constructor(
    private readonly client: KvClient,
    readonly session: LeaseSession,
    private readonly ownsSession: boolean,
    readonly key: string,
    readonly token: number,
    seenAt: number,
  ) {
    this.signal = AbortSignal.any([session.signal, this.keyGone.signal]);
    this.lost = new Promise((resolve) => {
      const fire = (): void => resolve(this.signal.reason as LeaseLostError);
      if (this.signal.aborted) fire();
      else this.signal.addEventListener('abort', fire, { once: true });
    });
    // Someone deleting our key (an operator, a revoke elsewhere) ends the hold as surely as an expiry.
    deletion(client, key, seenAt + 1, AbortSignal.any([this.watchStop.signal, this.signal])).then(
      (rev) => this.keyGone.abort(new LeaseLostError(`${key} was deleted at revision ${rev}`, 'deleted', session.id)),
      () => undefined,
    );
  }

  /** The compare that holds while this hold does: the key still exists with the create revision it had (the token). */
  get fence(): TxnCompare {
    return fenceCompare(this.key, this.token);
  }

  /** The hold as callers see it. */
  view(): HeldKey {
    return { key: this.key, token: this.token, session: this.session, signal: this.signal, lost: this.lost, fence: this.fence };
  }

  /**
   * Ends the hold: deletes the key (if it is still ours) or, when the hold
   * opened its own lease, revokes that lease (which deletes the key with it).
   */
  async end(what: string): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    const reason = new LeaseLostError(`${this.key}: ${what}`, 'closed', this.session.id);
    this.watchStop.abort(reason);
    this.keyGone.abort(reason);
    this.session.claimed.delete(this.key);
    if (this.ownsSession) return this.session.close();
    await this.client.txn({ compare: [this.fence], success: [{ op: 'delete', key: this.key }] });
  }
}
