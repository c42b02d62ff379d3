// Test helpers for message-by-message tests of the pure Raft core.
//
// Two levels:
// - single-core helpers (newRaft, drain, makeCandidate, makeLeader, message
//   builders) to feed one core hand-made messages and inspect what it sends;
// - a Cluster that owns several cores, persists each Ready into an in-memory
//   storage model, checks the persistence contract on every outgoing message,
//   applies committed entries (checking state-machine safety across nodes),
//   and pumps messages between nodes with optional drop rules.

import assert from 'node:assert/strict';
import type { RaftConfig } from '../../src/core/config.js';
import { Raft, type Ready } from '../../src/core/raft.js';
import {
  EntryType,
  MessageType,
  Role,
  type AppMsg,
  type AppRespMsg,
  type Entry,
  type HeartbeatMsg,
  type HeartbeatRespMsg,
  type Message,
  type NodeId,
  type SnapMsg,
  type SnapRespMsg,
  type Snapshot,
  type SnapshotMeta,
  type VoteMsg,
  type VoteRespMsg,
} from '../../src/core/types.js';
import { applyUpdate } from '../../src/storage/apply-update.js';
import type { StorageState } from '../../src/storage/types.js';
import { SeededRandom, type Random } from '../../src/util/random.js';

// ---- entries ------------------------------------------------------------------

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Deterministic payload: the same (index, term) always carries the same bytes. */
export function payload(index: number, term: number): Uint8Array {
  return enc.encode(`${index}@${term}`);
}

/** One normal entry whose data is derived from its position. */
export function entry(index: number, term: number, data: Uint8Array = payload(index, term)): Entry {
  return { index, term, type: EntryType.Normal, data };
}

/** Entries with the given terms, at consecutive indices starting at `first` (default 1). */
export function ents(terms: readonly number[], first = 1): Entry[] {
  return terms.map((t, i) => entry(first + i, t));
}

/** The terms of the entries held in memory (after the snapshot), in index order. */
export function logTerms(r: Raft): number[] {
  const out: number[] = [];
  for (let i = r.log.firstIndex(); i <= r.log.lastIndex(); i++) out.push(r.log.term(i)!);
  return out;
}

export function text(data: Uint8Array): string {
  return dec.decode(data);
}

export function bytes(s: string): Uint8Array {
  return enc.encode(s);
}

/** A byte array 0, 1, ..., n-1. */
export function seqBytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => i);
}

// ---- randomness ----------------------------------------------------------------

/** A Random whose int(n) always returns min(k, n - 1): election timeout = T + k exactly. */
export function constRandom(k: number): Random {
  const r: Random = {
    int: (n: number) => Math.min(k, n - 1),
    float: () => 0,
    fork: () => r,
  };
  return r;
}

// ---- single cores ----------------------------------------------------------------

export type NodeOptions = Partial<Omit<RaftConfig, 'id' | 'voters'>>;

export interface StartState {
  term?: number;
  vote?: NodeId | null;
  commit?: number;
  entries?: readonly Entry[];
  snapshot?: Snapshot | null;
}

export const DEFAULT_ELECTION = 10;
export const DEFAULT_HEARTBEAT = 1;

export function newRaft(id: NodeId, voters: readonly NodeId[], opts: NodeOptions = {}, start: StartState = {}): Raft {
  return new Raft(
    {
      electionTicks: DEFAULT_ELECTION,
      heartbeatTicks: DEFAULT_HEARTBEAT,
      random: new SeededRandom(1000 + id),
      ...opts,
      id,
      voters,
    },
    {
      hardState: { term: start.term ?? 0, vote: start.vote ?? null, commit: start.commit ?? 0 },
      snapshot: start.snapshot ?? null,
      entries: start.entries ?? [],
    },
  );
}

/** Takes the pending Ready and immediately acknowledges it (as if persisted, sent and applied). */
export function drain(r: Raft): Ready {
  const rd = r.ready();
  r.advance(rd);
  return rd;
}

/** Messages of the pending Ready (which is advanced). */
export function drainMsgs(r: Raft): Message[] {
  return [...drain(r).messages];
}

/** Ticks until the node is a candidate (or leader, for a single voter). Returns the tick count. */
export function tickUntilCampaign(r: Raft, max = 1000): number {
  const role = r.role;
  const term = r.term;
  for (let i = 1; i <= max; i++) {
    r.tick();
    if (r.term !== term || r.role !== role) return i;
  }
  throw new Error(`node ${r.id} did not campaign within ${max} ticks`);
}

