import type { Entry, HardState, Snapshot, SnapshotBytes, SnapshotMeta } from '../core/types.js';

/** Everything a node keeps on stable storage, as loaded at start. */
export interface StorageState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  /** The entries after the snapshot, contiguous. */
  readonly entries: readonly Entry[];
}

/**
 * One atomic change to storage, applied in this order:
 * 1. `snapshot`: store it and drop the entries it covers. Entries after it are
 *    kept only if the stored entry at its index has its term (Figure 13); else
 *    the whole log goes.
 * 2. `entries`: append them; the first may start at or below the last stored
 *    index, which truncates the stored suffix from there first.
 * 3. `hardState`: replace it.
 */
export interface StorageUpdate {
  readonly hardState?: HardState | undefined;
  readonly snapshot?: Snapshot | undefined;
  readonly entries?: readonly Entry[] | undefined;
  /** If true, `write` resolves only once the update is durable (fsync). */
  readonly sync: boolean;
}

/**
 * Durable storage for one Raft node: hard state, log and snapshot. A driver
 * writes each Ready as one {@link StorageUpdate}; writes are applied in the
 * order they are issued.
 */
export interface LogStorage {
  /**
   * Reads everything back, as it was after the last completed write. A
   * storage may answer only before its first write (FileStorage does: it
   * returns what it recovered at open, then lets it go).
   */
  load(): Promise<StorageState>;
  /** Applies an update; resolves when it is applied (and durable if `sync`). */
  write(update: StorageUpdate): Promise<void>;
  /** Releases files and locks. */
  close(): Promise<void>;
  /**
   * Optional: snapshot `meta`'s data read from where it is stored, once it is
   * durable, so the node need not keep it in memory; null if storage holds
   * another snapshot by then. The caller closes it.
   */
  openSnapshot?(meta: SnapshotMeta): Promise<(SnapshotBytes & { close(): void }) | null>;
}

export const EMPTY_STATE: StorageState = {
  hardState: { term: 0, vote: null, commit: 0 },
  snapshot: null,
  entries: [],
};
