/**
 * The wire format of `GET /v1/events` (docs/API.md, "Live events"): what a
 * node tells a dashboard about itself. Shared by the server (src/server/events.ts)
 * and the browser dashboard (src/web/dashboard): types only, no Node imports.
 */

/** A member of the configuration in force, as this node knows it. */
export interface EventsMember {
  /** Its name (`tsraft serve --id`). */
  readonly id: string;
  /** Its Raft id. */
  readonly nodeId: number;
  /** `voter` (also while leaving in a joint configuration) or `learner`. */
  readonly role: 'voter' | 'learner';
  /** True while a joint configuration is being left and this voter is in the outgoing half only. */
  readonly outgoing: boolean;
  /** Its HTTP API's base URL, if this node knows it (a browser opens `apiUrl + '/v1/events'`). */
  readonly apiUrl: string | null;
}

/** On the leader: one follower's replication progress. */
export interface EventsPeerProgress {
  readonly id: string;
  /** Highest index known to be on the follower. */
  readonly match: number;
  /** Next index the leader sends it. */
  readonly next: number;
  /** `probe`, `replicate` or `snapshot`. */
  readonly state: string;
  /** Entries it is behind the leader's last index. */
  readonly lag: number;
}

/** Latency over the last window: count, mean and quantiles estimated from the histogram's buckets (ms). */
export interface EventsLatency {
  readonly count: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Rates over the last window (about a second). */
export interface EventsRates {
  /** The window the rates are computed over (ms). */
  readonly windowMs: number;
  /** Entries applied to the state machine per second. */
  readonly appliedPerSec: number;
  /** HTTP requests this node's API received per second (every route). */
  readonly requestsPerSec: number;
  /** Writes proposed through this node per second. */
  readonly proposalsPerSec: number;
  /** Raft messages sent per second to each peer (by name): the total and the count per message type. */
  readonly sent: Readonly<Record<string, { readonly total: number; readonly byType: Readonly<Record<string, number>> }>>;
  /** Raft messages received per second from each peer (by name). */
  readonly received: Readonly<Record<string, number>>;
  /** Time from proposing a write to applying it on this node; null without proposals in the window. */
  readonly proposal: EventsLatency | null;
  /** Time to write and fsync one batch to the WAL; null without writes in the window. */
  readonly fsync: EventsLatency | null;
}

/** What a node says about itself: the `node` of a `snapshot`, and what a `state` message changes. */
export interface EventsNodeState {
  /** This node's name. */
  readonly id: string;
  readonly nodeId: number;
  /** `follower`, `precandidate`, `candidate` or `leader`. */
  readonly role: string;
  readonly term: number;
  /** The leader's name as this node knows it, or null. */
  readonly leader: string | null;
  /** Whom this node voted for in its term (name), or null. */
  readonly vote: string | null;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** The index the latest snapshot covers (0: none). */
  readonly snapshotIndex: number;
  /** This node's own API URL. */
  readonly apiUrl: string;
  readonly members: readonly EventsMember[];
  /** On the leader, each other member's progress; empty elsewhere. */
  readonly peers: readonly EventsPeerProgress[];
  /** The last entries of the log as [index, term] pairs, oldest first (at most {@link LOG_TAIL} of them). */
  readonly log: readonly (readonly [number, number])[];
  /** Null until the first window has passed. */
  readonly rates: EventsRates | null;
}

/** How many entries of the log's tail a node reports. */
export const LOG_TAIL = 40;

/** Kinds of `event` messages. */
export type EventsEventKind = 'election-started' | 'leader-changed' | 'term-changed' | 'snapshot-taken' | 'snapshot-installed' | 'membership-changed';

/** Something that happened on this node. */
export interface EventsEvent {
  /** Wall-clock time on this node (ms since the epoch). */
  readonly at: number;
  /** Sequence number on this node, from 1; a gap means events were missed. */
  readonly seq: number;
  readonly kind: EventsEventKind;
  /** The term in which it happened. */
  readonly term: number;
  /** leader-changed: the new leader (null: none known). */
  readonly leader?: string | null;
  /** snapshot-taken / snapshot-installed: the index it covers, and its size. */
  readonly index?: number;
  readonly bytes?: number;
  /** membership-changed: the change's kind, and the voters and learners after it. */
  readonly change?: string;
  readonly voters?: readonly string[];
  readonly learners?: readonly string[];
}

/** The first message of a stream. */
export interface EventsSnapshot {
  /** The format's version: 1. */
  readonly v: 1;
  readonly at: number;
  /** How often this node samples its state (ms). */
  readonly sampleMs: number;
  /** How often it sends a heartbeat comment (ms). */
  readonly heartbeatMs: number;
  readonly node: EventsNodeState;
  /** The latest events (at most 100), oldest first. */
  readonly events: readonly EventsEvent[];
}

/** A `state` message: `at`, and the fields of {@link EventsNodeState} that changed since the previous message. */
export type EventsStateUpdate = { readonly at: number } & Partial<EventsNodeState>;
