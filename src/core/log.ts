import { invariant } from './errors.js';
import type { Entry, SnapshotMeta } from './types.js';

/** Rough encoded size of an entry, for batching limits. */
export function entrySize(e: Entry): number {
  return e.data.length + 16;
}

/**
 * The in-memory Raft log: the snapshot's last position followed by the entries
 * after it, with the bookkeeping that ties it to storage and to the state machine.
 *
 * Invariants: `snapIndex <= applied <= committed <= lastIndex()`, and
 * `entries[i].index === snapIndex + 1 + i`.
 */
export class RaftLog {
  private snapIndexValue: number;
  private snapTermValue: number;
  private entries: Entry[];
  private committedValue: number;
  private appliedValue: number;
  private unstableFromValue: number;
  private persistedValue: number;

  constructor(snap: SnapshotMeta, entries: readonly Entry[], committed: number) {
    this.snapIndexValue = snap.index;
    this.snapTermValue = snap.term;
    this.entries = [...entries];
    for (let i = 0; i < this.entries.length; i++) {
      invariant(this.entries[i]!.index === snap.index + 1 + i, () => `log entry ${i} has index ${this.entries[i]!.index}, expected ${snap.index + 1 + i}`);
    }
    const last = this.lastIndex();
    this.committedValue = Math.min(Math.max(committed, snap.index), last);
    this.appliedValue = snap.index;
    this.unstableFromValue = last + 1;
    this.persistedValue = last;
  }

  /** The last index the snapshot covers (0 without one). */
  get snapIndex(): number {
    return this.snapIndexValue;
  }
  /** The term at {@link snapIndex}. */
  get snapTerm(): number {
    return this.snapTermValue;
  }
  /** Highest index known to be committed. */
  get committed(): number {
    return this.committedValue;
  }
  /** Highest index handed to the state machine (or covered by its snapshot). */
  get applied(): number {
    return this.appliedValue;
  }
  /** First index not yet handed to storage; entries from here on go out in the next Ready. */
  get unstableFrom(): number {
    return this.unstableFromValue;
  }
  /** Highest index that storage has confirmed durable and that is still in the log. */
  get persisted(): number {
    return this.persistedValue;
  }

  firstIndex(): number {
    return this.snapIndexValue + 1;
  }

  lastIndex(): number {
    return this.snapIndexValue + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length > 0 ? this.entries[this.entries.length - 1]!.term : this.snapTermValue;
  }

  /** The term at `index`, or undefined if it is compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.snapIndexValue) return this.snapTermValue;
    if (index < this.snapIndexValue || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapIndexValue - 1]!.term;
  }

  entryAt(index: number): Entry | undefined {
    if (index <= this.snapIndexValue || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapIndexValue - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** The election restriction (§5.4.1): is a log ending at (index, term) at least as up to date as ours? */
  isUpToDate(index: number, term: number): boolean {
    const lt = this.lastTerm();
    return term > lt || (term === lt && index >= this.lastIndex());
  }

