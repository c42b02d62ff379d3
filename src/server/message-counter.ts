import type { Message, NodeId } from '../core/types.js';
import type { Transport } from '../node/raft-node.js';

/** Highest message type number + 1 (src/core/types.ts, MessageType). */
const TYPES = 16;

/**
 * Counts the Raft messages a node sends, per peer and per type, only while
 * {@link enabled} (someone watches `/v1/events`): unwatched, a send costs one
 * boolean test more.
 */
export class MessageCounter {
  enabled = false;
  private readonly counts = new Map<NodeId, Uint32Array>();

  /** A transport that counts what it passes on to `inner`. */
  wrap(inner: Transport): Transport {
    return {
      send: (m: Message): void => {
        if (this.enabled) this.count(m);
        inner.send(m);
      },
    };
  }

  private count(m: Message): void {
    let c = this.counts.get(m.to);
    if (c === undefined) {
      c = new Uint32Array(TYPES);
      this.counts.set(m.to, c);
    }
    if (m.type < TYPES) c[m.type]! += 1;
  }

  /** Messages counted since the start, by peer and by type number (cumulative; wraps after 2^32). */
  read(): ReadonlyMap<NodeId, Uint32Array> {
    return this.counts;
  }

  /** Forgets every count (when counting resumes after a pause, so rates do not see the gap). */
  reset(): void {
    this.counts.clear();
  }
}
