import assert from 'node:assert/strict';
import { test } from 'node:test';
import { simMain } from '../../src/sim/cli.js';
import { runSimulation, type SimulationResult } from '../../src/sim/cluster.js';
import type { NodeFrame, SimEvent } from '../../src/sim/observe.js';
import type { CanaryName } from '../../src/util/canary.js';

interface Observed {
  readonly result: SimulationResult;
  readonly events: SimEvent[];
  readonly lines: string[];
}

async function observed(seed: number, extra: { nodes?: number; canary?: CanaryName } = {}): Promise<Observed> {
  const events: SimEvent[] = [];
  const lines: string[] = [];
  const result = await runSimulation({ seed, ...extra, trace: (l) => lines.push(l), observer: (e) => events.push(e) });
  return { result, events, lines };
}

// Seeds of the swarm profile with crashes, partitions and pauses among them.
const SEEDS = [3, 7, 11];

test('observer: a run observed is the same run: same trace, same trace hash, same stats', async () => {
  for (const seed of SEEDS) {
    const plainLines: string[] = [];
    const plain = await runSimulation({ seed, trace: (l) => plainLines.push(l) });
    const hashedOnly = await runSimulation({ seed, hashTrace: true });
    const o = await observed(seed);
    assert.equal(o.result.traceHash, plain.traceHash, `seed ${seed}`);
    assert.equal(hashedOnly.traceHash, plain.traceHash, `seed ${seed}: hashTrace alone`);
    assert.deepEqual(o.lines, plainLines, `seed ${seed}: the trace text`);
    assert.deepEqual(o.result.stats, plain.stats, `seed ${seed}`);
    const end = o.events.at(-1)!;
    assert.equal(end.kind, 'end');
    if (end.kind === 'end') assert.equal(end.traceHash, plain.traceHash);
  }
});

test('observer: every message delivered or dropped was sent before, and each copy meets one fate', async () => {
  for (const seed of SEEDS) {
    const { events, result } = await observed(seed);
    const sent = new Map<number, number>();
    const copies = new Map<number, number>();
    const fates = new Map<string, string>();
    let delivered = 0;
    let dropped = 0;
    let dups = 0;
    for (const e of events) {
      if (e.kind === 'send') {
        assert.ok(!sent.has(e.id), `message id ${e.id} used twice`);
        sent.set(e.id, e.t);
        copies.set(e.id, 1);
      } else if (e.kind === 'dup') {
        copies.set(e.id, 2);
        dups++;
      } else if (e.kind === 'schedule') {
        assert.ok(e.arriveAt >= e.t);
      } else if (e.kind === 'deliver' || e.kind === 'drop') {
        const at = sent.get(e.id);
        assert.ok(at !== undefined && at <= e.t, `seed ${seed}: message ${e.id} ${e.kind} at ${e.t} before it was sent`);
        assert.ok(e.copy < copies.get(e.id)!, `seed ${seed}: copy ${e.copy} of message ${e.id}`);
        const k = `${e.id}/${e.copy}`;
        assert.ok(!fates.has(k), `seed ${seed}: message ${k} ${e.kind} after ${fates.get(k)}`);
        fates.set(k, e.kind);
        if (e.kind === 'deliver') delivered++;
        else dropped++;
      }
    }
    assert.ok(delivered > 100, `seed ${seed}: ${delivered} deliveries`);
    assert.equal(sent.size >= result.stats.messagesSent, true, 'a message held by a paused sender is counted by the network only when released');
    assert.equal(dups, result.stats.messagesDuplicated);
    assert.ok(dropped >= result.stats.messagesDropped, `${dropped} drops observed, the network counted ${result.stats.messagesDropped}`);
  }
});

test('observer: node frames agree with the role lines of the trace', async () => {
  for (const seed of SEEDS) {
    const { events } = await observed(seed);
    // The last role line of each node at each virtual time, and each node's frames in order.
    const roleAt = new Map<string, { node: number; t: number; role: string; term: number }>();
    const frames = new Map<number, NodeFrame[]>();
    const frameTimes = new Map<number, number[]>();
    for (const e of events) {
      if (e.kind === 'trace') {
        const m = /^node (\d+) (follower|precandidate|candidate|leader) term (\d+)/.exec(e.line);
        if (m !== null) roleAt.set(`${m[1]}@${e.t}`, { node: Number(m[1]), t: e.t, role: m[2]!, term: Number(m[3]) });
      } else if (e.kind === 'node') {
        if (!frames.has(e.node.id)) {
          frames.set(e.node.id, []);
          frameTimes.set(e.node.id, []);
        }
        frames.get(e.node.id)!.push(e.node);
        frameTimes.get(e.node.id)!.push(e.t);
      }
    }
    let compared = 0;
    for (const [k, r] of roleAt) {
      // The frame in force after that step: the last one sent at or before it (a role line that
      // repeats the role, a new pre-vote round say, changes nothing and sends no frame).
      const times = frameTimes.get(r.node) ?? [];
      let i = times.length - 1;
      while (i >= 0 && times[i]! > r.t) i--;
      assert.ok(i >= 0, `seed ${seed}: role line ${k} but no frame before`);
      const f = frames.get(r.node)![i]!;
      if (f.status !== 'up') continue; // it crashed in the same step
      assert.equal(f.role, r.role, `seed ${seed}: node ${k}`);
      assert.equal(f.term, r.term, `seed ${seed}: node ${k}`);
      compared++;
    }
    assert.ok(compared > 5, `seed ${seed}: ${compared} role changes compared`);
    const frameList = [...frames.values()].flat();
    // And the log tail a frame shows ends at its last index, with terms never above the node's term.
    for (const f of frameList) {
      if (f.status !== 'up' || f.lastIndex === null) continue;
      if (f.tailTerms.length > 0) assert.equal(f.tailFirst + f.tailTerms.length - 1, f.lastIndex);
      for (const t of f.tailTerms) assert.ok(t <= f.term!, `term ${t} in the log of a node at term ${f.term}`);
      assert.ok(f.commit! <= f.lastIndex && f.applied! <= f.commit!);
    }
  }
});

