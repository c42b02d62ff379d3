import type { Entry, HardState, Snapshot } from '../core/types.js';
import { EMPTY_STATE, type LogStorage, type StorageState, type StorageUpdate } from './types.js';

/**
 * {@link LogStorage} in memory, for tests, benchmarks and simulations that need
 * no crash model. Updates are applied in place (appends are amortized O(1));
 * the semantics are those of {@link applyUpdate}.
 */
export class MemoryStorage implements LogStorage {
  private hardState: HardState;
  private snapshot: Snapshot | null;
  private entries: Entry[];
  writes = 0;

  constructor(initial: StorageState = EMPTY_STATE) {
    this.hardState = initial.hardState;
    this.snapshot = initial.snapshot;
    this.entries = [...initial.entries];
  }

  /** The current contents, synchronously (a copy). */
  snapshotState(): StorageState {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: [...this.entries] };
  }

  load(): Promise<StorageState> {
    return Promise.resolve(this.snapshotState());
  }

  write(u: StorageUpdate): Promise<void> {
    if (u.snapshot !== undefined) {
      const { index, term } = u.snapshot.meta;
      const first = this.snapshot?.meta.index ?? 0;
      if (index < first) return Promise.reject(new RangeError(`snapshot at ${index} is older than the stored one at ${first}`));
      if (index > first) {
        const at = this.entries[index - first - 1];
        if (at !== undefined && at.term === term) this.entries.splice(0, index - first);
        else this.entries = [];
      }
      this.snapshot = u.snapshot;
    }
    if (u.entries !== undefined && u.entries.length > 0) {
      const base = this.snapshot?.meta.index ?? 0;
      const firstNew = u.entries[0]!.index;
      const keep = Math.max(0, Math.min(this.entries.length, firstNew - base - 1));
      if (firstNew !== base + keep + 1) return Promise.reject(new RangeError(`append at index ${firstNew} leaves a gap after ${base + keep}`));
      this.entries.length = keep;
      for (const e of u.entries) this.entries.push(e);
    }
    if (u.hardState !== undefined) this.hardState = u.hardState;
    this.writes++;
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