/** Makes a follower campaign and drains the Ready holding its vote requests. */
export function makeCandidate(r: Raft): Message[] {
  tickUntilCampaign(r);
  assert.equal(r.role, Role.Candidate);
  return drainMsgs(r);
}

/** Makes a follower campaign and win with grants from its peers; drains the Readies (the leader's own entries count as persisted). */
export function makeLeader(r: Raft): void {
  makeCandidate(r);
  for (const id of r.voters) {
    if (id === r.id || r.role !== Role.Candidate) continue;
    r.step(voteResp(id, r.id, r.term, true));
  }
  assert.equal(r.role, Role.Leader);
  drain(r);
}

// ---- message builders ---------------------------------------------------------------

export function vote(from: NodeId, to: NodeId, term: number, lastIndex: number, lastTerm: number): VoteMsg {
  return { type: MessageType.Vote, term, from, to, lastIndex, lastTerm };
}

export function voteResp(from: NodeId, to: NodeId, term: number, granted: boolean): VoteRespMsg {
  return { type: MessageType.VoteResp, term, from, to, granted };
}

export function app(
  from: NodeId,
  to: NodeId,
  term: number,
  f: { prevIndex: number; prevTerm: number; entries?: readonly Entry[]; commit?: number },
): AppMsg {
  return { type: MessageType.App, term, from, to, prevIndex: f.prevIndex, prevTerm: f.prevTerm, entries: f.entries ?? [], commit: f.commit ?? 0 };
}

export function appResp(
  from: NodeId,
  to: NodeId,
  term: number,
  f: { success: boolean; index: number; hintTerm?: number; hintIndex?: number },
): AppRespMsg {
  return { type: MessageType.AppResp, term, from, to, success: f.success, index: f.index, hintTerm: f.hintTerm ?? 0, hintIndex: f.hintIndex ?? 0 };
}

export function heartbeat(from: NodeId, to: NodeId, term: number, commit: number, ctx = 0): HeartbeatMsg {
  return { type: MessageType.Heartbeat, term, from, to, commit, ctx };
}

export function heartbeatResp(from: NodeId, to: NodeId, term: number, ctx = 0): HeartbeatRespMsg {
  return { type: MessageType.HeartbeatResp, term, from, to, ctx };
}

export function snap(from: NodeId, to: NodeId, term: number, meta: SnapshotMeta, whole: Uint8Array, offset: number, length: number): SnapMsg {
  return { type: MessageType.Snap, term, from, to, meta, offset, data: whole.subarray(offset, offset + length), size: whole.length };
}

export function snapResp(
  from: NodeId,
  to: NodeId,
  term: number,
  f: { snapIndex: number; offset: number; done: boolean; index: number },
): SnapRespMsg {
  return { type: MessageType.SnapResp, term, from, to, ...f };
}

/** Messages of one type, with the type narrowed. */
export function ofType<T extends Message['type']>(msgs: readonly Message[], type: T): Extract<Message, { type: T }>[] {
  return msgs.filter((m): m is Extract<Message, { type: T }> => m.type === type);
}

// ---- cluster ---------------------------------------------------------------------

export type DropRule = (m: Message) => boolean;

/**
 * Several cores wired together by hand. Nothing happens unless a test calls
 * tick / flush / deliver / stabilize, so every scenario is deterministic.
 */
export class Cluster {
  readonly ids: readonly NodeId[];
  readonly nodes = new Map<NodeId, Raft>();
  /** What each node has on "disk": every Ready is written here before its messages leave. */
  readonly storage = new Map<NodeId, StorageState>();
  /** Entries each node handed to its state machine, in order (after its latest snapshot). */
  readonly applied = new Map<NodeId, Entry[]>();
  /** Snapshots each node's state machine was told to load. */
  readonly appliedSnapshots = new Map<NodeId, Snapshot[]>();
  /** Every Ready each node produced. */
  readonly readies = new Map<NodeId, Ready[]>();
  /** Messages waiting for delivery. */
  queue: Message[] = [];
  /** Every message that left a node, in order. */
  readonly sent: Message[] = [];
  /** Every message dropped at delivery. */
  readonly dropped: Message[] = [];
  private rules: DropRule[] = [];
  /** index -> the entry some node applied there (state machine safety across nodes). */
  private readonly appliedAt = new Map<number, Entry>();
  private readonly appliedIndex = new Map<NodeId, number>();

  constructor(
    ids: readonly NodeId[],
    private readonly opts: NodeOptions | ((id: NodeId) => NodeOptions) = {},
    start: (id: NodeId) => StartState = () => ({}),
  ) {
    this.ids = [...ids];
    this.bootstrap = ids;
    for (const id of ids) this.register(id, ids, start(id));
  }

