import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker, parentPort, workerData } from 'node:worker_threads';
import { UsageError, parseIntegerArg } from '../util/args.js';
import { entropySeed } from '../util/random.js';
import { runLabTest, selectTests, type LabTest, type TestResult } from './runner.js';
import { ImplementationError, loadImplementation, type LabImplementation } from './implementation.js';
import { prepareImplementation } from './compile.js';
import { LabTracer } from './trace.js';
import { writeFileSync } from 'node:fs';
import { replayPageWith } from '../sim/cli.js';

const USAGE = 'usage: npm run lab -- [--impl PATH] [--real] [--seed N] [--runs K] [--grep REGEX] [--jobs J] [--storage memory|file] [--trace] [--html FILE] [--help]';

/** What `npm run lab -- --help` prints: every option, one line each, and examples. */
export const LAB_HELP = [
  'npm run lab: the 6.824 Raft (2A-2D) and kvraft (3A-3B) lab suites against tsraft (docs/LAB.md).',
  '',
  USAGE,
  '',
  'options:',
  '  --seed N                 first seed (default: a fresh one, printed); a seed replays a run exactly',
  '  --runs K                 run the selection K times, with seeds N, N+1, ..., N+K-1 (default 1)',
  '  --grep REGEX             only the tests whose title matches REGEX (e.g. \'2C|2D\')',
  '  --jobs J                 worker threads (default: the cores when --runs > 1, else 1)',
  '  --real                   real time instead of virtual time (the whole suite takes minutes)',
  '  --storage memory|file    the lab\'s in-memory Persister (default) or FileStorage on real files',
  '  --trace                  with one test and one seed: print its events in words, one column per server',
  '  --html FILE              with one test and one seed: write a self-contained page to FILE that re-runs',
  '                           the test in a browser and replays it (servers, RPCs in words, what the tester did)',
  '  --impl PATH              test another implementation: a module (.js, or .ts compiled with esbuild; or a',
  '                           directory with raft.ts/raft.js/index.*) exporting make (Raft tests) and/or',
  '                           startKVServer (kvraft tests); it uses sleep/now/random from tsraft/lab (docs/LEARN.md)',
  '  -h, --help               print this help',
  '',
  'examples:',
  '  npm run lab',
  '  npm run lab -- --seed 7',
  "  npm run lab -- --grep '2C|2D' --runs 20",
  "  npm run lab -- --grep '3A|3B'",
  '  npm run lab -- --real --storage file',
  "  npm run lab -- --seed 7 --grep 'election after network failure' --html 2a.html",
  '',
  'one test, one seed, virtual time: the run\'s trace hash is printed (the same seed gives the same hash)',
  '',
  'exit code: 0 all passed, 1 a test failed (its replay command is printed), 2 a usage error',
].join('\n');

export { UsageError };

export interface LabCliOptions {
  readonly real: boolean;
  readonly seed: number;
  readonly runs: number;
  readonly grep: string | undefined;
  readonly jobs: number;
  readonly storage: 'memory' | 'file';
  /** A module (or directory, or TypeScript file) to test instead of tsraft's own Raft, as given. */
  readonly impl: string | undefined;
  readonly trace: boolean;
  /** Write the replay page of the one selected test to this file. */
  readonly html: string | undefined;
}

function parseCount(name: string, v: string | undefined, dflt: number, min: number): number {
  return v === undefined ? dflt : parseIntegerArg(name, v, min);
}

