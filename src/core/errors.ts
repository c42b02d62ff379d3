/**
 * A broken internal invariant: a bug in tsraft or state corrupted outside it.
 * The core throws these instead of carrying on with state it cannot trust.
 */
export class RaftInvariantError extends Error {
  override name = 'RaftInvariantError';
}

/** Throws a {@link RaftInvariantError} unless `cond` holds. */
export function invariant(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new RaftInvariantError(typeof message === 'string' ? message : message());
}