  /** The bootstrap voters every node was started with (a joining node starts with none). */
  private readonly bootstrap: readonly NodeId[];
  private readonly voterLists = new Map<NodeId, readonly NodeId[]>();

  private register(id: NodeId, voters: readonly NodeId[], s: StartState): void {
    const o = typeof this.opts === 'function' ? this.opts(id) : this.opts;
    this.voterLists.set(id, voters);
    this.nodes.set(id, newRaft(id, voters, o, s));
    this.storage.set(id, {
      hardState: { term: s.term ?? 0, vote: s.vote ?? null, commit: s.commit ?? 0 },
      snapshot: s.snapshot ?? null,
      entries: s.entries ?? [],
    });
    this.applied.set(id, []);
    this.appliedSnapshots.set(id, []);
    this.readies.set(id, []);
    this.appliedIndex.set(id, s.snapshot?.meta.index ?? 0);
  }

  /** Starts a node with an empty log and no configuration: one that waits to be added to the cluster. */
  addNode(id: NodeId): Raft {
    assert.ok(!this.nodes.has(id), `node ${id} exists`);
    (this.ids as NodeId[]).push(id);
    this.register(id, [], {});
    return this.get(id);
  }

  /** Throws away everything node `id` stored (a lost disk) and restarts it under the same id. */
  wipe(id: NodeId): Raft {
    this.storage.set(id, { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });
    return this.restart(id);
  }

  get(id: NodeId): Raft {
    const r = this.nodes.get(id);
    if (r === undefined) throw new Error(`no node ${id}`);
    return r;
  }

  /** Drops matching messages at delivery until heal(). */
  drop(rule: DropRule): void {
    this.rules.push(rule);
  }

  /** Drops everything to or from `id`. */
  isolate(id: NodeId): void {
    this.drop((m) => m.to === id || m.from === id);
  }

  heal(): void {
    this.rules = [];
  }

  /** Restarts a node from what it persisted (volatile state is lost). */
  restart(id: NodeId): Raft {
    const s = this.storage.get(id)!;
    const o = typeof this.opts === 'function' ? this.opts(id) : this.opts;
    const r = newRaft(id, this.voterLists.get(id) ?? this.bootstrap, o, { term: s.hardState.term, vote: s.hardState.vote, commit: s.hardState.commit, entries: s.entries, snapshot: s.snapshot });
    this.nodes.set(id, r);
    this.queue = this.queue.filter((m) => m.to !== id);
    this.applied.set(id, []);
    this.appliedIndex.set(id, s.snapshot?.meta.index ?? 0);
    return r;
  }

  /**
   * Handles one Ready of node `id` like a correct driver: persist, check that
   * every outgoing message is backed by durable state, send, apply, advance.
   */
  flush(id: NodeId): Ready | undefined {
    const r = this.get(id);
    if (!r.hasReady()) return undefined;
    const rd = r.ready();
    this.readies.get(id)!.push(rd);
    const st = applyUpdate(this.storage.get(id)!, { hardState: rd.hardState, snapshot: rd.snapshot, entries: rd.entries, sync: rd.mustSync });
    this.storage.set(id, st);
    for (const m of rd.messages) {
      checkBackedByStorage(id, m, st);
      this.queue.push(m);
      this.sent.push(m);
    }
    if (rd.applySnapshot !== undefined) {
      const at = this.appliedIndex.get(id)!;
      assert.ok(rd.applySnapshot.meta.index > at, `node ${id} loads snapshot ${rd.applySnapshot.meta.index} at applied ${at}`);
      this.appliedSnapshots.get(id)!.push(rd.applySnapshot);
      this.applied.set(id, []);
      this.appliedIndex.set(id, rd.applySnapshot.meta.index);
    }
    for (const e of rd.committedEntries) {
      const at = this.appliedIndex.get(id)!;
      assert.equal(e.index, at + 1, `node ${id} applies index ${e.index} after ${at}`);
      const other = this.appliedAt.get(e.index);
      if (other !== undefined) {
        assert.ok(other.term === e.term && text(other.data) === text(e.data), `state machine safety: index ${e.index} applied as term ${other.term} and term ${e.term}`);
      } else {
        this.appliedAt.set(e.index, e);
      }
      this.applied.get(id)!.push(e);
      this.appliedIndex.set(id, e.index);
    }
    r.advance(rd);
    return rd;
  }