/** Parses the lab command line; throws {@link UsageError} on any mistake. */
export function parseLabArgs(argv: readonly string[]): LabCliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        real: { type: 'boolean', default: false },
        seed: { type: 'string' },
        runs: { type: 'string' },
        grep: { type: 'string' },
        jobs: { type: 'string' },
        storage: { type: 'string' },
        impl: { type: 'string' },
        trace: { type: 'boolean', default: false },
        html: { type: 'string' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
  const grep = values.grep;
  if (grep !== undefined) {
    try {
      new RegExp(grep);
    } catch (e) {
      throw new UsageError(`--grep: ${(e as Error).message}`);
    }
  }
  const storage = values.storage ?? 'memory';
  if (storage !== 'memory' && storage !== 'file') throw new UsageError(`--storage must be 'memory' or 'file', got '${storage}'`);
  const runs = parseCount('runs', values.runs, 1, 1);
  const real = values.real ?? false;
  const implPath = values.impl;
  if (implPath === '') throw new UsageError('--impl needs a path to a module');
  if (implPath !== undefined && storage === 'file') throw new UsageError('--storage file is for tsraft\'s own Raft: an implementation under test persists through the Persister it is given');
  const impl = implPath;
  const html = values.html;
  if (html === '') throw new UsageError('--html needs a file name');
  if (html !== undefined) {
    // The page re-runs the test with tsraft's own code, in memory, in virtual time: only such a run is the same run there.
    if (implPath !== undefined) throw new UsageError('--html replays tsraft\'s own Raft: leave out --impl (the page cannot load your module)');
    if (real) throw new UsageError('--html replays a virtual-time run: leave out --real (a real-time run does not replay from its seed)');
    if (storage === 'file') throw new UsageError('--html replays the in-memory Persister: leave out --storage file (a browser has no files)');
    if (runs !== 1) throw new UsageError('--html replays one run: leave out --runs');
  }
  const defaultJobs = runs > 1 && !real ? Math.min(availableParallelism(), runs) : 1;
  return {
    real,
    seed: parseCount('seed', values.seed, entropySeed(), 0),
    runs,
    grep,
    jobs: parseCount('jobs', values.jobs, defaultJobs, 1),
    storage,
    impl,
    trace: values.trace ?? false,
    html,
  };
}

interface Job {
  readonly testIndex: number;
  readonly seed: number;
  readonly real: boolean;
  readonly storage: 'memory' | 'file';
  /** The module to import (a file URL), and the --impl argument as given (for replay commands). */
  readonly impl: string | undefined;
  readonly implArg: string | undefined;
  readonly trace: boolean;
  /** Compute the run's trace hash (one test, one seed, virtual time). */
  readonly hash: boolean;
}

interface JobResult {
  readonly job: Job;
  readonly ok: boolean;
  readonly error: string;
  readonly lines: string[];
  readonly wallMs: number;
  readonly virtualMs: number;
  readonly traceHash: string | undefined;
}

function errorText(e: unknown): string {
  // The tester's own verdicts, and an implementation's unwritten parts or wrong shape, are sentences; anything else keeps its stack.
  if (e instanceof Error) return ['LabFailure', 'NotImplementedError', 'ImplementationError', 'RealClockError'].includes(e.name) ? e.message : (e.stack ?? e.message);
  return String(e);
}

/** Implementations loaded in this thread, by URL (a worker loads each once). */
const loaded = new Map<string, Promise<LabImplementation>>();

function implementation(url: string, name = displayPath(url)): Promise<LabImplementation> {
  let p = loaded.get(url);
  if (p === undefined) {
    p = loadImplementation(url, name);
    loaded.set(url, p);
  }
  return p;
}

function displayPath(url: string): string {
  const file = new URL(url).pathname;
  return file.startsWith(process.cwd() + '/') ? file.slice(process.cwd().length + 1) : file;
}

