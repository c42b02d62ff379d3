/**
 * Replaying raw log entries into a state machine as a `Replica` applies
 * them, for code that replays a log without a running node (forcing a new
 * cluster from a survivor's data).
 */
import { EntryType, type Entry } from '../core/types.js';
import { commandOf, type ApplyMeta, type StateMachine } from '../node/replica.js';

export { commandOf };

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
