import type { ConfState, Entry, HardState, Message, ReadState, Snapshot, SoftState } from './types.js';

/**
 * A batch of work for the driver, in this order: persist `hardState`,
 * `snapshot` and `entries` (durably if `mustSync`); then send `messages`; then
 * restore `applySnapshot` into the state machine and apply `committedEntries`;
 * then call `Raft.advance`. No message may leave before the state in the
 * same Ready is durable: votes and acknowledgements promise it.
 */
export interface Ready {
  readonly softState: SoftState | undefined;
  /** The configuration in force, when it changed since the last Ready (the driver updates its peers). */
  readonly conf: ConfState | undefined;
  readonly hardState: HardState | undefined;
  /** Entries to append to storage; the first one may overwrite (truncate) a stored suffix. */
  readonly entries: readonly Entry[];
  /** A snapshot to store; entries it covers are dropped from storage. */
  readonly snapshot: Snapshot | undefined;
  readonly messages: readonly Message[];
  /** A snapshot received from the leader that the state machine must load. */
  readonly applySnapshot: Snapshot | undefined;
  /** Committed entries to apply, in order, after `applySnapshot`. */
  readonly committedEntries: readonly Entry[];
  /** Reads confirmed by `Raft.readIndex`: serve each once `index` is applied. */
  readonly readStates: readonly ReadState[];
  /** Contexts of reads that cannot be confirmed (leadership lost, or refused by the leader). */
  readonly failedReads: readonly number[];
  /** Whether the persisted part must reach stable storage before messages go out. */
  readonly mustSync: boolean;
}

/** Options for `Raft.ready`. */
export interface ReadyOptions {
  /** Most committed entries to hand out in this Ready (backpressure from the apply path). */
  readonly maxCommitted?: number;
}

export function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader;
}
