// Seeded randomized runs of five cores under message loss, delay, duplication,
// reordering, restarts and compaction. The Cluster helper checks the persistence
// contract and state machine safety on every Ready; this test adds Election
// Safety, Log Matching and agreement on committed entries after every step,
// then heals the network and requires a fresh command to commit everywhere.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Role, type NodeId } from '../../src/core/types.js';
import { SeededRandom } from '../../src/util/random.js';
import { Cluster, bytes } from './helpers.js';

const IDS: readonly NodeId[] = [1, 2, 3, 4, 5];

function checkSafety(c: Cluster, leaders: Map<number, NodeId>): void {
  for (const id of IDS) {
    const r = c.get(id);
    if (r.role !== Role.Leader) continue;
    const other = leaders.get(r.term);
    assert.ok(other === undefined || other === id, `two leaders in term ${r.term}: ${other} and ${id}`);
    leaders.set(r.term, id);
  }
  for (const x of IDS) {
    for (const y of IDS) {
      if (x >= y) continue;
      const a = c.get(x).log;
      const b = c.get(y).log;
      const lo = Math.max(a.firstIndex(), b.firstIndex());
      const hi = Math.min(a.lastIndex(), b.lastIndex());
      let matched = false;
      for (let i = hi; i >= lo; i--) {
        const same = a.term(i) === b.term(i);
        assert.ok(same || !matched, `log matching: nodes ${x} and ${y} agree above ${i} but not at ${i}`);
        matched ||= same;
      }
      for (let i = lo; i <= Math.min(a.committed, b.committed); i++) {
        assert.equal(a.term(i), b.term(i), `committed entry ${i} differs between nodes ${x} and ${y}`);
      }
    }
  }
}

function run(seed: number, steps: number): void {
  const rnd = new SeededRandom(seed);
  const c = new Cluster(IDS, (id) => ({
    random: new SeededRandom(seed * 10 + id),
    maxInflight: 1 + rnd.int(4),
    maxEntriesPerAppend: 1 + rnd.int(5),
    maxSnapshotChunkBytes: 1 + rnd.int(8),
    noopOnElection: rnd.int(2) === 0,
    heartbeatTicks: 1 + rnd.int(3),
    preVote: rnd.int(2) === 0,
    checkQuorum: rnd.int(2) === 0,
  }));
  const leaders = new Map<number, NodeId>();
  const pick = () => IDS[rnd.int(IDS.length)]!;

  for (let step = 0; step < steps; step++) {
    const a = rnd.int(100);
    if (a < 30) {
      c.tick(pick());
    } else if (a < 40) {
      for (const id of IDS) if (c.get(id).role === Role.Leader) c.get(id).propose(bytes(`${seed}:${step}`));
    } else if (a < 43) {
      c.restart(pick());
    } else if (a < 47) {
      const r = c.get(pick());
      if (r.log.applied > r.log.snapIndex) r.compact(r.log.applied, bytes(`snap@${r.log.applied}`));
    } else {
      c.flushAll();
      const q = c.queue;
      c.queue = [];
      for (let i = q.length - 1; i > 0; i--) {
        const j = rnd.int(i + 1);
        [q[i], q[j]] = [q[j]!, q[i]!];
      }
      for (const m of q) {
        const x = rnd.int(100);
        if (x < 10) continue; // lost
        if (x < 20) {
          c.queue.push(m); // delayed
          continue;
        }
        c.deliver(m);
        if (x >= 96) c.deliver(m); // duplicated
      }
    }
    checkSafety(c, leaders);
  }

  // Heal: a leader emerges and a new command reaches every state machine.
  let final: { index: number; term: number } | null = null;
  for (let round = 0; round < 400; round++) {
    for (const id of IDS) c.tick(id);
    c.stabilize();
    checkSafety(c, leaders);
    const leader = IDS.map((id) => c.get(id)).find((r) => r.role === Role.Leader);
    if (final === null && leader !== undefined) final = leader.propose(bytes(`final-${seed}`));
    if (final !== null && IDS.every((id) => c.get(id).log.applied >= final!.index)) {
      for (const id of IDS) {
        const r = c.get(id);
        if (r.log.snapIndex < final.index) assert.equal(r.log.term(final.index), final.term, `node ${id} applied another entry at ${final.index}`);
      }
      return;
    }
  }
  assert.fail(`seed ${seed}: the healed cluster did not commit a new command everywhere`);
}

test('randomized five-node runs keep Election Safety, Log Matching, State Machine Safety and the persistence contract, and recover', () => {
  for (let seed = 1; seed <= 20; seed++) {
    // Every run is a function of its seed; a failure names it (the messages above may not).
    try {
      run(seed, 1500);
    } catch (e) {
      throw new Error(`random cluster seed ${seed}: ${(e as Error).message}`, { cause: e });
    }
  }
});
