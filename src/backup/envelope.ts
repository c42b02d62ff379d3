/**
 * Reading the commands out of raw log entries, as a {@link Replica} applies
 * them, for code that replays a log without a running node (forcing a new
 * cluster from a survivor's data).
 *
 * This mirrors the envelope of src/node/replica.ts: a command the Replica
 * proposes is stored as `[1][origin u32][instance u32][seq f64][command]`;
 * anything else in a Normal entry is handed to the state machine as it is.
 * The two must stay in step (test/backup/force.test.ts replays a real
 * Replica's log and compares digests to catch a drift).
 */
import { EntryType, type Entry } from '../core/types.js';
import type { ApplyMeta, StateMachine } from '../node/replica.js';

const ENVELOPE = 1;
const ENVELOPE_BYTES = 17;

/** The command inside a Normal entry's data: the Replica envelope removed, if there is one. */
export function commandOf(data: Uint8Array): Uint8Array {
  if (data.length < ENVELOPE_BYTES || data[0] !== ENVELOPE) return data;
  return data.subarray(ENVELOPE_BYTES);
}

/**
 * Applies one log entry to a state machine as the Replica's apply loop does:
 * Normal entries (the leader's empty entries included) go to `apply`;
 * configuration entries change nothing in the state machine.
 */
export function applyEntry<R>(sm: StateMachine<R>, e: Entry): void {
  if (e.type !== EntryType.Normal) return;
  const meta: ApplyMeta = { index: e.index, term: e.term };
  sm.apply(commandOf(e.data), meta);
}