test('observer: faults, partitions and client operations as structured events, matching the run\'s counts', async () => {
  let crashes = 0;
  let partitions = 0;
  for (const seed of SEEDS) {
    const { events, result } = await observed(seed);
    const faults = events.filter((e) => e.kind === 'fault');
    const crashEvents = faults.filter((e) => e.fault === 'crash').length;
    assert.equal(crashEvents, result.stats.crashes, `seed ${seed}`);
    assert.equal(faults.filter((e) => e.fault === 'pause').length, result.stats.pauses, `seed ${seed}`);
    assert.equal(faults.filter((e) => e.fault === 'clock-jump').length, result.stats.clockJumps, `seed ${seed}`);
    const cuts = events.filter((e) => e.kind === 'cuts');
    assert.equal(cuts.filter((e) => e.cuts.length > 0).length, result.stats.partitions, `seed ${seed}`);
    const returns = events.filter((e) => e.kind === 'client' && e.phase === 'return');
    assert.equal(returns.length, result.stats.opsCompleted, `seed ${seed}`);
    const invokes = new Set(events.flatMap((e) => (e.kind === 'client' && e.phase === 'invoke' ? [`${e.client}@${e.callT}`] : [])));
    for (const r of returns) if (r.kind === 'client') assert.ok(invokes.has(`${r.client}@${r.callT}`), 'every return follows its invocation');
    crashes += crashEvents;
    partitions += result.stats.partitions;
    // Times never go back.
    for (let i = 1; i < events.length; i++) assert.ok(events[i]!.t >= events[i - 1]!.t || events[i]!.kind === 'failure', `event ${i} goes back in time`);
  }
  assert.ok(crashes > 0 && partitions > 0, `the seeds cover crashes (${crashes}) and partitions (${partitions})`);
});

test('observer: the first failed check, with its time; for linearizability, the part of the history that shows it', async () => {
  const safety = await observed(23, { canary: 'commit-previous-term' });
  assert.equal(safety.result.failure?.check, 'commit-rule');
  const f = safety.events.filter((e) => e.kind === 'failure');
  assert.equal(f.length, 1);
  assert.equal(f[0]?.kind === 'failure' ? f[0].check : undefined, 'commit-rule');
  assert.equal(f[0]!.t, safety.result.failure!.atMs);
  const lin = await observed(11, { canary: 'read-without-readindex' });
  assert.equal(lin.result.failure?.check, 'linearizability');
  const g = lin.events.find((e) => e.kind === 'failure');
  assert.ok(g !== undefined && g.kind === 'failure' && g.history !== undefined);
  assert.ok(g.history.stuck !== null, 'the operation no order can place');
  assert.ok(g.history.ops.length >= 1 && g.history.ops.length < 101, `${g.history.ops.length} operations shown`);
  for (const op of g.history.ops) assert.match(op.words, new RegExp(`\\b${g.history.key}\\b`));
});

test('trace: drop lines name the message type; npm run sim -- --seed S prints the trace hash --trace prints', async () => {
  const { lines } = await observed(7);
  const drops = lines.filter((l) => / drop /.test(l));
  assert.ok(drops.length > 0);
  for (const l of drops) assert.match(l, / drop [A-Z][A-Za-z]+ \d+>\d+ t\d+$/, l);
  const plain: string[] = [];
  assert.equal(await simMain(['--seed', '7', '--jobs', '1'], (l) => plain.push(l)), 0);
  const traced: string[] = [];
  assert.equal(await simMain(['--seed', '7', '--trace'], (l) => traced.push(l)), 0);
  const hash = (out: string[]): string | undefined => out.find((l) => l.startsWith('trace hash '));
  assert.ok(hash(plain) !== undefined, plain.join('\n'));
  assert.equal(hash(plain), hash(traced));
});
