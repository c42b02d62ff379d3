/** How long a node that hit a fatal error may spend stopping cleanly before it exits anyway (ms). */
export const FATAL_EXIT_DEADLINE_MS = 800;

/** Options of {@link stopThenExit}. */
export interface StopThenExitOptions {
  /** Exits the process (process.exit in production; a recorder in tests). */
  readonly exit: (code: number) => void;
  /** Past this, exit without waiting for the stop (ms). Default {@link FATAL_EXIT_DEADLINE_MS}. */
  readonly deadlineMs?: number;
  /** Told when the deadline cut the stop short. */
  readonly onDeadline?: (ms: number) => void;
  /** Told when the stop failed (it is not retried: the process exits). */
  readonly onStopError?: (err: unknown) => void;
}

/**
 * Stops, then exits with `code`, and exits with `code` anyway once the
 * deadline passes: a node that must die never lingers as a zombie because
 * its clean stop waits on a wedged disk or a peer that does not close.
 */
export function stopThenExit(code: number, stop: () => Promise<void>, opts: StopThenExitOptions): void {
  const ms = opts.deadlineMs ?? FATAL_EXIT_DEADLINE_MS;
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    opts.exit(code);
  };
  const timer = setTimeout(() => {
    if (done) return;
    opts.onDeadline?.(ms);
    finish();
  }, ms);
  let stopping: Promise<void>;
  try {
    stopping = stop();
  } catch (e) {
    stopping = Promise.reject(e);
  }
  stopping.then(finish, (e: unknown) => {
    opts.onStopError?.(e);
    finish();
  });
}
