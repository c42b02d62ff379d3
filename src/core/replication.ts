import type { RaftOptions } from './config.js';
import { invariant } from './errors.js';
import { Progress } from './progress.js';
import type { JointConfig } from './quorum.js';
import type { Raft } from './raft.js';
import { MessageType, type AppMsg, type AppRespMsg, type HeartbeatMsg, type Message, type NodeId, type SnapMsg, type SnapRespMsg } from './types.js';

/** What replication reads from the Raft it serves, at the moment it sends. */
export type ReplicationHost = Pick<Raft, 'id' | 'term' | 'log' | 'snapshot'>;

/** The options that shape what the leader sends. */
export type ReplicationLimits = Pick<RaftOptions, 'electionTicks' | 'maxInflight' | 'maxEntriesPerAppend' | 'maxBytesPerAppend' | 'maxSnapshotChunkBytes'>;

/**
 * The leader's sending to each follower: the follower's {@link Progress}, and
 * the messages that move it along: appends batched within its inflight
 * window, the snapshot in chunks once the entries it needs are compacted, and
 * heartbeats. Decisions about the cluster as a whole (what commits, when to
 * send) stay with the caller.
 */
export class Replication {
  private readonly progress = new Map<NodeId, Progress>();

  constructor(
    private readonly host: ReplicationHost,
    private readonly limits: ReplicationLimits,
    private readonly send: (m: Message) => void,
  ) {}

  /** Starts tracking `followers` (in this order), each to be sent entries from `next`. */
  start(followers: readonly NodeId[], next: number): void {
    for (const id of followers) this.progress.set(id, new Progress(next, this.limits.maxInflight));
  }

  /** Stops tracking a follower that left the configuration. */
  remove(id: NodeId): void {
    this.progress.delete(id);
  }

  /** Forgets every follower: leadership ended. */
  clear(): void {
    this.progress.clear();
  }

  get(id: NodeId): Progress | undefined {
    return this.progress.get(id);
  }

  /** How many entries `id` is behind the leader's last index, if it is tracked. */
  lag(id: NodeId): number | undefined {
    const pr = this.progress.get(id);
    return pr === undefined ? undefined : this.host.log.lastIndex() - pr.match;
  }

  followers(): IterableIterator<NodeId> {
    return this.progress.keys();
  }

  /** With check quorum: has a majority (with `self`) answered since the last call? Resets the marks. */
  quorumActive(config: JointConfig, self: NodeId): boolean {
    const active = new Set<NodeId>([self]);
    for (const [id, pr] of this.progress) {
      if (pr.recentActive) active.add(id);
      pr.recentActive = false;
    }
    return config.isQuorum(active);
  }

