/**
 * The bounded in-memory history of changes that `GET /v1/watch` streams from
 * (docs/API.md, "Watch"). The state machine appends one record per change as
 * it applies it (O(1), nothing else happens on the apply path); watchers read
 * it later, off that path. The history is not replicated state: each node
 * keeps its own, from what it has applied since it started or last installed
 * a snapshot.
 */

/** One change of one key, at the revision (log index) that made it. */
export type WatchChange =
  /** A put, an append or a compare-and-swap that swapped: the key's new value. */
  | { readonly type: 'put'; readonly key: string; readonly value: string; readonly revision: number; readonly createRevision: number }
  /** A delete of a key that existed. */
  | { readonly type: 'delete'; readonly key: string; readonly revision: number };

/** Where the state machine reports its changes (see {@link WatchHistory}). */
export interface ChangeRecorder {
  /** A change was applied. Called on the apply path: must be cheap. */
  record(change: WatchChange): void;
  /** The state was replaced by a snapshot at `revision`: everything before is gone. */
  reset(revision: number): void;
}

/** A watcher asked for a revision the history no longer holds. */
export class WatchCompactedError extends Error {
  override name = 'WatchCompactedError';
  constructor(
    readonly requested: number,
    readonly oldestRevision: number,
  ) {
    super(`revision ${requested} is no longer held in this node's watch history: the oldest revision held is ${oldestRevision}; read the current state (GET /v1/kv?prefix=...) and watch from its revision + 1`);
  }
}

export interface WatchHistoryOptions {
  /** The changes of at least this many most recent revisions are kept. Default {@link DEFAULT_WATCH_HISTORY}. */
  readonly maxRevisions?: number;
  /** Keys and values held at most (bytes, UTF-16 length as an estimate); older changes go first. Default 64 MiB. */
  readonly maxBytes?: number;
}

/** Revisions of history kept by default (`tsraft serve --watch-history`). */
export const DEFAULT_WATCH_HISTORY = 10_000;
/** Bytes of history kept at most by default. */
export const DEFAULT_WATCH_HISTORY_BYTES = 64 << 20;
/** What a record costs besides its key and value (an estimate). */
const RECORD_OVERHEAD = 64;

function costOf(c: WatchChange): number {
  return RECORD_OVERHEAD + c.key.length + (c.type === 'put' ? c.value.length : 0);
}

/**
 * Changes in revision order, complete from {@link oldestRevision} on: every
 * change at a revision >= oldestRevision that this node applied is here.
 * Bounded by revisions and by bytes; dropping the oldest change moves
 * oldestRevision past it.
 */
export class WatchHistory implements ChangeRecorder {
  /** Held changes are `buf[head..]`; the dead front is cut off now and then. */
  private buf: WatchChange[] = [];
  private head = 0;
  private bytes = 0;
  private oldest = 1;
  private readonly maxRevisions: number;
  private readonly maxBytes: number;
  /** Called after each record or reset (the watch hub schedules its delivery there). */
  onChange: (() => void) | null = null;

  constructor(opts: WatchHistoryOptions = {}) {
    this.maxRevisions = opts.maxRevisions ?? DEFAULT_WATCH_HISTORY;
    this.maxBytes = opts.maxBytes ?? DEFAULT_WATCH_HISTORY_BYTES;
    if (!Number.isSafeInteger(this.maxRevisions) || this.maxRevisions < 1) throw new RangeError(`watch history: maxRevisions must be a positive integer, got ${this.maxRevisions}`);
  }

  /** The oldest revision from which the history is complete. */
  get oldestRevision(): number {
    return this.oldest;
  }

  /** Changes held. */
  get length(): number {
    return this.buf.length - this.head;
  }

  /** The revision of the newest change held, or 0. */
  get newestRevision(): number {
    return this.length === 0 ? 0 : this.buf[this.buf.length - 1]!.revision;
  }

  record(change: WatchChange): void {
    this.buf.push(change);
    this.bytes += costOf(change);
    const floor = change.revision - this.maxRevisions;
    while (this.length > 1 && (this.buf[this.head]!.revision <= floor || this.bytes > this.maxBytes)) this.dropOldest();
    if (this.head > 1024 && this.head * 2 > this.buf.length) {
      this.buf = this.buf.slice(this.head);
      this.head = 0;
    }
    this.onChange?.();
  }

  reset(revision: number): void {
    this.buf = [];
    this.head = 0;
    this.bytes = 0;
    this.oldest = revision + 1;
    this.onChange?.();
  }

  private dropOldest(): void {
    const c = this.buf[this.head]!;
    this.head += 1;
    this.bytes -= costOf(c);
    // Several changes may share a revision (a transaction): the revision is incomplete once one goes.
    this.oldest = Math.max(this.oldest, c.revision + 1);
  }

  /**
   * The position of the first held change at a revision >= `from`, for {@link at};
   * throws {@link WatchCompactedError} if the history does not reach back to `from`.
   */
  positionOf(from: number): number {
    if (from < this.oldest) throw new WatchCompactedError(from, this.oldest);
    let lo = this.head;
    let hi = this.buf.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.buf[mid]!.revision < from) lo = mid + 1;
      else hi = mid;
    }
    return lo - this.head;
  }

  /** The change at position `i` (0: the oldest held), or undefined past the newest. */
  at(i: number): WatchChange | undefined {
    return this.buf[this.head + i];
  }

  /** Every held change at a revision >= `from` (tests and the simulator). */
  since(from: number): WatchChange[] {
    return this.buf.slice(this.head + this.positionOf(from));
  }
}
