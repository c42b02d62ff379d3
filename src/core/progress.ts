import { Inflights } from './inflights.js';

/**
 * How the leader is replicating to a follower:
 * - `probe`: one append at a time, until the follower's match index is found;
 * - `replicate`: streaming appends optimistically, up to the inflight window;
 * - `snapshot`: the follower is behind the log's start and is being sent the snapshot.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** The leader's view of one follower (Figure 2's nextIndex/matchIndex, and more). */
export class Progress {
  /** Highest index known to match the leader's log. */
  match = 0;
  /** Next index to send. */
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append is out, wait for its answer (or a heartbeat answer) before the next. */
  probeSent = false;
  readonly inflights: Inflights;
  /** In snapshot state: the snapshot index being sent. */
  pendingSnapshot = 0;
  /** In snapshot state: bytes the follower confirmed; the next chunk starts here. */
  snapshotOffset = 0;
  /** In snapshot state: a chunk is out and unanswered. */
  snapshotChunkOut = false;
  /** In snapshot state: ticks since the last chunk went out. */
  snapshotTicks = 0;
  /** The highest commit index this follower has been sent (it may not have arrived). */
  commitSent = 0;
  /** The last entry this follower forwarded to us (a proposal it waits to see applied): its commit is told at once. */
  forwardedTo = 0;
  /** The follower answered since the last check-quorum round. */
  recentActive = false;

  constructor(next: number, maxInflight: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotOffset = 0;
    this.snapshotChunkOut = false;
    this.snapshotTicks = 0;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, resume right behind it; otherwise behind the last match.
    const next = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.reset('probe');
    this.next = next;
  }

  becomeReplicate(): void {
    this.reset('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(index: number): void {
    this.reset('snapshot');
    this.pendingSnapshot = index;
  }

  /** True if no append may be sent now. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  /** Records an acknowledged index. Returns false if it tells nothing new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * Records a successful append answer up to `index` and moves the state on:
   * a probe that found the match starts replicating, a snapshot transfer the
   * follower has caught up with goes back to probing, and a replicating
   * follower's window frees up. Returns whether the match index advanced.
   */
  appendAcked(index: number): boolean {
    const updated = this.maybeUpdate(index);
    if (this.state === 'probe' && (updated || this.match === index)) {
      this.becomeReplicate();
    } else if (this.state === 'snapshot' && this.match >= this.pendingSnapshot) {
      this.becomeProbe();
    } else if (this.state === 'replicate') {
      this.inflights.freeLE(index);
    }
    return updated;
  }

  /** The follower answered a heartbeat, so it is reachable: allow one more append. */
  heartbeatAnswered(): void {
    if (this.state === 'probe') this.probeSent = false;
    else if (this.state === 'replicate' && this.inflights.full()) this.inflights.freeFirstOne();
  }

  /** Records that an append of entries up to `last` went out. */
  sentEntries(last: number, count: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = last + 1;
        this.inflights.add(last);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /**
   * Handles a rejection of the append whose prevIndex was `rejected`; `hint` is
   * where the follower's hint says to resume. Returns:
   * - `stale`: it answers an old append and tells nothing;
   * - `moved`: fall back to probing from an earlier `next`;
   * - `lost`: the follower's log ends (or conflicts) at or below `match`, so it
   *   lost entries it had acknowledged (a disk that lied, a log cut short):
   *   `match` goes down with `next`, so it is caught up again. The commit index
   *   never goes back, so this costs nothing but the resend.
   * Every probe that goes out after a rejection starts strictly lower, so a
   * follower's rejections never loop.
   */
  maybeDecrTo(rejected: number, hint: number): 'stale' | 'moved' | 'lost' {
    if (this.state === 'snapshot') return 'stale';
    if (this.state === 'replicate') {
      if (rejected <= this.match) {
        // An old append answered late, unless the follower says its log ends at or
        // below what it acknowledged: then check with a probe right behind match.
        if (hint > this.match) return 'stale';
        this.becomeProbe();
        return 'moved';
      }
    } else if (this.next - 1 !== rejected) {
      // In probe state only the answer to the outstanding probe (prevIndex = next - 1) counts.
      return 'stale';
    }
    const next = Math.max(1, Math.min(hint, rejected));
    const lost = next <= this.match;
    this.reset('probe');
    this.next = next;
    if (lost) this.match = next - 1;
    return lost ? 'lost' : 'moved';
  }
}