  /**
   * Sends one append to `to` if its progress allows: the entries from its next
   * index, batched, or (if `sendIfEmpty`) an empty probe. Switches to sending
   * the snapshot when the entries it needs are compacted. Returns true if a
   * message went out.
   */
  sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const log = this.host.log;
    const pr = this.progress.get(to)!;
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = log.term(prevIndex);
    if (prevTerm === undefined || pr.next <= log.snapIndex) {
      const snap = this.host.snapshot;
      invariant(snap !== null, () => `follower ${to} needs index ${pr.next} but the log starts after ${log.snapIndex} with no snapshot`);
      pr.becomeSnapshot(snap.meta.index);
      this.sendSnapshotChunk(to, pr);
      return true;
    }
    const entries = log.slice(pr.next, log.lastIndex() + 1, this.limits.maxEntriesPerAppend, this.limits.maxBytesPerAppend);
    if (entries.length === 0 && !sendIfEmpty) return false;
    const commit = log.committed;
    this.send({ type: MessageType.App, term: this.host.term, from: this.host.id, to, prevIndex, prevTerm, entries, commit } satisfies AppMsg);
    pr.sentEntries(prevIndex + entries.length, entries.length);
    pr.commitSent = Math.max(pr.commitSent, Math.min(commit, prevIndex + entries.length));
    return true;
  }

  /** `pr`'s follower rejected an append: back off to where its hint says our logs may match, and probe there. */
  appendRejected(m: AppRespMsg, pr: Progress): 'stale' | 'moved' | 'lost' {
    const outcome = pr.maybeDecrTo(m.index, this.nextFromHint(m));
    if (outcome !== 'stale') this.sendAppend(m.from, true);
    return outcome;
  }

  /** Where to resume after a rejection, from the follower's (term, first index) hint. */
  private nextFromHint(m: AppRespMsg): number {
    if (m.hintTerm > 0) {
      const j = this.host.log.lastIndexOfTerm(m.hintTerm, m.index);
      if (j !== undefined) return j + 1;
    }
    return m.hintIndex;
  }

  /**
   * `pr`'s follower answered a snapshot chunk: the next chunk goes out, or the
   * transfer is done. Returns `installed` when the snapshot being sent is done
   * (probing resumes after it), `match` when an answer about another snapshot
   * tells of a higher match, `none` otherwise.
   */
  snapshotAnswered(m: SnapRespMsg, pr: Progress): 'installed' | 'match' | 'none' {
    if (pr.state !== 'snapshot' || m.snapIndex !== pr.pendingSnapshot) {
      // An answer about another snapshot; only a completed one tells us something.
      if (!m.done || !pr.maybeUpdate(m.index)) return 'none';
      if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeProbe();
      return 'match';
    }
    if (m.done) {
      pr.maybeUpdate(m.index);
      pr.becomeProbe();
      return 'installed';
    }
    pr.snapshotOffset = m.offset;
    this.sendSnapshotChunk(m.from, pr);
    return 'none';
  }

  /** Sends the chunk of the latest snapshot that `to` is due, from the offset it confirmed. */
  sendSnapshotChunk(to: NodeId, pr: Progress): void {
    const snap = this.host.snapshot!;
    if (pr.pendingSnapshot !== snap.meta.index) {
      // We compacted again since this transfer began: send the newer snapshot from the start.
      pr.becomeSnapshot(snap.meta.index);
    }
    const offset = Math.min(pr.snapshotOffset, snap.data.length);
    const end = Math.min(snap.data.length, offset + this.limits.maxSnapshotChunkBytes);
    this.send({
      type: MessageType.Snap,
      term: this.host.term,
      from: this.host.id,
      to,
      meta: snap.meta,
      offset,
      data: snap.data.subarray(offset, end),
      size: snap.data.length,
    } satisfies SnapMsg);
    pr.snapshotChunkOut = true;
    pr.snapshotTicks = 0;
  }

  /** Called every tick: resends an unanswered snapshot chunk after an election timeout. */
  retransmitSnapshots(): void {
    for (const [id, pr] of this.progress) {
      if (pr.state !== 'snapshot') continue;
      pr.snapshotTicks++;
      if (pr.snapshotTicks >= this.limits.electionTicks) this.sendSnapshotChunk(id, pr);
    }
  }

  /** Sends every follower a heartbeat carrying read round `ctx`. */
  broadcastHeartbeat(ctx: number): void {
    const committed = this.host.log.committed;
    for (const [to, pr] of this.progress) {
      // Never claim a commit index beyond what this follower is known to hold.
      const commit = Math.min(pr.match, committed);
      this.send({ type: MessageType.Heartbeat, term: this.host.term, from: this.host.id, to, commit, ctx } satisfies HeartbeatMsg);
      pr.commitSent = Math.max(pr.commitSent, commit);
    }
  }

  /**
   * Sends batched appends for new entries (they carry the commit index), and
   * the commit index alone to an idle follower that waits for an entry it
   * forwarded. Other idle followers hear of a commit at the next tick
   * ({@link sendCommitNotices}): under load the next append carries it anyway,
   * and an empty append per commit would double the messages of a write.
   */
  sendAppends(): void {
    const committed = this.host.log.committed;
    for (const [id, pr] of this.progress) {
      let sent = false;
      while (this.sendAppend(id, false)) sent = true;
      if (!sent && pr.forwardedTo > pr.commitSent && this.lacksCommit(pr, committed)) this.sendAppend(id, true);
    }
  }

  /** Called every tick: tells idle followers a commit index they have not been sent. */
  sendCommitNotices(): void {
    const committed = this.host.log.committed;
    for (const [id, pr] of this.progress) if (this.lacksCommit(pr, committed)) this.sendAppend(id, true);
  }

  /**
   * An idle follower that has not been sent the commit index of what it holds.
   * An empty append is safe only when nothing is in flight: it cannot overtake earlier appends.
   */
  private lacksCommit(pr: Progress, committed: number): boolean {
    return pr.state === 'replicate' && pr.inflights.count === 0 && Math.min(pr.match, committed) > pr.commitSent;
  }
}
