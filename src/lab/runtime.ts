import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';

/**
 * The lab's runtime for a Raft written by a learner: the test's clock and
 * random stream. In virtual time `sleep` is a timer of the test's scheduler,
 * so code written the way the lab advises (a ticker loop that sleeps, one
 * task per RPC) runs deterministically and replays from the seed.
 */
export interface LabRuntime {
  readonly clock: Clock;
  readonly random: Random;
  /** True when the test runs in virtual time (the real clock is then off limits). */
  readonly virtual: boolean;
  /** Fails the running test (a learner's code used the real clock, or threw in a task). */
  readonly fail: (err: Error) => void;
}

let current: LabRuntime | null = null;

function runtime(what: string): LabRuntime {
  if (current === null) throw new Error(`${what}() from tsraft/lab works only while a lab test runs (inside makeConfig(...).run or npm run lab)`);
  return current;
}

/** Resolves after `ms` milliseconds of the test's time (virtual or real). */
export function sleep(ms: number): Promise<void> {
  return runtime('sleep').clock.sleep(ms);
}

/** The test's time in milliseconds (virtual or real); only differences mean anything. */
export function now(): number {
  return runtime('now').clock.now();
}

/** A number in [0, 1) from the test's seeded stream. */
export function random(): number {
  return runtime('random').random.float();
}

/** An integer in [0, n) from the test's seeded stream. */
export function randomInt(n: number): number {
  return runtime('randomInt').random.int(n);
}

/** The runtime of the test now running, if any. */
export function currentRuntime(): LabRuntime | null {
  return current;
}

type Saved = {
  setTimeout: typeof globalThis.setTimeout;
  setInterval: typeof globalThis.setInterval;
  dateNow: typeof Date.now;
  perfNow: typeof performance.now;
  mathRandom: typeof Math.random;
};

/** What to use instead of each real-clock or unseeded call, in the error a learner sees. */
const INSTEAD: Record<string, string> = {
  setTimeout: "`await sleep(ms)` from 'tsraft/lab'",
  setInterval: "a loop around `await sleep(ms)` from 'tsraft/lab'",
  'Date.now': "`now()` from 'tsraft/lab'",
  'performance.now': "`now()` from 'tsraft/lab'",
  'Math.random': "`random()` or `randomInt(n)` from 'tsraft/lab'",
};

/** Thrown (and failing the test) when code under a virtual-time test reaches for the real clock. */
export class RealClockError extends Error {
  override name = 'RealClockError';
  constructor(readonly call: string) {
    super(`${call} was called during a virtual-time lab test: virtual time cannot see real timers or the wall clock, and the run would no longer replay from its seed; use ${INSTEAD[call]} instead (or run with --real)`);
  }
}

/**
 * Makes `rt` the runtime of `sleep`, `now` and `random` until the returned
 * function is called. With `guardRealClock` (a learner's implementation in
 * virtual time), `setTimeout`, `setInterval`, `Date.now`, `performance.now`
 * and `Math.random` throw a {@link RealClockError} that also fails the test.
 * One test at a time per thread: entering twice is a harness bug.
 */
export function enterRuntime(rt: LabRuntime, opts: { guardRealClock: boolean }): () => void {
  if (current !== null) throw new Error('lab runtime: a test is already running in this thread');
  current = rt;
  let saved: Saved | null = null;
  if (opts.guardRealClock && rt.virtual) {
    saved = { setTimeout: globalThis.setTimeout, setInterval: globalThis.setInterval, dateNow: Date.now, perfNow: performance.now, mathRandom: Math.random };
    const refuse = (call: string) => (): never => {
      const err = new RealClockError(call);
      rt.fail(err);
      throw err;
    };
    globalThis.setTimeout = refuse('setTimeout') as unknown as typeof globalThis.setTimeout;
    globalThis.setInterval = refuse('setInterval') as unknown as typeof globalThis.setInterval;
    Date.now = refuse('Date.now');
    performance.now = refuse('performance.now');
    Math.random = refuse('Math.random');
  }
  return () => {
    if (saved !== null) {
      globalThis.setTimeout = saved.setTimeout;
      globalThis.setInterval = saved.setInterval;
      Date.now = saved.dateNow;
      // The guard was an own property over the prototype's method: removing it restores that.
      delete (performance as { now?: unknown }).now;
      if (performance.now !== saved.perfNow) performance.now = saved.perfNow;
      Math.random = saved.mathRandom;
    }
    current = null;
  };
}
