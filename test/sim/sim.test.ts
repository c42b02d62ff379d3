/**
 * The deterministic simulator in CI: a thousand seeded fault schedules
 * against whole clusters (clients, watchers, transactions and leases), two hundred of the membership profile, two hundred of the lease profile, every seed that ever found a bug, the determinism
 * self-check, and every planted bug caught at the seed that first caught it.
 * Seeds per second are reported as a diagnostic (`npm run sim` measures more).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { addStats, describeStats, emptyStats, parseSimArgs, runSeeds } from '../../src/sim/cli.js';
import { runSimulation } from '../../src/sim/cluster.js';
import { CANARIES, isCanaryName } from '../../src/util/canary.js';

const SEEDS = Number(process.env['TSRAFT_SIM_SEEDS'] ?? 1000);
const WORKERS = Math.max(1, Math.min(2, availableParallelism()));
const source = (p: string): string => fileURLToPath(new URL(`../../../test/sim/${p}`, import.meta.url));

/** Non-comment lines of a corpus file: `npm run sim --` arguments, then `# what it is`. */
function corpus(file: string): { args: string[]; note: string; line: number }[] {
  return readFileSync(source(file), 'utf8')
    .split('\n')
    .map((l, i) => ({ l: l.trim(), line: i + 1 }))
    .filter(({ l }) => l !== '' && !l.startsWith('#'))
    .map(({ l, line }) => {
      const hash = l.indexOf('#');
      const args = (hash < 0 ? l : l.slice(0, hash)).trim().split(/\s+/);
      return { args, note: hash < 0 ? '' : l.slice(hash + 1).trim(), line };
    });
}

test(`${SEEDS} seeded fault schedules: every safety check holds, then liveness, then linearizability`, async (t) => {
  const seeds = Array.from({ length: SEEDS }, (_, i) => i + 1);
  const t0 = performance.now();
  const results = await runSeeds(seeds, {}, WORKERS);
  const seconds = (performance.now() - t0) / 1000;
  const failed = results.filter((r) => !r.result.ok);
  const totals = emptyStats();
  for (const r of results) addStats(totals, r.result.stats);
  t.diagnostic(`${SEEDS} seeds in ${seconds.toFixed(1)} s on ${WORKERS} worker(s): ${(SEEDS / seconds).toFixed(1)} seeds/s`);
  t.diagnostic(`covered: ${describeStats(totals)}`);
  assert.deepEqual(
    failed.map((r) => `seed ${r.result.seed}: ${r.result.failure!.check}: ${r.result.failure!.message.split('\n')[0]} (replay: npm run sim -- --seed ${r.result.seed} --trace)`),
    [],
  );
  // The schedules must actually exercise what they claim to.
  if (SEEDS >= 1000) {
    for (const k of ['crashes', 'crashAlls', 'midWriteCrashes', 'tornWrites', 'partitions', 'pauses', 'clockJumps', 'byteFlips', 'snapshotInstalls', 'snapshotsTaken', 'leaderChanges'] as const) {
      assert.ok(totals[k] > SEEDS / 20, `only ${totals[k]} ${k} in ${SEEDS} seeds`);
    }
    assert.equal(totals.refusedStarts, totals.byteFlips, 'every node with a flipped byte refused to start');
    assert.ok(totals.opsCompleted > SEEDS * 40, `only ${totals.opsCompleted} client operations`);
    // Watchers must see changes, move between nodes (crashes, restarts, dropped connections) and sometimes find their revision compacted.
    assert.ok(totals.watchEvents > SEEDS * 10, `only ${totals.watchEvents} changes delivered to watchers`);
    assert.ok(totals.watchMoves > SEEDS, `only ${totals.watchMoves} watcher resumptions on another node`);
    assert.ok(totals.watchCompacted > SEEDS / 100, `only ${totals.watchCompacted} watchers ended on a compacted error`);
    // Transactions, and leases kept alive, revoked and expired (by the expirers), in most seeds.
    assert.ok(totals.txns > SEEDS * 5, `only ${totals.txns} transactions`);
    assert.ok(totals.leaseKeepAlives > SEEDS * 3, `only ${totals.leaseKeepAlives} lease keep-alives`);
    assert.ok(totals.leaseRevokes > SEEDS / 10, `only ${totals.leaseRevokes} lease revokes`);
    assert.ok(totals.leaseExpiries > SEEDS / 5, `only ${totals.leaseExpiries} lease expiries`);
  }
});

const MEMBERSHIP_SEEDS = Number(process.env['TSRAFT_SIM_MEMBERSHIP_SEEDS'] ?? 200);

