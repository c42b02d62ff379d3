import { ConfChangeError } from './membership.js';
import type { NodeId } from './types.js';

/**
 * A leadership transfer in progress (dissertation §3.10): its target and how
 * long it has been going. While one is in progress the leader takes no
 * proposals and serves no reads; it is abandoned after an election timeout.
 */
export class LeaderTransfer {
  private targetValue: NodeId | null = null;
  private elapsed = 0;

  /** The node leadership is being handed to, or null. */
  get target(): NodeId | null {
    return this.targetValue;
  }

  /**
   * Starts a transfer to `to`, or (null) to the voter other than `self` with
   * the highest match index, the lowest id on ties. Throws
   * {@link ConfChangeError} if that is no voter other than `self`. Returns the target.
   */
  start(to: NodeId | null, voters: readonly NodeId[], self: NodeId, matchOf: (id: NodeId) => number | undefined): NodeId {
    const target = to ?? mostUpToDate(voters, self, matchOf);
    if (target === null) throw new ConfChangeError('there is no other voter to transfer leadership to');
    if (target === self) throw new ConfChangeError(`node ${target} is already the leader`);
    if (!voters.includes(target)) throw new ConfChangeError(`node ${target} is not a voter`);
    this.targetValue = target;
    this.elapsed = 0;
    return target;
  }

  /** One leader tick. Returns true if the transfer ran out of time and was abandoned. */
  tick(limit: number): boolean {
    if (this.targetValue === null || ++this.elapsed < limit) return false;
    this.clear();
    return true;
  }

  clear(): void {
    this.targetValue = null;
    this.elapsed = 0;
  }
}

function mostUpToDate(voters: readonly NodeId[], self: NodeId, matchOf: (id: NodeId) => number | undefined): NodeId | null {
  let best: NodeId | null = null;
  let bestMatch = -1;
  for (const id of voters) {
    const match = matchOf(id) ?? -1;
    if (id !== self && match > bestMatch) [best, bestMatch] = [id, match];
  }
  return best;
}
