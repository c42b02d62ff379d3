/** A member's id. Ids are small non-negative integers, unique in a cluster. */
export type NodeId = number;

/** What an entry carries: a command for the state machine, or a leader's no-op. */
export const EntryType = {
  Normal: 0,
  /** Appended by a new leader to commit an entry of its own term (dissertation §6.4). */
  Noop: 1,
  /** A membership change: its data is an encoded {@link ConfChange} (see confchange.ts). */
  ConfChange: 2,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** One log entry. Indices start at 1; index 0 is the empty log's sentinel. */
export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must be on stable storage before a node answers an RPC (Figure 2). */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  /** Commit index known when saved; a lower bound that saves work on restart. */
  readonly commit: number;
}

/**
 * The membership in force. Ids are never reused: a node that comes back with
 * an empty disk is a new member with a new id, so nothing a previous member
 * of that name said can be taken for the new one's.
 */
export interface ConfState {
  /** Who votes (C_new while joint). */
  readonly voters: readonly NodeId[];
  /** C_old while joint (elections and commitment then need a majority of both); empty otherwise. */
  readonly outgoing: readonly NodeId[];
  /** Who receives the log but never votes and never counts toward a quorum. */
  readonly learners: readonly NodeId[];
  /** Data the core carries for each member and never reads (the server keeps names and addresses here). */
  readonly context: Readonly<Record<string, string>>;
}

/** One step of a {@link ConfChange}. */
export interface ConfChangeStep {
  /**
   * - `addLearner`: a new member that receives the log and does not vote;
   * - `promote`: a learner becomes a voter;
   * - `remove`: a voter or learner leaves.
   */
  readonly type: 'addLearner' | 'promote' | 'remove';
  readonly id: NodeId;
  /** With `addLearner`: the member's context, carried in {@link ConfState.context}. */
  readonly context?: string;
}

/**
 * A membership change, carried by an entry of type {@link EntryType.ConfChange}.
 * A change of the voters enters the joint configuration (C_old,new), which the
 * leader leaves by itself once it is applied; a change of learners only takes
 * effect at once. An empty list of steps leaves the joint configuration.
 */
export interface ConfChange {
  readonly steps: readonly ConfChangeStep[];
}

/** The last log position a snapshot covers, and the membership in force there. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  /** The configuration in force at `index`; absent in snapshots written before membership changes existed. */
  readonly conf?: ConfState | undefined;
}

/** A state-machine snapshot covering every entry up to `meta.index`. */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

/**
 * A snapshot's bytes as the core reads them to send chunks: a `Uint8Array`
 * in memory, or a reader of the file storage wrote it to (src/storage/snapshot-file-reader.ts),
 * so that a node does not keep a copy of its state in memory to serve followers.
 * `subarray` may read, and throw if the bytes cannot be read intact.
 */
export interface SnapshotBytes {
  readonly length: number;
  subarray(begin: number, end: number): Uint8Array;
}

/** The latest snapshot as the core keeps it, to send to followers behind the log's start. */
export interface RetainedSnapshot {
  readonly meta: SnapshotMeta;
  readonly data: SnapshotBytes;
}

