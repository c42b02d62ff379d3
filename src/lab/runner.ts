import { Scheduler } from '../sim/scheduler.js';
import { RealClock } from '../util/clock.js';
import { SeededRandom, type Random } from '../util/random.js';
import type { NetEvent } from './labrpc.js';
import { Config, type TestStats } from './config.js';
import { KvConfig } from './kvconfig.js';
import { ImplementationError, NotImplementedError, describeThrown, type LabImplementation } from './implementation.js';
import { LabFailure } from './harness.js';
import { enterRuntime } from './runtime.js';
import type { LabTracer } from './trace.js';

/** What a lab test gets: a way to make its config on the run's clock and seed. */
export interface LabEnv {
  /** The Raft lab's `make_config(n, unreliable, snapshot)`. */
  makeConfig(servers: number, unreliable: boolean, snapshot?: boolean): Config;
  /** The kvraft lab's `make_config(n, unreliable, maxraftstate)`. */
  makeKvConfig(servers: number, unreliable: boolean, maxraftstate: number): KvConfig;
  /** The run's random stream, for choices made before a config exists. */
  readonly random: Random;
}

/** What the runner needs of any tester config. */
interface Harness {
  fatalPromise(): Promise<never>;
  cleanup(): void;
  dispose(): Promise<void>;
  readonly stats: TestStats | undefined;
}

/** One scenario of the lab suite. `title` is the string the test passes to `begin`. */
export interface LabTest {
  readonly title: string;
  readonly fn: (env: LabEnv) => Promise<void>;
  /** What an implementation under test must export for this test: `make` (Raft) or `startKVServer` (kvraft). */
  readonly needs?: 'make' | 'startKVServer';
}

export interface RunOptions {
  readonly seed: number;
  /** Real time instead of virtual time. */
  readonly real?: boolean;
  /** Where the test's own lines (title, Passed line, warnings) go. */
  readonly log?: (line: string) => void;
  /** Sees every network event of every config the test makes. */
  readonly trace?: (e: NetEvent) => void;
  /** Where servers persist: in memory as the lab does (default), or in FileStorage on real files. */
  readonly storage?: 'memory' | 'file';
  /** Prints the test's events in columns, one per server (npm run lab -- --trace). */
  readonly tracer?: LabTracer | undefined;
  /** The implementation under test (a learner's); default: tsraft's own. */
  readonly implementation?: LabImplementation | undefined;
}

export interface TestResult {
  readonly title: string;
  readonly seed: number;
  readonly ok: boolean;
  readonly error?: unknown;
  /** The Passed line's figures (of the last config that called end()). */
  readonly stats?: TestStats | undefined;
  readonly wallMs: number;
  /** Simulated milliseconds (equals wall time in real mode). */
  readonly virtualMs: number;
}

/** Runs one lab test with one seed, in virtual time unless `real`. Never throws. */
export async function runLabTest(test: LabTest, opts: RunOptions): Promise<TestResult> {
  const random = new SeededRandom(opts.seed);
  const scheduler = opts.real ? undefined : new Scheduler();
  const clock = scheduler ?? new RealClock();
  const configs: Harness[] = [];
  let onFatal: (err: Error) => void = () => {};
  const fatal = new Promise<never>((_, reject) => {
    onFatal = reject;
  });
  fatal.catch(() => {}); // observed through the race below
  const impl = opts.implementation;
  const tracer = opts.tracer;
  const trace = tracer === undefined ? opts.trace : (e: NetEvent) => (opts.trace?.(e), tracer.onNet(e));
  const traceTester = tracer === undefined ? undefined : (time: number, server: number, what: string) => tracer.onTester(time, server, what);
  const env: LabEnv = {
    random,
    makeConfig(servers, unreliable, snapshot = false) {
      if (impl !== undefined && impl.make === undefined) throw new ImplementationError(`${impl.name} exports no make(peers, me, persister, applyCh): the Raft tests need it`);
      const cfg = new Config({ servers, unreliable, snapshot, clock, random: random.fork(), scheduler, log: opts.log, trace, traceTester, storage: opts.storage, make: impl?.make });
      tracer?.attach(servers, () => cfg.serverStates());
      cfg.fatalPromise().catch(onFatal);
      configs.push(cfg);
      return cfg;
    },
    makeKvConfig(servers, unreliable, maxraftstate) {
      if (impl !== undefined && impl.startKVServer === undefined) throw new ImplementationError(`${impl.name} exports no startKVServer(servers, me, persister, maxraftstate): the kvraft tests need it`);
      const cfg = new KvConfig({ servers, unreliable, maxraftstate, clock, random: random.fork(), scheduler, log: opts.log, trace, traceTester, storage: opts.storage, startKVServer: impl?.startKVServer });
      tracer?.attach(servers, () => cfg.serverStates());
      cfg.fatalPromise().catch(onFatal);
      configs.push(cfg);
      return cfg;
    },
  };
  const body = async (): Promise<void> => {
    try {
      await Promise.race([test.fn(env), fatal]);
    } finally {
      for (const c of configs) c.cleanup();
    }
  };
  const wall0 = performance.now();
  const t0 = clock.now();
  let error: unknown;
  let ok = true;
  // Code under test gets the lab's sleep/now/random; a task of it that throws unobserved fails the test.
  const leaveRuntime = impl === undefined ? undefined : enterRuntime({ clock, random: random.fork(), virtual: scheduler !== undefined, fail: onFatal }, { guardRealClock: true });
  const onUnhandled = (reason: unknown): void => {
    onFatal(reason instanceof LabFailure || reason instanceof NotImplementedError ? reason : new LabFailure(`an async task threw and nobody caught it: ${describeThrown(reason)}`));
  };
  if (impl !== undefined) process.on('unhandledRejection', onUnhandled);
  try {
    if (scheduler !== undefined) await scheduler.run(body, { maxVirtualMs: 30 * 60_000 });
    else await body();
  } catch (e) {
    ok = false;
    error = e;
  } finally {
    leaveRuntime?.();
    if (impl !== undefined) process.off('unhandledRejection', onUnhandled);
  }
  for (const c of configs) await c.dispose();
  const virtualMs = scheduler !== undefined ? scheduler.now() - t0 : performance.now() - wall0;
  if (clock instanceof RealClock) clock.dispose();
  const stats = configs.length > 0 ? configs[configs.length - 1]!.stats : undefined;
  return { title: test.title, seed: opts.seed, ok, error, stats, wallMs: performance.now() - wall0, virtualMs };
}

/** Tests whose title matches `grep` (a regular expression), in suite order. */
export function selectTests(tests: readonly LabTest[], grep: string | undefined): LabTest[] {
  if (grep === undefined) return [...tests];
  const re = new RegExp(grep);
  return tests.filter((t) => re.test(t.title));
}
