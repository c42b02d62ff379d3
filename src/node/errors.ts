/** This node cannot serve the request because it is not the leader; `leader` is who is, if known. */
export class NotLeaderError extends Error {
  override name = 'NotLeaderError';
  constructor(
    readonly leader: number | null,
    message = leader === null ? 'not the leader, and no leader is known' : `not the leader; the leader is ${leader}`,
  ) {
    super(message);
  }
}

/** A linearizable read could not be confirmed: leadership was lost, no leader answered in time, or the node stopped. */
export class ReadIndexError extends Error {
  override name = 'ReadIndexError';
}

/**
 * A proposal's outcome is unknown: its entry may or may not commit (leadership
 * changed, or it timed out). A client must retry with the same session ids.
 */
export class ProposalUnknownError extends Error {
  override name = 'ProposalUnknownError';
}

/** The node stopped before the request completed. */
export class NodeStoppedError extends Error {
  override name = 'NodeStoppedError';
}
