import type { Clock, Timer } from '../util/clock.js';

interface TimerEntry {
  readonly time: number;
  readonly seq: number;
  fn: (() => void) | null; // null once cancelled
}

/** Thrown by {@link Scheduler.run} when the simulated world can make no progress. */
export class SimulationDeadlock extends Error {
  override name = 'SimulationDeadlock';
}

/** Options for {@link Scheduler.run}. */
export interface RunOptions {
  /** Fail the run if virtual time passes this many milliseconds. */
  readonly maxVirtualMs?: number;
  /**
   * Called after every step (a timer and every continuation it started); the
   * place for invariant checks. An exception it throws ends the run.
   */
  readonly afterStep?: () => void;
}

/**
 * A virtual clock and its timer queue. Timers fire in order of time, then of
 * creation, and between two timers every promise continuation that the first
 * one started runs to completion. With all randomness seeded, a run is a pure
 * function of its seed.
 */
export class Scheduler implements Clock {
  private time = 0;
  private seq = 0;
  private readonly heap: TimerEntry[] = [];
  private eventCount = 0;
  /** Real (not simulated) operations in progress, such as disk I/O: time stands still meanwhile. */
  private externalPending = 0;
  private externalDone: (() => void) | null = null;

  now(): number {
    return this.time;
  }

  /** Timers fired so far. */
  get events(): number {
    return this.eventCount;
  }

  /** Timers waiting (including cancelled ones not yet discarded). */
  get pending(): number {
    return this.heap.length;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const entry: TimerEntry = { time: this.time + Math.max(0, ms), seq: this.seq++, fn };
    this.push(entry);
    return {
      cancel: () => {
        entry.fn = null;
      },
    };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(ms, resolve));
  }

  /**
   * Marks real work (a real disk write, say) that simulated code awaits: no
   * timer fires until it settles, so it takes no virtual time. Runs that use
   * it are deterministic only up to the order in which concurrent real
   * operations complete.
   */
  external<T>(work: Promise<T>): Promise<T> {
    this.externalPending++;
    const done = (): void => {
      this.externalPending--;
      const w = this.externalDone;
      this.externalDone = null;
      w?.();
    };
    work.then(done, done);
    return work;
  }

  /**
   * Runs `main` in virtual time: fires timers one by one until `main`
   * settles, and returns (or throws) what it does. Timers still pending
   * afterwards are abandoned. An exception thrown by a timer callback ends
   * the run with that exception.
   */
  async run<T>(main: () => Promise<T>, opts: RunOptions = {}): Promise<T> {
    const limit = opts.maxVirtualMs === undefined ? Infinity : this.time + opts.maxVirtualMs;
    let settled = false;
    let result: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    main().then(
      (value) => {
        settled = true;
        result = { ok: true, value };
      },
      (error: unknown) => {
        settled = true;
        result = { ok: false, error };
      },
    );
    for (;;) {
      // Let every continuation queued so far run before the next timer fires.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (opts.afterStep !== undefined && !settled) {
        try {
          opts.afterStep();
        } catch (error) {
          settled = true;
          result = { ok: false, error };
        }
      }
      if (settled) break;
      if (this.externalPending > 0) {
        await new Promise<void>((resolve) => {
          this.externalDone = resolve;
        });
        continue;
      }
      const next = this.pop();
      if (next === undefined) throw new SimulationDeadlock(`no timer pending at t=${this.time}ms and the main task has not finished`);
      if (next.time > limit) throw new SimulationDeadlock(`virtual time limit of ${opts.maxVirtualMs}ms exceeded`);
      this.time = next.time;
      this.eventCount++;
      next.fn!();
    }
    const r = result!;
    if (r.ok) return r.value;
    throw r.error;
  }

  /**
   * Fires, in order, every timer due at or before `t` (those the fired ones
   * set too), each followed by the continuations it started, then sets the
   * clock to `t`. The state afterwards depends only on `t`, not on how the
   * way there was cut into calls: the playground advances a frame at a time.
   * An exception from `afterStep` or a timer callback propagates.
   *
   * Between two timers, continuations get one turn of the event loop (some,
   * such as a storage close, wait for a later turn). A call ends with such a
   * turn; `settled` says nothing has touched the simulated world since the
   * previous call ended, so that turn stands for this call's first one, and a
   * run cut into many calls takes exactly the turns of one call.
   */
  async runUntil(t: number, opts: Pick<RunOptions, 'afterStep'> & { readonly settled?: boolean } = {}): Promise<void> {
    let skipTurn = opts.settled === true;
    for (;;) {
      if (!skipTurn) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        opts.afterStep?.();
      }
      skipTurn = false;
      if (this.externalPending > 0) {
        await new Promise<void>((resolve) => {
          this.externalDone = resolve;
        });
        continue;
      }
      const next = this.peek();
      if (next === undefined || next.time > t) break;
      this.pop();
      this.time = next.time;
      this.eventCount++;
      next.fn!();
    }
    if (t > this.time) this.time = t;
  }

  /** The earliest live timer, left in the queue (cancelled ones on top are discarded). */
  private peek(): TimerEntry | undefined {
    while (this.heap.length > 0 && this.heap[0]!.fn === null) {
      // pop() takes the cancelled top and the live timer under it: put that one back (same time and seq, same place in the order).
      const live = this.pop();
      if (live !== undefined) this.push(live);
    }
    return this.heap[0];
  }

  private push(e: TimerEntry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  /** Removes and returns the earliest live timer. */
  private pop(): TimerEntry | undefined {
    const h = this.heap;
    while (h.length > 0) {
      const top = h[0]!;
      const last = h.pop()!;
      if (h.length > 0) {
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= h.length) break;
          const r = l + 1;
          const c = r < h.length && before(h[r]!, h[l]!) ? r : l;
          if (!before(h[c]!, last)) break;
          h[i] = h[c]!;
          i = c;
        }
        h[i] = last;
      }
      if (top.fn !== null) return top;
    }
    return undefined;
  }
}

function before(a: TimerEntry, b: TimerEntry): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