export const Role = {
  Follower: 'follower',
  /** Asking for pre-votes before campaigning (only with pre-vote enabled). */
  PreCandidate: 'precandidate',
  Candidate: 'candidate',
  Leader: 'leader',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

export const MessageType = {
  /** RequestVote. */
  Vote: 1,
  VoteResp: 2,
  /** AppendEntries carrying entries (possibly none, as a probe). */
  App: 3,
  AppResp: 4,
  /** Leader heartbeat: asserts leadership and carries a safe commit index. */
  Heartbeat: 5,
  HeartbeatResp: 6,
  /** One chunk of InstallSnapshot. */
  Snap: 7,
  SnapResp: 8,
  /** A follower asks the leader for a read index (dissertation §6.4). */
  ReadIndex: 9,
  ReadIndexResp: 10,
  /** A follower forwards proposals to the leader. */
  Prop: 11,
  /** A pre-vote (dissertation §9.6): would you vote for me in the next term? Changes no term. */
  PreVote: 12,
  PreVoteResp: 13,
  /** Leadership transfer (dissertation §3.10): the leader tells an up-to-date voter to campaign now. */
  TimeoutNow: 14,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

interface Envelope {
  readonly term: number;
  readonly from: NodeId;
  readonly to: NodeId;
}

export interface VoteMsg extends Envelope {
  readonly type: typeof MessageType.Vote;
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** Sent on the leader's request (leadership transfer): not refused for a live leader. */
  readonly transfer?: boolean;
}

export interface VoteRespMsg extends Envelope {
  readonly type: typeof MessageType.VoteResp;
  readonly granted: boolean;
}

export interface AppMsg extends Envelope {
  readonly type: typeof MessageType.App;
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

export interface AppRespMsg extends Envelope {
  readonly type: typeof MessageType.AppResp;
  readonly success: boolean;
  /**
   * On success, the highest index known to match the leader's log.
   * On rejection, the `prevIndex` that was rejected (lets the leader drop stale rejections).
   */
  readonly index: number;
  /** On rejection: the follower's term at `prevIndex`, or 0 if its log is shorter. */
  readonly hintTerm: number;
  /** On rejection: first index of `hintTerm` in the follower's log, or its last index + 1. */
  readonly hintIndex: number;
}

export interface HeartbeatMsg extends Envelope {
  readonly type: typeof MessageType.Heartbeat;
  readonly commit: number;
  /** The leader's latest read round: an answer confirms its leadership for every read up to it. */
  readonly ctx: number;
}

export interface HeartbeatRespMsg extends Envelope {
  readonly type: typeof MessageType.HeartbeatResp;
  /** The read round of the heartbeat this answers. */
  readonly ctx: number;
}

export interface ReadIndexMsg extends Envelope {
  readonly type: typeof MessageType.ReadIndex;
  /** The follower's id for this read, echoed in the answer. */
  readonly ctx: number;
  /** A lease read: the leader may answer from its lease, without a heartbeat round. */
  readonly lease?: boolean;
}

export interface ReadIndexRespMsg extends Envelope {
  readonly type: typeof MessageType.ReadIndexResp;
  readonly ctx: number;
  /** The read index, or -1 if the read was refused (not the leader any more). */
  readonly index: number;
}

export interface SnapMsg extends Envelope {
  readonly type: typeof MessageType.Snap;
  readonly meta: SnapshotMeta;
  /** Byte offset of `data` within the whole snapshot. */
  readonly offset: number;
  readonly data: Uint8Array;
  /** Size of the whole snapshot in bytes. */
  readonly size: number;
}

export interface SnapRespMsg extends Envelope {
  readonly type: typeof MessageType.SnapResp;
  /** The snapshot index this answers. */
  readonly snapIndex: number;
  /** Bytes received contiguously so far: where the next chunk should start. */
  readonly offset: number;
  /**
   * True once the follower holds everything up to `index` (installed, or already
   * committed). `index` is then a matching index, like an append success.
   */
  readonly done: boolean;
  readonly index: number;
}

export interface PropMsg extends Envelope {
  readonly type: typeof MessageType.Prop;
  /** Commands for the leader to append, in order. */
  readonly data: readonly Uint8Array[];
}

export interface PreVoteMsg extends Envelope {
  readonly type: typeof MessageType.PreVote;
  /** The term the sender would campaign in (its term + 1); the receiver does not adopt it. */
  readonly term: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
}

export interface PreVoteRespMsg extends Envelope {
  readonly type: typeof MessageType.PreVoteResp;
  /** When granted, the pre-vote's term (echoed); when refused, the responder's term. */
  readonly term: number;
  readonly granted: boolean;
}

export interface TimeoutNowMsg extends Envelope {
  readonly type: typeof MessageType.TimeoutNow;
  /** The leader's last index when it sent this: a target behind it does not campaign. */
  readonly lastIndex: number;
}

/** Every message the core sends or receives. */
export type Message =
  | VoteMsg
  | VoteRespMsg
  | AppMsg
  | AppRespMsg
  | HeartbeatMsg
  | HeartbeatRespMsg
  | SnapMsg
  | SnapRespMsg
  | ReadIndexMsg
  | ReadIndexRespMsg
  | PropMsg
  | PreVoteMsg
  | PreVoteRespMsg
  | TimeoutNowMsg;

/** True for messages that open an exchange and get exactly one response. */
export function isRequest(m: Message): m is VoteMsg | AppMsg | HeartbeatMsg | SnapMsg | PreVoteMsg {
  return m.type === MessageType.Vote || m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap || m.type === MessageType.PreVote;
}

/** What the core is restarted from: everything storage holds. */
export interface RaftInitialState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
}

/** A read confirmed safe to serve once the state machine has applied `index`. */
export interface ReadState {
  readonly ctx: number;
  readonly index: number;
}

/** Role and leader as the node sees them; not persisted. */
export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId | null;
}
