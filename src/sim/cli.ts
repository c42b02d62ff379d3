import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { UsageError, parseIntegerArg } from '../util/args.js';
import { CANARIES, isCanaryName, type CanaryName } from '../util/canary.js';
import { emptyStats, runSimulation, type SimulationOptions, type SimulationResult, type SimulationStats } from './cluster.js';

export { emptyStats };
import { PROFILES, isProfileName, type ProfileName } from './faults.js';
import { CHECKS } from './safety.js';

const USAGE =
  'usage: npm run sim -- --seeds A..B [--nodes 1|3|5|7] [--profile NAME] [--ops K] [--jobs J] [--check-determinism]\n' +
  '       npm run sim -- --seed S [--trace] [--trace-json FILE] [--html FILE] [--nodes N] [--profile NAME] [--ops K] [--duration MS]\n' +
  '       npm run sim -- --canary NAME [--seeds 1..2000]\n' +
  '       npm run sim -- --list-canaries | --list-checks\n' +
  '       npm run sim -- --help';

/** What `npm run sim -- --help` prints: every option, one line each, and examples. */
export const SIM_HELP = [
  'npm run sim: seeded whole-cluster simulation; one seed replays a run exactly (docs/TESTING.md).',
  '',
  USAGE,
  '',
  'options:',
  '  --seeds A..B           run every seed from A to B (e.g. 1..1000); prints "N passed, N failed"',
  '  --seed S               run one seed (to replay a failure); with --trace, print what happened',
  '  --nodes 1|3|5|7        cluster size (default: drawn from each seed)',
  `  --profile NAME         fault profile: ${Object.keys(PROFILES).join(', ')} (default swarm)`,
  '  --ops K                client operations per run (default 100)',
  '  --jobs J               worker threads (default: the cores, at most one per seed)',
  '  --trace                with --seed: print the run\'s event trace',
  '  --trace-json FILE      with --seed: write the trace as JSON to FILE',
  '  --html FILE            with --seed: write a self-contained page to FILE that re-runs the seed in a browser and replays it',
  '  --duration MS          how long the fault phase lasts, in ms of virtual time (default: drawn from the seed, 4000-20000)',
  '  --canary NAME          plant a known bug and search the seeds (default 1..2000) for one that catches it',
  '  --check-determinism    run each seed twice and compare the trace hashes',
  '  --list-canaries        list the planted bugs --canary accepts',
  '  --list-checks          list the safety and liveness checks a run makes',
  '  -h, --help             print this help',
  '',
  'examples:',
  '  npm run sim -- --seeds 1..200',
  '  npm run sim -- --seed 42 --trace',
  '  npm run sim -- --seed 42 --html seed42.html',
  '  npm run sim -- --seeds 1..50 --nodes 5 --profile network',
  '  npm run sim -- --check-determinism --seeds 1..24',
  '  npm run sim -- --canary ack-before-fsync',
  '',
  'exit code: 0 every seed passed (with --canary: a seed caught it), 1 otherwise, 2 a usage error',
].join('\n');

/** True when the command line asks for help, whatever else it says. */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}


export interface SimCliOptions {
  readonly first: number;
  readonly last: number;
  readonly nodes: number | undefined;
  readonly profile: ProfileName;
  readonly ops: number;
  readonly jobs: number;
  readonly trace: boolean;
  readonly traceJson: string | undefined;
  readonly html: string | undefined;
  readonly durationMs: number | undefined;
  readonly canary: CanaryName | undefined;
  readonly checkDeterminism: boolean;
  readonly list: 'canaries' | 'checks' | undefined;
}