  /**
   * Entries in [lo, hi), at least one (if any exist) and at most `maxEntries`
   * / about `maxBytes`. `lo` must not be compacted.
   */
  slice(lo: number, hi: number, maxEntries = Infinity, maxBytes = Infinity): Entry[] {
    invariant(lo > this.snapIndexValue, () => `slice(${lo}) reaches into the snapshot at ${this.snapIndexValue}`);
    hi = Math.min(hi, this.lastIndex() + 1);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi && out.length < maxEntries; i++) {
      const e = this.entries[i - this.snapIndexValue - 1]!;
      bytes += entrySize(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** Appends entries that continue the log exactly (a leader's own proposals). */
  append(entries: readonly Entry[]): void {
    for (const e of entries) {
      invariant(e.index === this.lastIndex() + 1, () => `append of index ${e.index} after ${this.lastIndex()}`);
      this.entries.push(e);
    }
  }

  /**
   * The follower side of AppendEntries after the consistency check passed:
   * skips entries already present, truncates at the first conflict and appends
   * the rest. Returns the index of the last entry the message carried, which
   * now matches the leader's log.
   */
  appendFromLeader(prevIndex: number, entries: readonly Entry[]): number {
    let i = 0;
    for (; i < entries.length; i++) {
      const e = entries[i]!;
      const t = this.term(e.index);
      if (t === undefined && e.index <= this.snapIndexValue) continue; // compacted, hence committed and matching
      if (t !== e.term) break;
    }
    if (i < entries.length) {
      const first = entries[i]!.index;
      invariant(first > this.committedValue, () => `truncating committed index ${first} (committed ${this.committedValue})`);
      this.truncateFrom(first);
      this.append(entries.slice(i));
    }
    return prevIndex + entries.length;
  }

  /**
   * The follower side of AppendEntries (Figure 2, receiver steps 2–5 without
   * the commit): the consistency check at (prevIndex, prevTerm), then the
   * entries. Returns the last index now known to match the leader's log and
   * the entries taken, or the rejection hint: our term at `prevIndex` and the
   * first index of that term, or (term 0) our last index + 1.
   */
  maybeAppend(prevIndex: number, prevTerm: number, entries: readonly Entry[]):
    | { readonly ok: true; readonly lastNew: number; readonly appended: readonly Entry[] }
    | { readonly ok: false; readonly hintTerm: number; readonly hintIndex: number } {
    const committed = this.committedValue;
    if (prevIndex < committed) {
      // Everything up to our commit index matches any current leader's log, so
      // the consistency check holds at `committed`: keep only what lies beyond it.
      const skip = committed - prevIndex;
      if (skip >= entries.length) return { ok: true, lastNew: committed, appended: [] };
      invariant(entries[skip - 1]!.term === this.term(committed), () => `the leader disagrees with committed index ${committed}`);
      prevIndex = committed;
      entries = entries.slice(skip);
    } else {
      const lastIndex = this.lastIndex();
      if (prevIndex > lastIndex) return { ok: false, hintTerm: 0, hintIndex: lastIndex + 1 };
      const t = this.term(prevIndex)!;
      if (t !== prevTerm) return { ok: false, hintTerm: t, hintIndex: this.firstIndexOfTermAt(prevIndex) };
    }
    return { ok: true, lastNew: this.appendFromLeader(prevIndex, entries), appended: entries };
  }

  /** Drops entries at `index` and after. */
  private truncateFrom(index: number): void {
    if (index > this.lastIndex()) return;
    this.entries.length = index - this.snapIndexValue - 1;
    if (this.unstableFromValue > index) this.unstableFromValue = index;
    if (this.persistedValue >= index) this.persistedValue = index - 1;
  }

  commitTo(index: number): boolean {
    if (index <= this.committedValue) return false;
    invariant(index <= this.lastIndex(), () => `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committedValue = index;
    return true;
  }

  /**
   * The state machine has applied every entry up to `index`. Never moves
   * back (a snapshot restore may already have passed it); never past the
   * commit index.
   */
  appliedTo(index: number): void {
    invariant(index <= this.committedValue, () => `applied ${index} beyond commit index ${this.committedValue}`);
    this.appliedValue = Math.max(this.appliedValue, index);
  }

  /** Every entry up to `index` has been handed to storage: {@link unstable} starts after it. */
  stableTo(index: number): void {
    invariant(index <= this.lastIndex(), () => `stableTo(${index}) beyond last index ${this.lastIndex()}`);
    this.unstableFromValue = index + 1;
  }

  /**
   * Storage made the entry at (index, term) durable, and every one before it.
   * Ignored (returns false) if the log no longer holds that entry: it was
   * truncated or replaced while the write was in flight.
   */
  persistedTo(index: number, term: number): boolean {
    if (!this.matchTerm(index, term)) return false;
    this.persistedValue = Math.max(this.persistedValue, index);
    return true;
  }

  /** Committed entries not yet handed to the state machine, at most `max`. */
  nextToApply(max: number): Entry[] {
    const hi = Math.min(this.committedValue, this.appliedValue + max);
    if (hi <= this.appliedValue) return [];
    return this.slice(this.appliedValue + 1, hi + 1);
  }

  /** Entries that storage has not been given yet. */
  unstable(): Entry[] {
    if (this.unstableFromValue > this.lastIndex()) return [];
    return this.slice(this.unstableFromValue, this.lastIndex() + 1);
  }

  /**
   * Discards entries up to `index`, which a snapshot now covers. Entries after
   * it stay. `index` must be applied.
   */
  compact(index: number): void {
    invariant(index <= this.appliedValue, () => `compact(${index}) beyond applied ${this.appliedValue}`);
    if (index <= this.snapIndexValue) return;
    const term = this.term(index)!;
    this.entries = this.entries.slice(index - this.snapIndexValue);
    this.snapIndexValue = index;
    this.snapTermValue = term;
  }

  /** Replaces the whole log by a snapshot from the leader (Figure 13, step 7). */
  restore(meta: SnapshotMeta): void {
    invariant(meta.index > this.committedValue, () => `restore of snapshot ${meta.index} at or below commit ${this.committedValue}`);
    this.entries = [];
    this.snapIndexValue = meta.index;
    this.snapTermValue = meta.term;
    this.committedValue = meta.index;
    this.appliedValue = meta.index;
    this.unstableFromValue = meta.index + 1;
    this.persistedValue = meta.index;
  }

  /**
   * The last index at or below `atMost` whose term is `term`, or undefined if
   * this log (as far as it is not compacted) has no entry of that term there.
   */
  lastIndexOfTerm(term: number, atMost: number): number | undefined {
    // Terms never decrease along the log, so binary-search the last index with term <= `term`.
    let lo = this.snapIndexValue;
    let hi = Math.min(atMost, this.lastIndex());
    if (hi < lo) return undefined;
    if ((this.term(lo) ?? 0) > term) return undefined;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (this.term(mid)! <= term) lo = mid;
      else hi = mid - 1;
    }
    return this.term(lo) === term ? lo : undefined;
  }

  /** The first index at or after the snapshot whose term equals the term at `index`. */
  firstIndexOfTermAt(index: number): number {
    const term = this.term(index);
    invariant(term !== undefined, () => `no term at ${index}`);
    let lo = this.snapIndexValue;
    let hi = index;
    // Smallest i in [lo, hi] with term(i) === term; terms are sorted so search for term(i) >= term.
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.term(mid)! < term) lo = mid + 1;
      else hi = mid;
    }
    return Math.max(lo, this.snapIndexValue + 1);
  }

  /** Total entries held in memory. */
  size(): number {
    return this.entries.length;
  }
}
