import { runLabTest } from '../../lab/runner.js';
import { kvTests } from '../../lab/suite/kv.js';
import { raftTests } from '../../lab/suite/raft.js';
import { runSimulation } from '../../sim/cluster.js';
import type { SimObserver } from '../../sim/observe.js';
import type { RunConfig } from './run-config.js';

/** How a run the page made ended. */
export interface RunOutcome {
  readonly summary: string;
  readonly traceHash: string;
  readonly ok: boolean;
  readonly failure: { readonly check: string; readonly message: string; readonly t: number } | undefined;
}

/**
 * Runs what `config` names in this page with the real code, reporting every
 * event to `observer`: a simulated run (runSimulation), or one lab test
 * (runLabTest, on the lab's network and tester, in virtual time).
 */
export async function startRun(config: RunConfig, observer: SimObserver): Promise<RunOutcome> {
  if (config.kind === 'lab') {
    const test = [...raftTests, ...kvTests].find((t) => t.title === config.title);
    if (test === undefined) throw new Error(`no lab test is titled ${JSON.stringify(config.title)}`);
    const lines: string[] = [];
    const r = await runLabTest(test, { seed: config.seed, hashTrace: true, observer, log: (l) => lines.push(l) });
    const message = r.ok ? '' : r.error instanceof Error ? r.error.message : String(r.error);
    return {
      summary: r.ok ? `${test.title}: ${lines.at(-1)?.trim() ?? 'Passed'}` : `${test.title}: FAILED`,
      traceHash: r.traceHash ?? '',
      ok: r.ok,
      failure: r.ok ? undefined : { check: 'lab test', message, t: r.virtualMs },
    };
  }
  const r = await runSimulation({
    seed: config.seed,
    nodes: config.nodes,
    profile: config.profile,
    ops: config.ops,
    canary: config.canary,
    durationMs: config.durationMs,
    hashTrace: true,
    observer,
  });
  return { summary: `seed ${r.seed}: ${r.summary}`, traceHash: r.traceHash, ok: r.ok, failure: r.failure === undefined ? undefined : { check: r.failure.check, message: r.failure.message, t: r.failure.atMs } };
}