/** Parses the command line; throws {@link UsageError} on any mistake. */
export function parseSimArgs(argv: readonly string[]): SimCliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        seeds: { type: 'string' },
        seed: { type: 'string' },
        nodes: { type: 'string' },
        profile: { type: 'string' },
        ops: { type: 'string' },
        jobs: { type: 'string' },
        trace: { type: 'boolean', default: false },
        'trace-json': { type: 'string' },
        html: { type: 'string' },
        duration: { type: 'string' },
        canary: { type: 'string' },
        'check-determinism': { type: 'boolean', default: false },
        'list-canaries': { type: 'boolean', default: false },
        'list-checks': { type: 'boolean', default: false },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
  const list = values['list-canaries'] ? 'canaries' : values['list-checks'] ? 'checks' : undefined;
  if (values.seeds !== undefined && values.seed !== undefined) throw new UsageError('give --seeds A..B or --seed S, not both');
  let first = 1;
  let last = 1;
  if (values.seed !== undefined) {
    first = last = parseIntegerArg('seed', values.seed, 0);
  } else if (values.seeds !== undefined) {
    const m = /^(\d+)\.\.(\d+)$/.exec(values.seeds);
    if (m === null) throw new UsageError(`--seeds must look like A..B (e.g. 1..1000), got '${values.seeds}'`);
    first = parseIntegerArg('seeds', m[1]!, 0);
    last = parseIntegerArg('seeds', m[2]!, 0);
    if (last < first) throw new UsageError(`--seeds ${values.seeds}: the last seed is before the first`);
  } else if (values.canary !== undefined) {
    last = 2000;
  } else if (list === undefined) {
    throw new UsageError('say which seeds to run: --seeds A..B or --seed S');
  }
  let nodes: number | undefined;
  if (values.nodes !== undefined) {
    nodes = parseIntegerArg('nodes', values.nodes, 1);
    if (![1, 3, 5, 7].includes(nodes)) throw new UsageError(`--nodes must be 1, 3, 5 or 7, got ${nodes}`);
  }
  const profile = values.profile ?? 'swarm';
  if (!isProfileName(profile)) throw new UsageError(`--profile must be one of ${Object.keys(PROFILES).join(', ')}; got '${profile}'`);
  const canary = values.canary;
  if (canary !== undefined && !isCanaryName(canary)) throw new UsageError(`unknown canary '${canary}' (npm run sim -- --list-canaries lists them)`);
  const trace = values.trace ?? false;
  const traceJson = values['trace-json'];
  if ((trace || traceJson !== undefined) && first !== last) throw new UsageError('--trace and --trace-json replay one seed: use --seed S');
  const html = values.html;
  if (html !== undefined && (values.seed === undefined || first !== last)) throw new UsageError('--html replays one seed: use --seed S');
  if (html === '') throw new UsageError('--html needs a file name');
  const count = last - first + 1;
  return {
    first,
    last,
    nodes,
    profile,
    ops: values.ops === undefined ? 100 : parseIntegerArg('ops', values.ops, 1),
    jobs: values.jobs === undefined ? Math.max(1, Math.min(availableParallelism(), count)) : parseIntegerArg('jobs', values.jobs, 1),
    trace,
    traceJson,
    html,
    durationMs: values.duration === undefined ? undefined : parseIntegerArg('duration', values.duration, 100),
    canary,
    checkDeterminism: values['check-determinism'] ?? false,
    list,
  };
}

/** The command that replays one seed with its trace. */
export function replayCommand(seed: number, o: Pick<SimCliOptions, 'nodes' | 'profile' | 'ops' | 'canary'> & { durationMs?: number | undefined }): string {
  return (
    `npm run sim -- --seed ${seed} --trace` +
    (o.nodes !== undefined ? ` --nodes ${o.nodes}` : '') +
    (o.profile !== 'swarm' ? ` --profile ${o.profile}` : '') +
    (o.ops !== 100 ? ` --ops ${o.ops}` : '') +
    (o.canary !== undefined ? ` --canary ${o.canary}` : '') +
    (o.durationMs !== undefined ? ` --duration ${o.durationMs}` : '')
  );
}

/** Where the built replay page is (npm run build writes it next to the compiled CLI). */
const REPLAY_PAGE = new URL('../web/replay.html', import.meta.url);

/**
 * The replay page of one run: the built page with the run's parameters (and
 * the trace hash this CLI got) embedded, so the file alone re-runs the seed.
 */