async function runJob(tests: readonly LabTest[], job: Job, live: ((l: string) => void) | undefined): Promise<JobResult> {
  const lines: string[] = [];
  const r: TestResult = await runLabTest(tests[job.testIndex]!, {
    seed: job.seed,
    real: job.real,
    storage: job.storage,
    implementation: job.impl === undefined ? undefined : await implementation(job.impl, job.implArg),
    tracer: job.trace && live !== undefined ? new LabTracer(live) : undefined,
    hashTrace: job.hash,
    log: (l) => {
      if (live !== undefined) live(l);
      else lines.push(l);
    },
  });
  return { job, ok: r.ok, error: r.ok ? '' : errorText(r.error), lines, wallMs: r.wallMs, virtualMs: r.virtualMs, traceHash: r.traceHash };
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The command that replays one failed test. */
export function replayCommand(title: string, seed: number, real: boolean, storage: 'memory' | 'file' = 'memory', impl?: string): string {
  return `npm run lab -- --seed ${seed} --grep ${shellQuote(`^${escapeRegExp(title)}$`)}${real ? ' --real' : ''}${storage === 'file' ? ' --storage file' : ''}${impl !== undefined ? ` --impl ${shellQuote(impl)}` : ''}`;
}

/**
 * The `npm run lab` program: runs the selected tests `runs` times with seeds
 * seed, seed+1, …, in worker threads when `jobs` > 1, prints each test's lines
 * (or, for many runs, one line per seed), the replay command of every failure,
 * and a final `N passed, N failed`. Returns the exit code.
 */
/** How a front end other than `npm run lab` presents the runner (`tsraft lab test` in a learner's project). */
export interface LabFrontEnd {
  /** The command that replays a test, up to its options (default `npm run lab --`). */
  readonly command: string;
  /** The implementation's name in messages; replay commands then leave --impl out (the command implies it). */
  readonly implName?: string;
}

export async function labMain(tests: readonly LabTest[], workerModule: URL, argv: readonly string[], out: (l: string) => void = (l) => console.log(l), front?: LabFrontEnd): Promise<number> {
  const replay = (title: string, job: Job): string => {
    const cmd = replayCommand(title, job.seed, job.real, job.storage, front?.implName === undefined ? job.implArg : undefined);
    return front === undefined ? cmd : cmd.replace(/^npm run lab --/, front.command);
  };
  if (argv.includes('--help') || argv.includes('-h')) {
    out(LAB_HELP);
    return 0;
  }
  let opts: LabCliOptions;
  try {
    opts = parseLabArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      out(`error: ${e.message} (${USAGE})`);
      return 2;
    }
    throw e;
  }
  let selected = selectTests(tests, opts.grep);
  if (selected.length === 0) {
    out(`error: no test title matches --grep ${opts.grep}`);
    return 2;
  }
  if (opts.html !== undefined && selected.length !== 1) {
    out(`error: --html replays one test: give --grep matching exactly one test (it matches ${selected.length})`);
    return 2;
  }
  let implUrl: string | undefined;
  if (opts.impl !== undefined) {
    let impl: LabImplementation;
    try {
      implUrl = await prepareImplementation(opts.impl);
      impl = await implementation(implUrl, front?.implName ?? opts.impl);
    } catch (e) {
      if (!(e instanceof ImplementationError)) throw e;
      out(`error: --impl: ${e.message}`);
      return 2;
    }
    const missing = (t: LabTest): boolean => t.needs !== undefined && impl[t.needs] === undefined;
    const unrunnable = selected.filter(missing);
    if (unrunnable.length > 0 && opts.grep !== undefined) {
      out(`error: --impl: ${impl.name} exports no ${unrunnable[0]!.needs}, which ${unrunnable.length} selected test(s) need (e.g. ${unrunnable[0]!.title})`);
      return 2;
    }
    if (unrunnable.length > 0) {
      out(`note: ${impl.name} exports no ${unrunnable[0]!.needs}: the ${unrunnable.length} test(s) that need it are skipped`);
      selected = selected.filter((t) => !missing(t));
    }
  }
  if (opts.trace && (selected.length !== 1 || opts.runs !== 1)) {
    out(`error: --trace prints one run: give --grep matching exactly one test (it matches ${selected.length}) and no --runs`);
    return 2;
  }
  const indexOf = new Map(tests.map((t, i) => [t, i]));
  const jobs: Job[] = [];
  for (let run = 0; run < opts.runs; run++) {
    const hash = selected.length === 1 && opts.runs === 1 && !opts.real;
    for (const t of selected) jobs.push({ testIndex: indexOf.get(t)!, seed: opts.seed + run, real: opts.real, storage: opts.storage, impl: implUrl, implArg: opts.impl, trace: opts.trace, hash });
  }
  const verbose = opts.runs === 1;
  out(`tsraft lab: ${selected.length} test(s) x ${opts.runs} run(s), seeds ${opts.seed}..${opts.seed + opts.runs - 1}, ${opts.real ? 'real' : 'virtual'} time, ${opts.storage} storage, ${opts.jobs} job(s)${opts.impl !== undefined ? `, implementation ${front?.implName ?? opts.impl}` : ''}`);

  const wall0 = performance.now();
  const failures: JobResult[] = [];
  let passed = 0;
  const perSeed = new Map<number, { done: number; failed: number; wallMs: number; virtualMs: number }>();
  const record = (r: JobResult): void => {
    if (r.ok) passed++;
    else failures.push(r);
    const s = perSeed.get(r.job.seed) ?? { done: 0, failed: 0, wallMs: 0, virtualMs: 0 };
    s.done++;
    s.wallMs += r.wallMs;
    s.virtualMs += r.virtualMs;
    if (!r.ok) s.failed++;
    perSeed.set(r.job.seed, s);
    const title = tests[r.job.testIndex]!.title;
    if (verbose) {
      if (opts.jobs > 1) for (const l of r.lines) out(l);
      if (!r.ok) {
        out(`  ... FAILED: ${r.error}`);
        out(`  replay: ${replay(title, r.job)}`);
      }
      if (r.traceHash !== undefined) out(`trace hash ${r.traceHash}`);
      if (opts.html !== undefined && r.traceHash !== undefined) {
        writeFileSync(opts.html, replayPageWith({ kind: 'lab', title, seed: r.job.seed, cliHash: r.traceHash }));
        out(`replay page written to ${opts.html}: open it in a browser (it re-runs the test there)`);
      }
    } else {
      if (!r.ok) out(`FAILED seed ${r.job.seed}: ${title}: ${r.error.split('\n')[0]}`);
      if (s.done === selected.length) {
        out(`seed ${r.job.seed}: ${s.done - s.failed} passed, ${s.failed} failed (${(s.virtualMs / 1000).toFixed(1)} s simulated, ${(s.wallMs / 1000).toFixed(1)} s of work)`);
      }
    }
  };

  if (opts.jobs === 1) {
    for (const job of jobs) record(await runJob(tests, job, verbose ? out : undefined));
  } else {
    await runInWorkers(workerModule, jobs, opts.jobs, record);
  }

  if (failures.length > 0 && !verbose) {
    out('failures:');
    for (const f of failures) out(`  ${replay(tests[f.job.testIndex]!.title, f.job)}`);
  }
  out(`wall time ${((performance.now() - wall0) / 1000).toFixed(1)} s`);
  out(`${passed} passed, ${failures.length} failed`);
  return failures.length > 0 ? 1 : 0;
}

function runInWorkers(workerModule: URL, jobs: readonly Job[], n: number, record: (r: JobResult) => void): Promise<void> {
  let next = 0;
  let active = 0;
  return new Promise((resolve, reject) => {
    const feed = (w: Worker): void => {
      if (next < jobs.length) {
        w.postMessage(jobs[next++]);
      } else {
        active--;
        void w.terminate();
        if (active === 0) resolve();
      }
    };
    for (let i = 0; i < Math.min(n, jobs.length); i++) {
      const w = new Worker(workerModule, { workerData: { labWorker: true } });
      active++;
      w.on('message', (r: JobResult) => {
        record(r);
        feed(w);
      });
      w.on('error', reject);
      feed(w);
    }
  });
}

/** True inside a worker started by {@link labMain}. */
export function isLabWorker(): boolean {
  return parentPort !== null && (workerData as { labWorker?: boolean } | undefined)?.labWorker === true;
}

/** The worker side: runs the jobs it is sent, one at a time. */
export function labWorker(tests: readonly LabTest[]): void {
  parentPort!.on('message', (job: Job) => {
    void runJob(tests, job, undefined).then((r) => parentPort!.postMessage(r));
  });
}