  /** Flushes every node once. Returns true if any had a Ready. */
  flushAll(): boolean {
    let any = false;
    for (const id of this.ids) if (this.flush(id) !== undefined) any = true;
    return any;
  }

  /** Delivers the messages queued so far (not those they cause). Returns how many were delivered. */
  deliverAll(): number {
    const batch = this.queue;
    this.queue = [];
    let n = 0;
    for (const m of batch) if (this.deliver(m)) n++;
    return n;
  }

  /** Delivers one message unless a drop rule matches. */
  deliver(m: Message): boolean {
    if (this.rules.some((rule) => rule(m))) {
      this.dropped.push(m);
      return false;
    }
    this.get(m.to).step(m);
    return true;
  }

  /** Delivers only the queued messages matching `pred`; the rest stay queued. */
  deliverWhere(pred: (m: Message) => boolean): number {
    const take = this.queue.filter(pred);
    this.queue = this.queue.filter((m) => !pred(m));
    let n = 0;
    for (const m of take) if (this.deliver(m)) n++;
    return n;
  }

  /** Flush and deliver until nothing moves (no ticks happen). */
  stabilize(maxRounds = 500): void {
    for (let i = 0; i < maxRounds; i++) {
      const any = this.flushAll();
      if (!any && this.queue.length === 0) return;
      this.deliverAll();
    }
    throw new Error(`cluster did not stabilize in ${maxRounds} rounds`);
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) this.get(id).tick();
  }

  /** Ticks `id` until it starts an election (it becomes candidate, or leader if alone). */
  campaign(id: NodeId): void {
    tickUntilCampaign(this.get(id));
  }

  /** Makes `id` campaign and runs the cluster until quiet; asserts it won. */
  elect(id: NodeId): Raft {
    this.campaign(id);
    this.stabilize();
    const r = this.get(id);
    assert.equal(r.role, Role.Leader, `node ${id} should have won the election`);
    return r;
  }

  /** Proposes on `id` (must be leader) and returns the index. */
  propose(id: NodeId, data: Uint8Array | string): number {
    const res = this.get(id).propose(typeof data === 'string' ? bytes(data) : data);
    assert.ok(res !== null, `node ${id} is not the leader`);
    return res.index;
  }

  /**
   * One tick of leader `id`, then stabilizes: idle followers hear of a commit
   * index at the leader's next tick (Replication.sendCommitNotices), not at once.
   */
  tickAndStabilize(id: NodeId): void {
    this.tick(id);
    this.stabilize();
  }

  /** Ticks the leader through one heartbeat interval and stabilizes. */
  heartbeat(id: NodeId, heartbeatTicks = DEFAULT_HEARTBEAT): void {
    this.tick(id, heartbeatTicks);
    this.stabilize();
  }

  /** Indices of the entries a node applied since its last snapshot. */
  appliedIndices(id: NodeId): number[] {
    return this.applied.get(id)!.map((e) => e.index);
  }

  /** Messages sent so far matching `pred`. */
  sentWhere(pred: (m: Message) => boolean): Message[] {
    return this.sent.filter(pred);
  }
}

/**
 * The persistence contract: what a message promises must already be in storage.
 * A message of an older term than the stored one was overtaken before its Ready
 * was taken (the node moved on to a newer term in between); a higher term on disk
 * already rules out a second vote in the old term, so only its term is checked.
 */
function checkBackedByStorage(id: NodeId, m: Message, st: StorageState): void {
  // Pre-votes (and granted answers) carry the next term by design and promise nothing.
  if (m.type === MessageType.PreVote || (m.type === MessageType.PreVoteResp && m.granted)) return;
  const stored = st.hardState.term;
  assert.ok(stored >= m.term, `node ${id} sends a term-${m.term} message with term ${stored} on disk`);
  if (stored > m.term) return;
  const lastStored = (st.snapshot?.meta.index ?? 0) + st.entries.length;
  switch (m.type) {
    case MessageType.Vote:
      assert.equal(st.hardState.vote, id, `candidate ${id} asks for votes before persisting its own vote`);
      break;
    case MessageType.VoteResp:
      if (m.granted) assert.equal(st.hardState.vote, m.to, `node ${id} grants a vote to ${m.to} in term ${m.term} before persisting it`);
      break;
    case MessageType.AppResp:
      if (m.success) assert.ok(lastStored >= m.index, `node ${id} acknowledges index ${m.index} with only ${lastStored} stored`);
      break;
    case MessageType.SnapResp:
      if (m.done) assert.ok(lastStored >= m.index, `node ${id} acknowledges snapshot up to ${m.index} with only ${lastStored} stored`);
      break;
    default:
      break;
  }
}
