import type { NodeId, Role } from '../core/types.js';

/**
 * Structured events of one simulation run, for pages that draw it (the replay
 * page, the playground) and for tests. Shared by Node and the browser: plain
 * data only. Every event carries the virtual time `t` (ms) at which it
 * happened. Observing never changes a run: the simulator calls the observer
 * after it has decided what happens, draws nothing for it, and builds no
 * event at all when there is no observer.
 */
export type SimEvent =
  | MessageSent
  | MessageFate
  | NodeFrameEvent
  | CutsEvent
  | FaultEvent
  | MembershipEvent
  | ClientEvent
  | TraceEvent
  | FailureEvent
  | EndEvent;

/** A node handed a message to the network. `id` is unique in the run. */
export interface MessageSent {
  readonly kind: 'send';
  readonly t: number;
  readonly id: number;
  readonly from: NodeId;
  readonly to: NodeId;
  /** The Raft message type (its number in src/core/types.ts). */
  readonly type: number;
  /** The type by name: `AppendEntries`, `RequestVoteReply`, ... */
  readonly name: string;
  /** The message in words (src/core/describe.ts): `AppendEntries t4 prev 7@3 [8..12] commit 7`. */
  readonly words: string;
  readonly term: number;
  /** For replies that grant or refuse (votes, appends): whether they did; undefined otherwise. */
  readonly ok: boolean | undefined;
  /** Log entries carried (AppendEntries); 0 otherwise. */
  readonly entries: number;
}

/**
 * What became of a message (or of one copy of it, `copy` 0 or 1):
 * - `drop`: lost; `reason` `cut` (the link is cut), `loss` (random loss at send),
 *   `down` (the receiver is not running when it arrives);
 * - `dup`: the network will deliver it twice (two `schedule` events follow);
 * - `schedule`: a copy is on the wire and arrives at `arriveAt`;
 * - `hold`: a paused node's message waits (`side` `out`: its sender is paused, `in`: its receiver);
 * - `deliver`: the receiver got it (`bytes` on the wire; 0 if it waited in a paused node's buffer).
 */
export type MessageFate =
  | { readonly kind: 'drop'; readonly t: number; readonly id: number; readonly copy: number; readonly reason: 'cut' | 'loss' | 'down'; readonly atSend: boolean }
  | { readonly kind: 'dup'; readonly t: number; readonly id: number }
  | { readonly kind: 'schedule'; readonly t: number; readonly id: number; readonly copy: number; readonly arriveAt: number }
  | { readonly kind: 'hold'; readonly t: number; readonly id: number; readonly copy: number; readonly side: 'in' | 'out' }
  | { readonly kind: 'deliver'; readonly t: number; readonly id: number; readonly copy: number; readonly bytes: number };

/** Where a node is: its process status and Raft state (the Raft fields are null while it is not running). */
export interface NodeFrame {
  readonly id: NodeId;
  readonly status: 'up' | 'down' | 'starting' | 'refused' | 'retired';
  readonly paused: boolean;
  /** Removed from the configuration (committed). */
  readonly removed: boolean;
  readonly role: Role | null;
  readonly term: number | null;
  readonly vote: NodeId | null;
  readonly leader: NodeId | null;
  readonly commit: number | null;
  readonly applied: number | null;
  readonly lastIndex: number | null;
  readonly snapIndex: number | null;
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** The outgoing voters while the configuration is joint. */
  readonly outgoing: readonly NodeId[];
  /** The terms of the last {@link LOG_TAIL} entries: `terms[i]` is the term of entry `tailFirst + i`. */
  readonly tailFirst: number;
  readonly tailTerms: readonly number[];
}

/** How many log entries a node frame shows. */
export const LOG_TAIL = 30;

/** A node's state changed (sent after the simulator step that changed it). */
export interface NodeFrameEvent {
  readonly kind: 'node';
  readonly t: number;
  readonly node: NodeFrame;
}

/** The set of cut links (from → to) changed. */
export interface CutsEvent {
  readonly kind: 'cuts';
  readonly t: number;
  readonly cuts: readonly (readonly [NodeId, NodeId])[];
  /** The partition's shape in words (`minority 1,3 | majority 0,2,4`, `healed`). */
  readonly name: string;
}

/**
 * A fault or a recovery: `crash` (the process dies, the disk keeps what it synced),
 * `crash-all`, `power-loss` (armed: the power fails within `ops` disk operations),
 * `pause` (for `ms`), `resume`, `clock-jump` (by `ms`), `byte-flip` (in `detail`),
 * `restart`, `up` (the node runs again), `refused` (it refuses to start from a corrupt log),
 * `heal` (every fault ends).
 */
export interface FaultEvent {
  readonly kind: 'fault';
  readonly t: number;
  readonly fault: 'crash' | 'crash-all' | 'power-loss' | 'pause' | 'resume' | 'clock-jump' | 'byte-flip' | 'restart' | 'up' | 'refused' | 'heal';
  readonly node: NodeId | null;
  readonly ms?: number;
  readonly ops?: number;
  readonly detail: string;
}

/** What the membership nemesis did. */
export interface MembershipEvent {
  readonly kind: 'membership';
  readonly t: number;
  readonly action: 'add' | 'promote' | 'remove' | 'transfer' | 'refused' | 'retire';
  readonly node: NodeId | null;
  readonly detail: string;
}

/** A client operation: `invoke` when it is issued, `return` when its answer arrives. */
export interface ClientEvent {
  readonly kind: 'client';
  readonly t: number;
  readonly phase: 'invoke' | 'return';
  readonly client: string;
  readonly op: 'get' | 'put' | 'append' | 'delete' | 'cas';
  readonly key: string;
  readonly value: string | undefined;
  /** The answer (returns only), as JSON. */
  readonly result: string | undefined;
  readonly status: 'pending' | 'ok';
  /** The node that answered (returns only). */
  readonly node: NodeId | null;
  /** The call time of the operation this event belongs to (pairs invoke and return). */
  readonly callT: number;
}

/** One line of the text trace (`line` without its time prefix). */
export interface TraceEvent {
  readonly kind: 'trace';
  readonly t: number;
  readonly line: string;
}

/** Operations of a non-linearizable history, as client events. */
export interface HistoryPart {
  readonly key: string;
  /** The operation no linearization of the others can place. */
  readonly stuck: HistoryPartOp | null;
  /** The last operations of the longest linearizable prefix, then the operations overlapping the stuck one. */
  readonly ops: readonly HistoryPartOp[];
}

export interface HistoryPartOp {
  readonly client: string;
  readonly words: string;
  readonly call: number;
  readonly return: number | null;
}

/** The first failed check of the run. */
export interface FailureEvent {
  readonly kind: 'failure';
  readonly t: number;
  readonly check: string;
  readonly message: string;
  /** For a linearizability failure: the smallest part of the history that shows it. */
  readonly history?: HistoryPart;
}

/** The run ended. */
export interface EndEvent {
  readonly kind: 'end';
  readonly t: number;
  readonly ok: boolean;
  readonly traceHash: string;
}

/** Receives the events of a run, in order. */
export type SimObserver = (e: SimEvent) => void;
