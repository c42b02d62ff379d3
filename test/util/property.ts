/**
 * Every property test runs through {@link checkProperty}, so each one is
 * reproducible: its fast-check seed comes from TSRAFT_SEED when set, and is
 * drawn fresh otherwise; a failure names the seed and the command that replays
 * it. TSRAFT_PROP_RUNS=N runs each property under N fresh seeds (docs/TESTING.md).
 * Both checkers return how many inputs they tried, for the fuzz tests' reports.
 */
import { randomInt } from 'node:crypto';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';

export interface PropertyOptions {
  /** Cases per seed. */
  readonly numRuns: number;
  /** Seeds that once failed: always run, before the fresh ones. */
  readonly regressionSeeds?: readonly number[];
}

/** TSRAFT_SEED as an integer, or undefined when unset. */
function envSeed(): number | undefined {
  const v = process.env['TSRAFT_SEED'];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  // fast-check seeds are 32-bit integers (they may be negative).
  if (!Number.isSafeInteger(n)) throw new Error(`TSRAFT_SEED must be an integer, got '${v}'`);
  return n;
}

/** How many fresh seeds each property gets: TSRAFT_PROP_RUNS, default 1. */
function freshRuns(): number {
  const v = process.env['TSRAFT_PROP_RUNS'];
  if (v === undefined || v === '') return 1;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`TSRAFT_PROP_RUNS must be an integer >= 1, got '${v}'`);
  return n;
}

/** A fresh fast-check seed (a signed 32-bit integer). */
export function freshSeed(): number {
  return randomInt(-(2 ** 31), 2 ** 31);
}

/** The command that reruns the test file `testUrl` (an `import.meta.url` under dist/) with `seed`. */
export function replayCommand(testUrl: string, seed: number): string {
  const file = path.relative(process.cwd(), fileURLToPath(testUrl));
  return `TSRAFT_SEED=${seed} node --enable-source-maps --test ${file}`;
}

/**
 * Checks `property` as fast-check's `fc.assert` does, under the regression
 * seeds and then TSRAFT_SEED (or fresh seeds). `testUrl` is the calling test
 * file's `import.meta.url`, for the replay command. On failure it throws
 * fast-check's report prefixed by the seed and the replay command.
 */
export function checkProperty<Ts>(testUrl: string, property: fc.IProperty<Ts>, options: PropertyOptions): number {
  const seeds = seedsToRun(options);
  for (const seed of seeds) {
    try {
      fc.assert(property, { numRuns: options.numRuns, seed, includeErrorInReport: true });
    } catch (e) {
      throw failure(testUrl, seed, e);
    }
  }
  return seeds.length * options.numRuns;
}

/** {@link checkProperty} for an async property (one that does I/O). Resolves to the number of inputs tried. */
export async function checkAsyncProperty<Ts>(testUrl: string, property: fc.IAsyncProperty<Ts>, options: PropertyOptions): Promise<number> {
  const seeds = seedsToRun(options);
  for (const seed of seeds) {
    try {
      await fc.assert(property, { numRuns: options.numRuns, seed, includeErrorInReport: true });
    } catch (e) {
      throw failure(testUrl, seed, e);
    }
  }
  return seeds.length * options.numRuns;
}

/** The regression seeds, then TSRAFT_SEED or TSRAFT_PROP_RUNS fresh seeds. */
function seedsToRun(options: PropertyOptions): number[] {
  const fixed = envSeed();
  return [...(options.regressionSeeds ?? []), ...(fixed !== undefined ? [fixed] : Array.from({ length: freshRuns() }, freshSeed))];
}

function failure(testUrl: string, seed: number, e: unknown): Error {
  const report = e instanceof Error ? e.message : String(e);
  return new Error(`property failed with seed ${seed}\n  replay: ${replayCommand(testUrl, seed)}\n${report}`, { cause: e });
}
