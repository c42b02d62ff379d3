/** A command-line mistake: reported in one line, with the usage, never as a stack trace. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses `--name value` as an integer of at least `min`; throws {@link UsageError} naming the flag otherwise. */
export function parseIntegerArg(name: string, v: string, min: number): number {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${v}'`);
  return Number(v);
}
