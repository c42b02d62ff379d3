import type { SnapMsg, Snapshot, SnapshotMeta } from './types.js';

/** A snapshot being received chunk by chunk. */
interface IncomingSnapshot {
  readonly meta: SnapshotMeta;
  readonly size: number;
  /** The whole snapshot's bytes, filled as chunks arrive: no joining at the end (a second copy of it, in one turn). */
  readonly data: Uint8Array;
  received: number;
}

/** What one chunk left us with: the whole snapshot, or where the next chunk should start. */
export type ChunkResult = { readonly done: true; readonly snapshot: Snapshot } | { readonly done: false; readonly offset: number };

/**
 * A follower's side of a chunked InstallSnapshot: assembles one snapshot from
 * contiguous chunks. A chunk of another snapshot starts over (if it is the
 * first chunk); a chunk out of order is ignored, and the answer tells the
 * leader where to resume.
 */
export class SnapshotReceiver {
  private incoming: IncomingSnapshot | null = null;

  /** Forgets a partly received snapshot. */
  reset(): void {
    this.incoming = null;
  }

  /** Takes one chunk. */
  receive(m: SnapMsg): ChunkResult {
    let inc = this.incoming;
    if (inc === null || inc.meta.index !== m.meta.index || inc.meta.term !== m.meta.term || inc.size !== m.size) {
      if (m.offset !== 0) return { done: false, offset: 0 };
      inc = this.incoming = { meta: m.meta, size: m.size, data: new Uint8Array(m.size), received: 0 };
    }
    if (m.offset === inc.received && inc.received + m.data.length <= inc.size) {
      inc.data.set(m.data, inc.received);
      inc.received += m.data.length;
    }
    if (inc.received < inc.size) return { done: false, offset: inc.received };
    this.incoming = null;
    return { done: true, snapshot: { meta: inc.meta, data: inc.data } };
  }
}
