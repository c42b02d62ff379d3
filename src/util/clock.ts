/** A cancellable timer returned by {@link Clock.setTimer}. */
export interface Timer {
  cancel(): void;
}

/**
 * Time as seen by drivers and test harnesses. The simulator implements it with
 * a virtual clock; {@link RealClock} with the process's timers. Code that
 * must replay from a seed reaches time only through a Clock.
 */
export interface Clock {
  /** Milliseconds since an arbitrary, fixed origin. Monotonic. */
  now(): number;
  /** Runs `fn` once, `ms` milliseconds from now. */
  setTimer(ms: number, fn: () => void): Timer;
  /** Resolves `ms` milliseconds from now. */
  sleep(ms: number): Promise<void>;
}

/**
 * The real clock. It remembers its pending timers so a harness can cancel
 * everything it started with {@link RealClock.dispose}.
 */
export class RealClock implements Clock {
  private readonly origin = performance.now();
  private readonly pending = new Set<NodeJS.Timeout>();
  private disposed = false;

  now(): number {
    return performance.now() - this.origin;
  }

  setTimer(ms: number, fn: () => void): Timer {
    if (this.disposed) return { cancel() {} };
    const handle = setTimeout(() => {
      this.pending.delete(handle);
      fn();
    }, Math.max(0, ms));
    this.pending.add(handle);
    return {
      cancel: () => {
        clearTimeout(handle);
        this.pending.delete(handle);
      },
    };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(ms, resolve));
  }

  /** Cancels every pending timer; later timers never fire. */
  dispose(): void {
    this.disposed = true;
    for (const h of this.pending) clearTimeout(h);
    this.pending.clear();
  }
}
