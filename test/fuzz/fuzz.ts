/**
 * Shared pieces of the fuzz tests (test/fuzz/): the one-line report each
 * fuzzer prints, and a bound on the time one input may take.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

/**
 * Runs one fuzzer and reports, as a test diagnostic, how many inputs it tried:
 * `fuzz frame-decoder: 2000 inputs, 0 failures (812 ms)`. `run` returns the
 * number of inputs (what checkProperty / checkAsyncProperty return). A failing
 * fuzzer reports `1 failure` and rethrows the property's report (seed, replay
 * command, shrunk input).
 */
export async function fuzz(t: TestContext, name: string, run: () => number | Promise<number>): Promise<number> {
  const started = performance.now();
  try {
    const inputs = await run();
    t.diagnostic(`fuzz ${name}: ${inputs} inputs, 0 failures (${Math.round(performance.now() - started)} ms)`);
    return inputs;
  } catch (e) {
    t.diagnostic(`fuzz ${name}: 1 failure (${Math.round(performance.now() - started)} ms)`);
    throw e;
  }
}

/** Time per input: each must finish within `limitMs` (a hang or a quadratic blow-up fails the input, not the whole run's clock). */
export class InputClock {
  /** The slowest input so far, in ms. */
  slowest = 0;

  constructor(private readonly limitMs: number) {}

  /** Runs `fn` and fails if it took longer than the limit. */
  time<T>(what: string, fn: () => T): T {
    const t0 = performance.now();
    const out = fn();
    this.check(what, performance.now() - t0);
    return out;
  }

  /** {@link time} for async work. */
  async timeAsync<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    const out = await fn();
    this.check(what, performance.now() - t0);
    return out;
  }

  private check(what: string, ms: number): void {
    this.slowest = Math.max(this.slowest, ms);
    assert.ok(ms < this.limitMs, `${what} took ${Math.round(ms)} ms, above the ${this.limitMs} ms bound per input`);
  }
}