export function replayHtml(run: { seed: number; nodes?: number | undefined; profile: string; ops: number; canary?: string | undefined; durationMs?: number | undefined; cliHash: string }): string {
  return replayPageWith({ kind: 'sim', ...run });
}

/** The built replay page with `run` (a simulated run, or a lab test's: src/web/replay/run-config.ts) embedded. */
export function replayPageWith(run: { readonly kind: 'sim' | 'lab'; readonly seed: number; readonly cliHash: string; readonly [field: string]: unknown }): string {
  let page: string;
  try {
    page = readFileSync(REPLAY_PAGE, 'utf8');
  } catch (e) {
    throw new Error(`the replay page ${REPLAY_PAGE.pathname} is missing (npm run build writes it): ${(e as Error).message}`, { cause: e });
  }
  const slot = '<script type="application/json" id="tsraft-run"></script>';
  if (!page.includes(slot)) throw new Error(`the replay page ${REPLAY_PAGE.pathname} has no run slot`);
  const json = JSON.stringify(run).replace(/</g, '\\u003c');
  return page.replace(slot, () => `<script type="application/json" id="tsraft-run">${json}</script>`);
}

interface Job {
  readonly seed: number;
  readonly opts: Omit<SimulationOptions, 'seed' | 'trace'>;
  readonly twice: boolean;
}

interface JobResult {
  readonly result: SimulationResult;
  /** With the determinism check: the second run's trace hash. */
  readonly secondHash: string | undefined;
}

async function runJob(job: Job): Promise<JobResult> {
  const result = await runSimulation({ ...job.opts, seed: job.seed, hashTrace: job.twice || job.opts.hashTrace === true });
  if (!job.twice) return { result, secondHash: undefined };
  const again = await runSimulation({ ...job.opts, seed: job.seed, hashTrace: true });
  return { result, secondHash: again.traceHash };
}

/** Sums the fault counts of many runs. */
export function addStats(into: SimulationStats, s: SimulationStats): void {
  for (const k of Object.keys(s) as (keyof SimulationStats)[]) into[k] += s[k];
}

/** One line of what a set of runs covered. */
export function describeStats(t: SimulationStats): string {
  return (
    `crashes ${t.crashes} (all nodes at once ${t.crashAlls}, inside a write ${t.midWriteCrashes}), torn writes ${t.tornWrites}, restarts ${t.restarts}, ` +
    `partitions ${t.partitions}, pauses ${t.pauses}, clock jumps ${t.clockJumps}, byte flips ${t.byteFlips} (refused starts ${t.refusedStarts}), ` +
    `leader changes ${t.leaderChanges}, snapshots taken ${t.snapshotsTaken}, snapshot installs ${t.snapshotInstalls}, ` +
    `client operations ${t.opsCompleted}, entries committed ${t.committed}, messages ${t.messagesSent} (dropped ${t.messagesDropped}, duplicated ${t.messagesDuplicated}), ` +
    `membership: adds ${t.adds}, promotions ${t.promotions}, removes ${t.removes} (of the leader ${t.leaderRemovals}), replacements ${t.replacements}, transfers ${t.transfers} (changes refused ${t.changesRefused})` +
    (t.leaseReads > 0 ? `, lease reads ${t.leaseReads}` : '') +
    `, watch: changes delivered ${t.watchEvents}, resumptions on another node ${t.watchMoves}, compacted ${t.watchCompacted}` +
    `, transactions ${t.txns}, leases: grants ${t.leaseGrants}, keep-alives ${t.leaseKeepAlives}, revokes ${t.leaseRevokes}, expiries ${t.leaseExpiries}`
  );
}

/**
 * The `npm run sim` program. Returns the exit code: 0 when every seed passed
 * (or, with --canary, when a seed caught the canary), 1 otherwise, 2 on a
 * usage error.
 */
