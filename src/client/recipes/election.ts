/**
 * Leader election on the lock's queue (docs/RECIPES.md): each candidate puts
 * `<name>/<leaseId>` = its value on its lease; the lowest create revision
 * leads. The leader's token is that create revision, and what it writes as
 * leader (its value, with {@link Leadership.proclaim}) is fenced by it, so a
 * deposed leader that has not noticed yet cannot overwrite its successor.
 */
import type { KvClient } from '../index.js';
import { joinAndWait, type HeldKey, type QueueOptions } from './hold.js';
import { prefixOf, scan, type QueueEntry } from './queue.js';

/** The leader as read from the store. */
export interface Leader {
  /** Its key, `<name>/<leaseId>`. */
  readonly key: string;
  /** The value it campaigned with or last proclaimed. */
  readonly value: string;
  /** Its token: the create revision of its key. */
  readonly token: number;
}

/** A proclaim refused: this candidate no longer leads (its key is gone). */
export class DeposedError extends Error {
  override name = 'DeposedError';
}

/** Options of {@link Election}. */
export interface ElectionOptions {
  /** TTL (s) of the lease each campaign opens when it is given no session (default 10). */
  readonly ttl?: number;
}

/** Leading an election. Stop acting as leader when `signal` aborts. */
export interface Leadership extends HeldKey {
  /** Sets the leader's value, only if this candidate still leads; else throws {@link DeposedError}. */
  proclaim(value: string): Promise<{ revision: number }>;
  /** Steps down: revokes its own lease (deleting the key), or deletes only the key if the lease was given. */
  resign(): Promise<void>;
}

const asLeader = (e: QueueEntry | undefined): Leader | null => (e === undefined ? null : { key: e.key, value: e.value, token: e.createRevision });
const same = (a: Leader | null, b: Leader | null): boolean => a?.key === b?.key && a?.value === b?.value && a?.token === b?.token;

/** A named election: every `Election` of the same name on the same cluster elects one leader at a time. */
export class Election {
  private readonly prefix: string;

  constructor(
    private readonly client: KvClient,
    /** The key prefix candidates queue under (`elections/db` → keys `elections/db/<leaseId>`). */
    readonly name: string,
    private readonly opts: ElectionOptions = {},
  ) {
    this.prefix = prefixOf(name);
  }

  /** Resolves when this candidate leads (candidates lead in order of arrival); on timeout or abort it withdraws before rejecting. */
  async campaign(value: string, opts: QueueOptions = {}): Promise<Leadership> {
    const hold = await joinAndWait(this.client, this.prefix, this.opts.ttl, value, opts);
    const client = this.client;
    return {
      ...hold.view(),
      async proclaim(v: string) {
        // The put keeps the key on its lease (a put without one would detach it).
        const r = await client.txn({ compare: [hold.fence], success: [{ op: 'put', key: hold.key, value: v, lease: hold.session.id }] });
        if (!r.succeeded) throw new DeposedError(`${hold.key} no longer leads (token ${hold.token}): proclaim refused`);
        return { revision: r.revision };
      },
      resign: () => hold.end('resigned'),
    };
  }

  /** The current leader, or null if there is no candidate. */
  async leader(): Promise<Leader | null> {
    return asLeader((await scan(this.client, this.prefix)).entries[0]);
  }

  /**
   * The leader now, then each change (another leader, a new value, none), in
   * revision order. Built on watch: it watches only the leader's key (a new
   * candidate cannot lead while the leader's key exists) and reads the queue
   * again when that key goes. A leader that came and went between two reads
   * may be skipped; no change is reported out of order. Ends when `signal`
   * aborts.
   */
  async *observe(opts: { signal?: AbortSignal } = {}): AsyncGenerator<Leader | null, void, undefined> {
    const signal = opts.signal ?? new AbortController().signal;
    let last: Leader | null | undefined;
    while (!signal.aborted) {
      const { entries, revision } = await scan(this.client, this.prefix);
      let head = asLeader(entries[0]);
      if (last === undefined || !same(head, last)) yield (last = head);
      if (head === null) {
        // The list saw every change up to `revision`: the first put after it is a candidate.
        for await (const e of this.client.watch(this.prefix, { fromRevision: revision + 1, signal })) {
          if (e.type === 'put') break;
        }
        continue;
      }
      for await (const e of this.client.watch(head.key, { fromRevision: revision + 1, signal })) {
        if (e.key !== head.key) continue;
        if (e.type === 'delete') break;
        head = { ...head, value: e.value };
        if (!same(head, last)) yield (last = head);
      }
    }
  }
}
