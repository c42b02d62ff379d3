/**
 * The queue under the lock and the election: each contender's key
 * `<prefix><leaseId>`, created once on its lease; the contender whose key has
 * the lowest create revision is at the head. A contender that is not waits for
 * the deletion of the key just before it (one watch, from the revision it saw
 * that key at), so a release wakes one waiter, not the herd.
 */
import type { KvClient } from '../index.js';
import { LeaseLostError, type LeaseSession } from './session.js';

/** A key under the prefix, as one snapshot saw it. */
export interface QueueEntry {
  readonly key: string;
  readonly value: string;
  /** The revision that created the key: its place in the queue. */
  readonly createRevision: number;
}

/** `name` as a prefix: ends with one `/`. */
export function prefixOf(name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new Error('a lock or election needs a non-empty name');
  return name.endsWith('/') ? name : `${name}/`;
}

/**
 * The keys under `prefix` with their create revisions, as of `revision` (one
 * linearizable list: a read, not a log entry), in queue order; the key `last`
 * (if given) apart.
 */
export async function scan(client: KvClient, prefix: string, last?: string): Promise<{ entries: QueueEntry[]; lastEntry: QueueEntry | null; revision: number }> {
  const { items, revision } = await client.listAt(prefix);
  const entries: QueueEntry[] = [];
  let lastEntry: QueueEntry | null = null;
  for (const i of items) {
    const e = { key: i.key, value: i.value, createRevision: i.createRevision };
    if (i.key === last) lastEntry = e;
    else entries.push(e);
  }
  entries.sort((a, b) => a.createRevision - b.createRevision);
  return { entries, lastEntry, revision };
}

/**
 * Puts `<prefix><session.id>` = `value` on the session's lease unless it
 * exists (a transaction comparing its create revision with 0) and returns its
 * create revision: the new one, or the existing key's (the same lease queued
 * before, e.g. an attempt whose answer was lost).
 */
export async function enqueue(client: KvClient, prefix: string, session: LeaseSession, value: string): Promise<{ key: string; createRevision: number }> {
  const key = `${prefix}${session.id}`;
  if (session.claimed.has(key)) throw new Error(`lease ${session.id} already queues for ${JSON.stringify(prefix)}: a session holds or waits for a lock or election once at a time`);
  const r = await client.txn({
    compare: [{ key, target: 'createRevision', op: '=', value: 0 }],
    success: [{ op: 'put', key, value, lease: session.id }],
    failure: [{ op: 'get', key }],
  });
  if (r.succeeded) return { key, createRevision: r.revision };
  const got = r.results[0];
  if (got?.op !== 'get' || got.item === null) throw new Error(`${key}: the create transaction failed but the key is absent`);
  return { key, createRevision: got.item.createRevision };
}

/** Resolves when `key` is deleted at a revision >= `fromRevision`; rejects with `signal`'s reason when it aborts. */
export async function deletion(client: KvClient, key: string, fromRevision: number, signal: AbortSignal): Promise<number> {
  for await (const e of client.watch(key, { fromRevision, signal })) {
    // The watch is by prefix: `locks/a/12` also matches `locks/a/123`.
    if (e.key === key && e.type === 'delete') return e.revision;
  }
  signal.throwIfAborted();
  throw new Error(`the watch of ${key} ended`);
}

/**
 * Waits until the key `mine` (created at `createRevision`) heads the queue
 * under `prefix`, and returns the revision at which it was seen heading it.
 * Throws a {@link LeaseLostError} if the key disappears meanwhile, and
 * `signal`'s reason when it aborts.
 */
export async function waitForHead(client: KvClient, prefix: string, mine: string, createRevision: number, leaseId: number, signal: AbortSignal): Promise<number> {
  for (;;) {
    signal.throwIfAborted();
    const { entries, lastEntry, revision } = await scan(client, prefix, mine);
    if (lastEntry === null || lastEntry.createRevision !== createRevision) throw new LeaseLostError(`${mine} was deleted while it waited (its lease ${leaseId} expired or was revoked)`, 'deleted', leaseId);
    const before = entries.filter((e) => e.createRevision < createRevision);
    const predecessor = before.at(-1);
    if (predecessor === undefined) return revision;
    // Only the key just before ours: each release wakes one waiter.
    await deletion(client, predecessor.key, revision + 1, signal);
  }
}

/** An AbortSignal that aborts with the first of `signals`, and a timeout (ms) if given. */
export function anySignal(signals: readonly (AbortSignal | undefined)[], timeoutMs?: number): AbortSignal {
  const all = signals.filter((s): s is AbortSignal => s !== undefined);
  if (timeoutMs !== undefined) all.push(AbortSignal.timeout(timeoutMs));
  return AbortSignal.any(all);
}
