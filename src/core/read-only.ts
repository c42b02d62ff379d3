import type { NodeId, ReadState } from './types.js';

/** A read waiting for the leader to confirm it (dissertation §6.4). */
interface PendingRead {
  readonly ctx: number;
  /** Who asked: this node, or a follower to answer with ReadIndexResp. */
  readonly from: NodeId;
  index: number;
  /** The heartbeat round that confirms it; 0 until one is sent. */
  round: number;
  readonly acks: Set<NodeId>;
}

/** The answer a follower's read gets: its read index, or -1 if it was refused. */
export interface ReadAnswer {
  readonly to: NodeId;
  readonly ctx: number;
  readonly index: number;
}

/**
 * The leader's linearizable reads (dissertation §6.4): each read records the
 * commit index, then waits for a heartbeat round that a majority answers.
 * Reads registered between two rounds share the next one. This node's own
 * reads end as {@link ReadState}s or failed contexts, collected for the next
 * Ready; a follower's reads end as {@link ReadAnswer}s for the caller to send,
 * in the order they are returned. When to start a round, and the heartbeat
 * itself, are the caller's.
 */
export class ReadOnly {
  /** Reads that arrived before this leader committed an entry of its term. */
  private awaitingCommit: PendingRead[] = [];
  /** Reads with a read index, in order, waiting for a heartbeat round. */
  private queue: PendingRead[] = [];
  private roundValue = 0;
  private roundNeeded = false;
  private readStates: ReadState[] = [];
  private failedReads: number[] = [];

  constructor(
    private readonly self: NodeId,
    /** The quorum in force: it changes with the configuration. */
    private readonly quorum: () => { isQuorum(ids: ReadonlySet<NodeId>): boolean },
  ) {}

  /** The latest heartbeat round: heartbeats carry it, and an answer confirms every read up to it. */
  get round(): number {
    return this.roundValue;
  }

  /** True if the next Ready has read work: a round to start, or outcomes to hand out. */
  hasWork(): boolean {
    return this.roundNeeded || this.readStates.length > 0 || this.failedReads.length > 0;
  }

  /** Refuses a read: this node's fails, a follower's gets the answer returned (index -1) to send. */
  refuse(ctx: number, from: NodeId): ReadAnswer[] {
    if (from !== this.self) return [{ to: from, ctx, index: -1 }];
    this.failedReads.push(ctx);
    return [];
  }

  /** Answers a read at once at `index` (a lease read): this node's becomes a read state, a follower's is returned to send. */
  answerNow(ctx: number, from: NodeId, index: number): ReadAnswer[] {
    if (from !== this.self) return [{ to: from, ctx, index }];
    this.readStates.push({ ctx, index });
    return [];
  }

  /** Holds a read until this leader's first commit of its term makes the commit index a safe read index. */
  awaitCommit(ctx: number, from: NodeId): void {
    this.awaitingCommit.push(this.pending(ctx, from));
  }

  /** Queues a read at read index `index` for the next heartbeat round. */
  add(ctx: number, from: NodeId, index: number): void {
    this.enqueue(this.pending(ctx, from), index);
  }

  /** The leader committed `committed`: reads held by {@link awaitCommit} take it as their read index. */
  committedTo(committed: number): void {
    for (const r of this.awaitingCommit.splice(0)) this.enqueue(r, committed);
  }

  /**
   * Clears the request for a round, returning whether there was one: reads
   * were queued since the last round.
   */
  takeRoundNeeded(): boolean {
    const needed = this.roundNeeded;
    this.roundNeeded = false;
    return needed;
  }

  /** Opens the next heartbeat round for every queued read that has none yet: no other round is needed for them. */
  startRound(): void {
    this.roundValue++;
    this.roundNeeded = false;
    for (const r of this.queue) if (r.round === 0) r.round = this.roundValue;
  }

  /** A heartbeat answer from `from` for round `round` confirms leadership for every read of that round or before. */
  ack(from: NodeId, round: number): ReadAnswer[] {
    for (const r of this.queue) {
      if (r.round === 0 || r.round > round) break;
      r.acks.add(from);
    }
    return this.release();
  }

  /** Releases, in order, the reads whose round a majority has answered. */
  release(): ReadAnswer[] {
    const answers: ReadAnswer[] = [];
    while (this.queue.length > 0) {
      const r = this.queue[0]!;
      if (r.round === 0 || !this.quorum().isQuorum(r.acks)) break;
      this.queue.shift();
      if (r.from === this.self) this.readStates.push({ ctx: r.ctx, index: r.index });
      else answers.push({ to: r.from, ctx: r.ctx, index: r.index });
    }
    return answers;
  }

  /** On leaving leadership: this node's reads fail, followers' reads are refused (index -1). */
  drop(): ReadAnswer[] {
    const answers: ReadAnswer[] = [];
    for (const r of [...this.awaitingCommit.splice(0), ...this.queue.splice(0)]) {
      if (r.from === this.self) this.failedReads.push(r.ctx);
      else answers.push({ to: r.from, ctx: r.ctx, index: -1 });
    }
    this.roundNeeded = false;
    return answers;
  }

  /** The leader answered one of this node's reads (as a follower): -1 means refused. */
  answered(ctx: number, index: number): void {
    if (index < 0) this.failedReads.push(ctx);
    else this.readStates.push({ ctx, index });
  }

  /** Hands out the reads confirmed since the last call. */
  takeReadStates(): ReadState[] {
    const out = this.readStates;
    this.readStates = [];
    return out;
  }

  /** Hands out the contexts of reads failed since the last call. */
  takeFailedReads(): number[] {
    const out = this.failedReads;
    this.failedReads = [];
    return out;
  }

  private pending(ctx: number, from: NodeId): PendingRead {
    return { ctx, from, index: 0, round: 0, acks: new Set([this.self]) };
  }

  private enqueue(r: PendingRead, index: number): void {
    r.index = index;
    this.queue.push(r);
    this.roundNeeded = true;
  }
}