test(`${MEMBERSHIP_SEEDS} seeds of the membership profile: adds, promotions, removals (the leader's too), replacements and transfers under faults`, async (t) => {
  const seeds = Array.from({ length: MEMBERSHIP_SEEDS }, (_, i) => i + 1);
  const t0 = performance.now();
  const results = await runSeeds(seeds, { profile: 'membership' }, WORKERS);
  const seconds = (performance.now() - t0) / 1000;
  const totals = emptyStats();
  for (const r of results) addStats(totals, r.result.stats);
  t.diagnostic(`${MEMBERSHIP_SEEDS} membership seeds in ${seconds.toFixed(1)} s: ${(MEMBERSHIP_SEEDS / seconds).toFixed(1)} seeds/s`);
  t.diagnostic(`covered: ${describeStats(totals)}`);
  assert.deepEqual(
    results.filter((r) => !r.result.ok).map((r) => `seed ${r.result.seed}: ${r.result.failure!.check}: ${r.result.failure!.message.split('\n')[0]} (replay: npm run sim -- --seed ${r.result.seed} --trace --profile membership)`),
    [],
  );
  if (MEMBERSHIP_SEEDS >= 200) {
    for (const k of ['adds', 'promotions', 'removes', 'leaderRemovals', 'replacements', 'transfers'] as const) {
      assert.ok(totals[k] > MEMBERSHIP_SEEDS / 4, `only ${totals[k]} ${k} in ${MEMBERSHIP_SEEDS} seeds`);
    }
  }
});

const LEASE_SEEDS = Number(process.env['TSRAFT_SIM_LEASE_SEEDS'] ?? 200);

test(`${LEASE_SEEDS} seeds of the lease profile: lease reads stay linearizable with every clock within the configured drift`, async (t) => {
  const seeds = Array.from({ length: LEASE_SEEDS }, (_, i) => i + 1);
  const results = await runSeeds(seeds, { profile: 'lease' }, WORKERS);
  const totals = emptyStats();
  for (const r of results) addStats(totals, r.result.stats);
  t.diagnostic(`covered: ${describeStats(totals)}`);
  assert.deepEqual(
    results.filter((r) => !r.result.ok).map((r) => `seed ${r.result.seed}: ${r.result.failure!.check}: ${r.result.failure!.message.split('\n')[0]} (replay: npm run sim -- --seed ${r.result.seed} --trace --profile lease)`),
    [],
  );
  if (LEASE_SEEDS >= 200) {
    // Most reads must really be lease reads, under the faults that test a lease.
    assert.ok(totals.leaseReads > LEASE_SEEDS * 10, `only ${totals.leaseReads} lease reads`);
    for (const k of ['partitions', 'pauses', 'crashes', 'leaderChanges', 'transfers'] as const) assert.ok(totals[k] > LEASE_SEEDS / 10, `only ${totals[k]} ${k}`);
  }
});

test('the regression corpus: every seed that ever found a bug passes', async () => {
  const entries = corpus('regressions/corpus.txt');
  assert.ok(entries.length > 0);
  for (const e of entries) {
    const o = parseSimArgs(e.args);
    const r = await runSimulation({ seed: o.first, nodes: o.nodes, profile: o.profile, ops: o.ops });
    assert.ok(r.ok, `corpus line ${e.line} (${e.note}): ${r.failure?.check}: ${r.failure?.message}`);
  }
});

test('determinism: the same seed twice gives the same trace hash; other seeds give others', async () => {
  const seeds = Array.from({ length: 24 }, (_, i) => 5000 + i);
  const results = await runSeeds(seeds, {}, WORKERS, true);
  for (const r of results) assert.equal(r.secondHash, r.result.traceHash, `seed ${r.result.seed} ran differently twice`);
  assert.equal(new Set(results.map((r) => r.result.traceHash)).size, seeds.length);
});

test('every planted bug is caught by the seed that first caught it, by the same check', async () => {
  const entries = corpus('canaries.txt');
  const named = new Set<string>();
  for (const e of entries) {
    const o = parseSimArgs(e.args);
    assert.ok(o.canary !== undefined && isCanaryName(o.canary), `canaries.txt line ${e.line} names no canary`);
    named.add(o.canary);
    const expected = /check ([a-z-]+)/.exec(e.note)?.[1];
    const r = await runSimulation({ seed: o.first, nodes: o.nodes, profile: o.profile, ops: o.ops, canary: o.canary });
    assert.ok(!r.ok, `canary ${o.canary} survived seed ${o.first}`);
    assert.equal(r.failure!.check, expected, `canary ${o.canary} at seed ${o.first}: ${r.failure!.message}`);
  }
  assert.deepEqual([...named].sort(), Object.keys(CANARIES).sort(), 'a canary is missing from canaries.txt');
});
