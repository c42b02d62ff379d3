import { createHash } from 'node:crypto';
import { Scheduler } from '../sim/scheduler.js';
import type { SimObserver } from '../sim/observe.js';
import { RealClock } from '../util/clock.js';
import { SeededRandom, type Random } from '../util/random.js';
import type { NetEvent } from './labrpc.js';
import { Config, type TestStats } from './config.js';
import { KvConfig } from './kvconfig.js';
import { ImplementationError, NotImplementedError, describeThrown, type LabImplementation } from './implementation.js';
import { LabFailure } from './harness.js';
import { enterRuntime } from './runtime.js';
import type { LabTracer } from './trace.js';
import { LabObserver } from './observe.js';

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
  /** Computes {@link TestResult.traceHash}: a digest of everything the run did, to show that two runs are the same run. */
  readonly hashTrace?: boolean;
  /**
   * Sees the run as the simulator's observer events (src/sim/observe.ts): what
   * the replay page draws. Reading only: it changes nothing in the run.
   */
  readonly observer?: SimObserver | undefined;
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
  /** With {@link RunOptions.hashTrace}: SHA-256 (hex) of the run's canonical trace ({@link TraceHasher}). */
  readonly traceHash?: string | undefined;
}

/**
 * The lab run's trace hash: SHA-256 over one line per event, in the order
 * they happen: every network event (time, kind, request number, caller,
 * callee, method, bytes), every tester action (time, server, what), every
 * line the test prints, and the result. Times are virtual milliseconds, so
 * the same seed gives the same hash in Node and in the replay page.
 */
export class TraceHasher {
  private readonly h = createHash('sha256');

  net(e: NetEvent): void {
    this.h.update(`net ${e.time} ${e.kind} ${e.id} ${e.from ?? '-'} ${e.to ?? '-'} ${e.method} ${e.bytes}\n`);
  }

  tester(time: number, server: number, what: string): void {
    this.h.update(`tester ${time} ${server} ${what}\n`);
  }

  line(l: string): void {
    this.h.update(`line ${l}\n`);
  }

  /** The result line; a failure by its message without the path of a report file written for it (a file name holds the wall clock). */
  result(ok: boolean, error: unknown): string {
    const message = error instanceof Error ? error.message : String(error);
    this.h.update(ok ? 'result ok\n' : `result FAILED ${message.replace(/; report: .*$/s, '')}\n`);
    return this.h.digest('hex');
  }
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
  const hasher = opts.hashTrace === true ? new TraceHasher() : undefined;
  const observer = opts.observer === undefined ? undefined : new LabObserver(opts.observer);
  const netSinks = [opts.trace, tracer === undefined ? undefined : (e: NetEvent) => tracer.onNet(e), hasher === undefined ? undefined : (e: NetEvent) => hasher.net(e), observer === undefined ? undefined : (e: NetEvent) => observer.onNet(e)].filter((f) => f !== undefined);
  const trace = netSinks.length === 0 ? undefined : netSinks.length === 1 ? netSinks[0] : (e: NetEvent) => netSinks.forEach((f) => f(e));
  const traceTester =
    tracer === undefined && hasher === undefined && observer === undefined
      ? undefined
      : (time: number, server: number, what: string) => {
          tracer?.onTester(time, server, what);
          hasher?.tester(time, server, what);
          observer?.onTester(time, server, what);
        };
  const log =
    hasher === undefined && observer === undefined
      ? opts.log
      : (line: string) => {
          hasher?.line(line);
          observer?.onLine(line, clock.now());
          (opts.log ?? ((l: string) => console.log(l)))(line);
        };
  const env: LabEnv = {
    random,
    makeConfig(servers, unreliable, snapshot = false) {
      if (impl !== undefined && impl.make === undefined) throw new ImplementationError(`${impl.name} exports no make(peers, me, persister, applyCh): the Raft tests need it`);
      const cfg = new Config({ servers, unreliable, snapshot, clock, random: random.fork(), scheduler, log, trace, traceTester, storage: opts.storage, make: impl?.make });
      tracer?.attach(servers, () => cfg.serverStates());
      observer?.attach(servers, () => cfg.serverProbes(), clock.now());
      cfg.fatalPromise().catch(onFatal);
      configs.push(cfg);
      return cfg;
    },
    makeKvConfig(servers, unreliable, maxraftstate) {
      if (impl !== undefined && impl.startKVServer === undefined) throw new ImplementationError(`${impl.name} exports no startKVServer(servers, me, persister, maxraftstate): the kvraft tests need it`);
      const cfg = new KvConfig({ servers, unreliable, maxraftstate, clock, random: random.fork(), scheduler, log, trace, traceTester, storage: opts.storage, startKVServer: impl?.startKVServer });
      tracer?.attach(servers, () => cfg.serverStates());
      observer?.attach(servers, () => cfg.serverProbes(), clock.now());
      cfg.fatalPromise().catch(onFatal);
      configs.push(cfg);
      return cfg;
    },
  };
  const body = async (): Promise<void> => {
    try {
      await Promise.race([test.fn(env), fatal]);
    } finally {
      endedAt = clock.now();
      observer?.finish(endedAt);
      for (const c of configs) c.cleanup();
    }
  };
  const wall0 = performance.now();
  const t0 = clock.now();
  /** The virtual time the test's body ended (where a failure is drawn). */
  let endedAt = t0;
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
  const traceHash = hasher?.result(ok, error);
  if (opts.observer !== undefined) {
    if (!ok) {
      const message = error instanceof Error ? error.message : String(error);
      opts.observer({ kind: 'trace', t: endedAt, line: `tester: ... FAILED: ${message}` });
      opts.observer({ kind: 'failure', t: endedAt, check: 'lab test', message });
    }
    opts.observer({ kind: 'end', t: endedAt, ok, traceHash: traceHash ?? '' });
  }
  return { title: test.title, seed: opts.seed, ok, error, stats, wallMs: performance.now() - wall0, virtualMs, traceHash };
}

/** Tests whose title matches `grep` (a regular expression), in suite order. */
export function selectTests(tests: readonly LabTest[], grep: string | undefined): LabTest[] {
  if (grep === undefined) return [...tests];
  const re = new RegExp(grep);
  return tests.filter((t) => re.test(t.title));
}
