import type { Entry, SnapshotMeta } from '../core/types.js';

/**
 * The terms of a log, kept as runs (first index of each term), without the
 * entries: enough for the storage engine to apply Figure 13's rule to a
 * snapshot (keep the entries after it only if the log holds its last entry)
 * without holding the log in memory.
 */
export class TermIndex {
  private base: SnapshotMeta = { index: 0, term: 0 };
  private starts: number[] = [];
  private terms: number[] = [];
  private lastIdx = 0;

  get last(): number {
    return this.lastIdx;
  }

  get snapshot(): SnapshotMeta {
    return this.base;
  }

  /** The term at `index`, or undefined if it is behind the snapshot or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.base.index) return this.base.term;
    if (index < this.base.index || index > this.lastIdx) return undefined;
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (this.starts[mid]! <= index) lo = mid;
      else hi = mid - 1;
    }
    return this.terms[lo];
  }

  /** Appends entries; the first may start at or below the end, truncating from there. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    this.truncateFrom(first.index);
    for (const e of entries) {
      if (this.terms.length === 0 || this.terms[this.terms.length - 1] !== e.term) {
        this.starts.push(e.index);
        this.terms.push(e.term);
      }
      this.lastIdx = e.index;
    }
  }

  private truncateFrom(index: number): void {
    while (this.starts.length > 0 && this.starts[this.starts.length - 1]! >= index) {
      this.starts.pop();
      this.terms.pop();
    }
    this.lastIdx = Math.min(this.lastIdx, index - 1);
  }

  /**
   * Applies a snapshot; returns true if the log after it was discarded (it did
   * not hold the snapshot's last entry with that term).
   */
  applySnapshot(meta: SnapshotMeta): boolean {
    const keep = this.term(meta.index) === meta.term && meta.index <= this.lastIdx;
    if (keep) {
      // Drop the runs wholly behind the snapshot; the run holding it now starts after it.
      while (this.starts.length > 1 && this.starts[1]! <= meta.index + 1) {
        this.starts.shift();
        this.terms.shift();
      }
      if (this.starts.length > 0 && this.starts[0]! <= meta.index) {
        if (this.lastIdx > meta.index) this.starts[0] = meta.index + 1;
        else {
          this.starts = [];
          this.terms = [];
        }
      }
    } else {
      this.starts = [];
      this.terms = [];
      this.lastIdx = meta.index;
    }
    this.base = meta;
    return !keep;
  }
}