export async function simMain(argv: readonly string[], out: (l: string) => void = (l) => console.log(l)): Promise<number> {
  if (wantsHelp(argv)) {
    out(SIM_HELP);
    return 0;
  }
  let o: SimCliOptions;
  try {
    o = parseSimArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      out(`error: ${e.message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  if (o.list === 'canaries') {
    for (const [name, what] of Object.entries(CANARIES)) out(`${name.padEnd(28)} ${what}`);
    return 0;
  }
  if (o.list === 'checks') {
    for (const [name, what] of Object.entries(CHECKS)) out(`${name.padEnd(22)} ${what}`);
    return 0;
  }
  const base = { nodes: o.nodes, profile: o.profile, ops: o.ops, canary: o.canary, durationMs: o.durationMs };

  if (o.html !== undefined) {
    const r = await runSimulation({ ...base, seed: o.first, hashTrace: true });
    writeFileSync(o.html, replayHtml({ ...base, seed: o.first, cliHash: r.traceHash }));
    out(`seed ${r.seed}: ${r.summary}`);
    out(`trace hash ${r.traceHash}`);
    out(r.ok ? 'passed' : `FAILED ${r.failure!.check}: ${r.failure!.message}`);
    out(`replay page written to ${o.html}: open it in a browser (it re-runs the seed there)`);
    return r.ok ? 0 : 1;
  }

  if (o.trace || o.traceJson !== undefined) {
    const lines: string[] = [];
    const r = await runSimulation({ ...base, seed: o.first, trace: (l) => (o.trace ? out(l) : lines.push(l)) });
    if (o.traceJson !== undefined) {
      const events = (o.trace ? [] : lines).map((l) => {
        const sp = l.indexOf(' ');
        return { t: Number(l.slice(0, sp)), event: l.slice(sp + 1) };
      });
      writeFileSync(o.traceJson, JSON.stringify({ seed: o.first, options: base, result: r, events }, null, 1));
      out(`trace of ${events.length} events written to ${o.traceJson}`);
    }
    out(`seed ${r.seed}: ${r.summary}`);
    out(`trace hash ${r.traceHash}`);
    out(r.ok ? 'passed' : `FAILED ${r.failure!.check}: ${r.failure!.message}`);
    return r.ok ? 0 : 1;
  }

  const count = o.last - o.first + 1;
  out(
    `tsraft sim: seeds ${o.first}..${o.last}, ${o.nodes ?? 'drawn'} nodes, profile ${o.profile}, ${o.ops} operations per seed, ${o.jobs} worker(s)` +
      (o.canary !== undefined ? `, canary ${o.canary}` : '') +
      (o.checkDeterminism ? ', each seed twice (determinism check)' : ''),
  );
  const t0 = performance.now();
  let lastProgress = t0;
  const totals = emptyStats();
  const failures: SimulationResult[] = [];
  const nondeterministic: number[] = [];
  let done = 0;
  let caught: SimulationResult | undefined;
  /** With --canary: results by seed, to report the lowest catching seed. */
  const bySeed = new Map<number, SimulationResult>();

  const record = ({ result: r, secondHash }: JobResult): void => {
    done++;
    addStats(totals, r.stats);
    if (secondHash !== undefined && secondHash !== r.traceHash) {
      nondeterministic.push(r.seed);
      out(`NONDETERMINISTIC seed ${r.seed}: trace hashes ${r.traceHash.slice(0, 16)} and ${secondHash.slice(0, 16)} differ`);
    }
    if (count === 1) {
      out(`seed ${r.seed}: ${r.summary}`);
      out(`trace hash ${r.traceHash}`);
    }
    if (o.canary !== undefined) {
      bySeed.set(r.seed, r);
    } else if (!r.ok) {
      failures.push(r);
      out(`FAILED seed ${r.seed} (${r.summary}): ${r.failure!.check}: ${r.failure!.message.split('\n')[0]}`);
      out(`  replay: ${replayCommand(r.seed, base)}`);
    }
    const now = performance.now();
    if (now - lastProgress > 5000 && done < count) {
      lastProgress = now;
      out(`[${done}/${count}] ${done - failures.length} passed, ${failures.length} failed, ${(done / ((now - t0) / 1000)).toFixed(1)} seeds/s`);
    }
  };

  // With a canary, stop handing out seeds past the lowest one that caught it.
  const stopAt = (): number => {
    if (o.canary === undefined) return Infinity;
    let lowest = Infinity;
    for (const [s, r] of bySeed) if (!r.ok && s < lowest) lowest = s;
    return lowest;
  };
  const jobs = function* (): Generator<Job> {
    for (let s = o.first; s <= o.last; s++) {
      if (s > stopAt()) return;
      // One seed: hash its trace, so the line printed matches what --trace (and its replay page) prints.
      yield { seed: s, opts: count === 1 ? { ...base, hashTrace: true } : base, twice: o.checkDeterminism };
    }
  };
  if (o.jobs <= 1) {
    for (const job of jobs()) record(await runJob(job));
  } else {
    await runInWorkers(jobs(), o.jobs, record);
  }
  const seconds = (performance.now() - t0) / 1000;

  if (o.canary !== undefined) {
    const s = stopAt();
    caught = Number.isFinite(s) ? bySeed.get(s) : undefined;
    if (caught !== undefined) {
      out(`canary ${o.canary} caught by seed ${caught.seed}: ${caught.failure!.check}`);
      out(`  ${caught.failure!.message.split('\n')[0]}`);
      out(`  replay: ${replayCommand(caught.seed, base)}`);
      out(`${done} seed(s) in ${seconds.toFixed(1)} s`);
      return 0;
    }
    out(`canary ${o.canary} survived`);
    out(`${done} seed(s) in ${seconds.toFixed(1)} s: the simulator is blind to this bug`);
    return 1;
  }

  out(`covered: ${describeStats(totals)}`);
  if (failures.length > 0) {
    out('failures:');
    for (const f of failures) out(`  ${replayCommand(f.seed, base)}    # ${f.failure!.check}`);
  }
  if (o.checkDeterminism) out(nondeterministic.length === 0 ? `determinism: every seed gave the same trace hash twice` : `determinism: ${nondeterministic.length} seed(s) differ: ${nondeterministic.join(', ')}`);
  out(`wall time ${seconds.toFixed(1)} s, ${(done / seconds).toFixed(1)} seeds/s`);
  out(`${done - failures.length} passed, ${failures.length} failed`);
  return failures.length > 0 || nondeterministic.length > 0 ? 1 : 0;
}

/** Runs jobs on `n` worker threads, each running one seed at a time. */
function runInWorkers(jobs: Iterator<Job>, n: number, record: (r: JobResult) => void): Promise<void> {
  let active = 0;
  return new Promise((resolve, reject) => {
    const feed = (w: Worker): void => {
      const next = jobs.next();
      if (!next.done) {
        w.postMessage(next.value);
        return;
      }
      active--;
      void w.terminate();
      if (active === 0) resolve();
    };
    for (let i = 0; i < n; i++) {
      const w = new Worker(new URL(import.meta.url), { workerData: { simWorker: true } });
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

/** Runs seeds in worker threads and returns every result (for tests). */
export async function runSeeds(seeds: readonly number[], opts: Omit<SimulationOptions, 'seed' | 'trace'>, workers: number, twice = false): Promise<JobResult[]> {
  const results: JobResult[] = [];
  const it = seeds.map((seed): Job => ({ seed, opts, twice }))[Symbol.iterator]();
  if (workers <= 1) {
    for (let n = it.next(); !n.done; n = it.next()) results.push(await runJob(n.value));
  } else {
    await runInWorkers(it, workers, (r) => results.push(r));
  }
  return results.sort((a, b) => a.result.seed - b.result.seed);
}

if (!isMainThread && (workerData as { simWorker?: boolean } | undefined)?.simWorker === true) {
  parentPort!.on('message', (job: Job) => {
    void runJob(job).then((r) => parentPort!.postMessage(r));
  });
}
