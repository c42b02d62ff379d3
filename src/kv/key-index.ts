/**
 * The store's map from key to record id, split over {@link SHARDS} `Map`s by a
 * hash of the key.
 *
 * Why not one `Map`: a `Map` that outgrows its table rehashes every entry
 * into a new one in a single step. At half a million keys that step took
 * ~30 ms, on every node at once when the keyspace grows and on a follower
 * filling its store from a snapshot (docs/PERFORMANCE.md). A shard holds a
 * 64th of the keys, so its growth stalls a 64th as long; lookups pay one
 * short hash.
 */
export class KeyIndex {
  private readonly shards: Map<string, number>[] = Array.from({ length: SHARDS }, () => new Map<string, number>());

  get(key: string): number | undefined {
    return this.shards[shardOf(key)]!.get(key);
  }

  set(key: string, id: number): void {
    this.shards[shardOf(key)]!.set(key, id);
  }

  /** True if `key` was there. */
  delete(key: string): boolean {
    return this.shards[shardOf(key)]!.delete(key);
  }

  get size(): number {
    let n = 0;
    for (const s of this.shards) n += s.size;
    return n;
  }
}

/** A power of two. */
export const SHARDS = 64;
const SHARD_SHIFT = 32 - Math.log2(SHARDS);

/** Characters hashed at each end of a long key: enough to spread real key sets, and a bounded cost. */
const HASHED_END = 32;

/** FNV-1a over the key's UTF-16 code units (its first and last {@link HASHED_END} when longer), top bits. */
export function shardOf(key: string): number {
  let h = 0x811c9dc5;
  const n = key.length;
  if (n <= 2 * HASHED_END) {
    for (let i = 0; i < n; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  } else {
    for (let i = 0; i < HASHED_END; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    for (let i = n - HASHED_END; i < n; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  }
  return h >>> SHARD_SHIFT;
}
