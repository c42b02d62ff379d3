import type { Entry } from '../core/types.js';
import type { StorageState, StorageUpdate } from './types.js';

/**
 * The reference semantics of {@link StorageUpdate}: the state that results
 * from applying `u` to `s`. Storage engines must agree with it.
 */
export function applyUpdate(s: StorageState, u: StorageUpdate): StorageState {
  let snapshot = s.snapshot;
  let entries: readonly Entry[] = s.entries;
  let hardState = s.hardState;

  if (u.snapshot !== undefined) {
    const { index, term } = u.snapshot.meta;
    const first = snapshot?.meta.index ?? 0;
    if (index < first) throw new RangeError(`snapshot at ${index} is older than the stored one at ${first}`);
    if (index > first) {
      const at = entries[index - first - 1];
      entries = at !== undefined && at.term === term ? entries.slice(index - first) : [];
    }
    snapshot = u.snapshot;
  }
  if (u.entries !== undefined && u.entries.length > 0) {
    const base = snapshot?.meta.index ?? 0;
    const firstNew = u.entries[0]!.index;
    const keep = Math.max(0, Math.min(entries.length, firstNew - base - 1));
    if (firstNew !== base + keep + 1) {
      throw new RangeError(`append at index ${firstNew} leaves a gap after ${base + keep}`);
    }
    entries = [...entries.slice(0, keep), ...u.entries];
  }
  if (u.hardState !== undefined) hardState = u.hardState;
  return { hardState, snapshot, entries };
}
