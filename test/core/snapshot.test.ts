// Snapshots: compaction, chunked InstallSnapshot (Figure 13), installation rules and restart.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftInvariantError } from '../../src/core/errors.js';
import { bootstrapConf } from '../../src/core/membership.js';
import { MessageType, Role, type Snapshot, type SnapMsg } from '../../src/core/types.js';
import {
  Cluster,
  bytes,
  constRandom,
  drain,
  ents,
  logTerms,
  makeCandidate,
  newRaft,
  ofType,
  seqBytes,
  snap,
  snapResp,
  tickUntilCampaign,
  vote,
} from './helpers.js';

describe('compaction', () => {
  test('compact(index) discards the log up to index and hands the snapshot to storage', () => {
    const r = newRaft(1, [1], { random: constRandom(0) });
    tickUntilCampaign(r);
    assert.equal(r.role, Role.Leader);
    drain(r); // persist the no-op: commit 1
    for (const v of ['a', 'b', 'c', 'd', 'e']) r.propose(bytes(v));
    drain(r); // persist: commit 6
    drain(r); // apply
    assert.equal(r.log.applied, 6);

    const data = bytes('state@4');
    r.compact(4, data);
    assert.equal(r.log.snapIndex, 4);
    assert.equal(r.log.snapTerm, 1);
    assert.equal(r.log.firstIndex(), 5);
    assert.equal(r.log.lastIndex(), 6);
    assert.equal(r.log.size(), 2);
    assert.equal(r.log.term(4), 1);
    assert.equal(r.log.term(3), undefined);
    assert.equal(r.log.entryAt(4), undefined);
    assert.deepEqual(r.snapshot, { meta: { index: 4, term: 1, conf: bootstrapConf([1]) }, data });
    const rd = drain(r);
    assert.deepEqual(rd.snapshot, { meta: { index: 4, term: 1, conf: bootstrapConf([1]) }, data });
    assert.equal(rd.mustSync, true);
    assert.equal(rd.applySnapshot, undefined, 'the state machine made this snapshot itself');
    assert.deepEqual(rd.entries, []);

    r.compact(3, bytes('older')); // stale: ignored
    assert.equal(r.log.snapIndex, 4);
    assert.equal(r.hasReady(), false);
    assert.throws(() => r.compact(7, bytes('future')), RaftInvariantError);
    assert.deepEqual(r.propose(bytes('f')), { index: 7, term: 1 });
  });
});

describe('InstallSnapshot', () => {
  /**
   * Node 3 is cut off while 1 and 2 commit [noop, a, b, c, d]; the leader then
   * compacts at 5 with a 10-byte snapshot, sent in 4-byte chunks.
   */
  function laggingFollower(): { c: Cluster; data: Uint8Array } {
    const c = new Cluster([1, 2, 3], { maxSnapshotChunkBytes: 4 });
    c.isolate(3);
    const leader = c.elect(1);
    for (const v of ['a', 'b', 'c', 'd']) c.propose(1, v);
    c.stabilize();
    assert.equal(leader.log.applied, 5);
    const data = seqBytes(10);
    leader.compact(5, data);
    c.stabilize();
    assert.equal(leader.log.snapIndex, 5);
    c.heal();
    return { c, data };
  }

  test('a follower behind the first index receives the snapshot in chunks and resumes replication after it', () => {
    const { c, data } = laggingFollower();
    const leader = c.get(1);
    c.heartbeat(1); // the heartbeat answer reveals node 3; its next index 1 is compacted

    const chunks = ofType(c.sent, MessageType.Snap).filter((m) => m.to === 3);
    assert.deepEqual(
      chunks.map((m) => [m.meta.index, m.meta.term, m.offset, [...m.data], m.size]),
      [
        [5, 1, 0, [0, 1, 2, 3], 10],
        [5, 1, 4, [4, 5, 6, 7], 10],
        [5, 1, 8, [8, 9], 10],
      ],
    );
    const answers = ofType(c.sent, MessageType.SnapResp).filter((m) => m.from === 3);
    assert.deepEqual(
      answers.map((m) => [m.snapIndex, m.offset, m.done, m.index]),
      [
        [5, 4, false, 0],
        [5, 8, false, 0],
        [5, 10, true, 5],
      ],
    );

    const f = c.get(3);
    assert.equal(c.appliedSnapshots.get(3)!.length, 1);
    assert.deepEqual(c.appliedSnapshots.get(3)![0], { meta: { index: 5, term: 1, conf: bootstrapConf([1, 2, 3]) }, data });
    assert.deepEqual(c.storage.get(3)!.snapshot?.meta, { index: 5, term: 1, conf: bootstrapConf([1, 2, 3]) });
    assert.deepEqual([f.log.snapIndex, f.log.committed, f.log.applied, f.log.lastIndex()], [5, 5, 5, 5]);
    const pr = leader.progressOf(3)!;
    assert.deepEqual([pr.state, pr.match, pr.next], ['replicate', 5, 6]);

    // Replication continues after the snapshot.
    c.propose(1, 'e');
    c.stabilize();
    c.tickAndStabilize(1);
    assert.deepEqual(logTerms(f), [1]);
    assert.equal(f.log.lastIndex(), 6);
    assert.equal(f.log.committed, 6);
    assert.deepEqual(c.appliedIndices(3), [6]);

    // Restart from snapshot + entries: applied resumes at the snapshot index.
    const r = c.restart(3);
    assert.deepEqual([r.log.snapIndex, r.log.applied, r.log.committed, r.log.lastIndex()], [5, 5, 6, 6]);
    assert.deepEqual(r.snapshot?.meta, { index: 5, term: 1, conf: bootstrapConf([1, 2, 3]) });
    c.heartbeat(1);
    assert.deepEqual(c.appliedIndices(3), [6]);
    assert.equal(r.leader, 1);
  });

  test('an unanswered chunk is sent again after an election timeout', () => {
    const { c } = laggingFollower();
    let droppedOne = false;
    c.drop((m) => {
      if (m.type === MessageType.Snap && !droppedOne) return (droppedOne = true);
      return false;
    });
    c.heartbeat(1);
    const snaps = () => ofType(c.sent, MessageType.Snap).filter((m) => m.to === 3);
    assert.equal(snaps().length, 1);
    assert.equal(c.get(1).progressOf(3)!.state, 'snapshot');
    for (let i = 0; i < 9; i++) c.heartbeat(1);
    assert.equal(snaps().length, 1, 'no retransmission before electionTicks ticks');
    c.heartbeat(1);
    assert.deepEqual(
      snaps().map((m) => m.offset),
      [0, 0, 4, 8],
    );
    assert.equal(c.get(3).log.snapIndex, 5);
  });

  test('a leader that compacts again during a transfer restarts it with the newer snapshot', () => {
    const { c } = laggingFollower();
    const leader = c.get(1);
    // Heartbeat round: node 3 answers, the leader sends chunk 0 of snapshot 5, node 3 acknowledges 4 bytes.
    leader.tick();
    for (let i = 0; i < 3; i++) {
      c.flushAll();
      c.deliverAll();
    }
    c.flush(3);
    const held = c.queue.filter((m) => m.from === 3);
    assert.deepEqual(
      ofType(held, MessageType.SnapResp).map((m) => [m.snapIndex, m.offset, m.done]),
      [[5, 4, false]],
    );
    c.queue = c.queue.filter((m) => m.from !== 3);

    // Meanwhile the leader commits and applies index 6 with node 2, and compacts there.
    c.isolate(3);
    c.propose(1, 'e');
    c.stabilize();
    assert.equal(leader.log.applied, 6);
    const six = bytes('snapshot-six');
    leader.compact(6, six);
    c.stabilize();
    c.heal();

    c.queue.push(...held);
    c.stabilize();
    const chunks = ofType(c.sent, MessageType.Snap).filter((m) => m.to === 3);
    assert.deepEqual(
      chunks.map((m) => [m.meta.index, m.offset, m.data.length]),
      [
        [5, 0, 4],
        [6, 0, 4],
        [6, 4, 4],
        [6, 8, 4],
      ],
    );
    assert.deepEqual(c.appliedSnapshots.get(3), [{ meta: { index: 6, term: 1, conf: bootstrapConf([1, 2, 3]) }, data: six }]);
    assert.deepEqual([c.get(3).log.snapIndex, c.get(3).log.committed], [6, 6]);
    assert.equal(leader.progressOf(3)!.match, 6);
  });

  test('duplicated, out-of-order and oversized chunks do not corrupt the reassembled snapshot', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 1 });
    const meta = { index: 5, term: 1 };
    const data = seqBytes(10);
    const chunk = (offset: number, length: number) => snap(1, 2, 1, meta, data, offset, length);
    const oversized: SnapMsg = { ...chunk(4, 4), data: new Uint8Array(7).fill(99) };
    const steps: Array<[string, SnapMsg, number, boolean]> = [
      ['first', chunk(0, 4), 4, false],
      ['first again', chunk(0, 4), 4, false],
      ['third, too early', chunk(8, 2), 4, false],
      ['oversized second', oversized, 4, false],
      ['second', chunk(4, 4), 8, false],
      ['second again', chunk(4, 4), 8, false],
      ['first, late', chunk(0, 4), 8, false],
      ['third', chunk(8, 2), 10, true],
    ];
    for (const [name, m, offset, done] of steps) {
      assert.deepEqual(r.step(m), snapResp(2, 1, 1, { snapIndex: 5, offset, done, index: done ? 5 : 0 }), name);
    }
    const rd = drain(r);
    assert.deepEqual(rd.applySnapshot, { meta, data });
    assert.deepEqual(rd.snapshot, { meta, data });
    assert.equal(rd.mustSync, true);
    assert.deepEqual([r.log.snapIndex, r.log.committed, r.log.applied], [5, 5, 5]);

    // A duplicate of the last chunk after installation is acknowledged without installing again.
    assert.deepEqual(r.step(chunk(8, 2)), snapResp(2, 1, 1, { snapIndex: 5, offset: 10, done: true, index: 5 }));
    const rd2 = drain(r);
    assert.equal(rd2.applySnapshot, undefined);
    assert.equal(rd2.snapshot, undefined);
  });

  test('a chunk of a transfer the follower does not know asks the leader to start over', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 1 });
    const data = seqBytes(10);
    assert.deepEqual(r.step(snap(1, 2, 1, { index: 5, term: 1 }, data, 4, 4)), snapResp(2, 1, 1, { snapIndex: 5, offset: 0, done: false, index: 0 }));
  });

  test('a newer snapshot starting at offset 0 replaces a partial transfer', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 1 });
    const a = seqBytes(10);
    const b = bytes('BBBBBBBB');
    const metaA = { index: 5, term: 1 };
    const metaB = { index: 7, term: 1 };
    assert.equal((r.step(snap(1, 2, 1, metaA, a, 0, 4)) as { offset: number }).offset, 4);
    assert.deepEqual(r.step(snap(1, 2, 1, metaB, b, 0, 4)), snapResp(2, 1, 1, { snapIndex: 7, offset: 4, done: false, index: 0 }));
    // The rest of A no longer fits the transfer in progress.
    assert.deepEqual(r.step(snap(1, 2, 1, metaA, a, 4, 4)), snapResp(2, 1, 1, { snapIndex: 5, offset: 0, done: false, index: 0 }));
    assert.deepEqual(r.step(snap(1, 2, 1, metaB, b, 4, 4)), snapResp(2, 1, 1, { snapIndex: 7, offset: 8, done: true, index: 7 }));
    assert.deepEqual(drain(r).applySnapshot, { meta: metaB, data: b });
  });

  test('installing over a longer conflicting log replaces the whole log', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 3, commit: 1, entries: ents([1, 1, 2, 2, 2, 2]) });
    drain(r);
    const data = bytes('state@4');
    const s: Snapshot = { meta: { index: 4, term: 3 }, data };
    assert.deepEqual(r.step(snap(1, 2, 3, s.meta, data, 0, data.length)), snapResp(2, 1, 3, { snapIndex: 4, offset: data.length, done: true, index: 4 }));
    assert.deepEqual([r.log.snapIndex, r.log.snapTerm, r.log.lastIndex(), r.log.lastTerm(), r.log.size()], [4, 3, 4, 3, 0]);
    assert.deepEqual([r.log.committed, r.log.applied], [4, 4]);
    assert.equal(r.log.term(5), undefined);
    assert.deepEqual(r.snapshot, s);
    const rd = drain(r);
    assert.deepEqual(rd.snapshot, s);
    assert.deepEqual(rd.applySnapshot, s);
    assert.deepEqual(rd.committedEntries, []);
    assert.deepEqual(rd.entries, []);
    assert.deepEqual(rd.hardState, { term: 3, vote: null, commit: 4 });
    assert.equal(rd.mustSync, true);
  });

  test('installing a snapshot whose last entry is already in the log keeps the entries after it and just commits', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 3, commit: 1, entries: ents([1, 1, 2, 2, 2, 2]) });
    drain(r);
    const data = bytes('state@4');
    assert.deepEqual(r.step(snap(1, 2, 3, { index: 4, term: 2 }, data, 0, data.length)), snapResp(2, 1, 3, { snapIndex: 4, offset: data.length, done: true, index: 4 }));
    assert.equal(r.log.snapIndex, 0);
    assert.deepEqual(logTerms(r), [1, 1, 2, 2, 2, 2]);
    assert.equal(r.log.committed, 4);
    const rd = drain(r);
    assert.equal(rd.applySnapshot, undefined);
    assert.equal(rd.snapshot, undefined);
    assert.deepEqual(
      rd.committedEntries.map((e) => e.index),
      [2, 3, 4],
    );
  });

  for (const snapIndex of [3, 4]) {
    test(`a snapshot at index ${snapIndex}, at or below the commit index 4, is acknowledged without installing`, () => {
      const r = newRaft(2, [1, 2, 3], {}, { term: 1, commit: 4, entries: ents([1, 1, 1, 1, 1]) });
      drain(r);
      const data = bytes('old');
      assert.deepEqual(
        r.step(snap(1, 2, 1, { index: snapIndex, term: 1 }, data, 0, data.length)),
        snapResp(2, 1, 1, { snapIndex, offset: data.length, done: true, index: 4 }),
      );
      assert.deepEqual([r.log.snapIndex, r.log.lastIndex(), r.log.committed], [0, 5, 4]);
      const rd = drain(r);
      assert.equal(rd.applySnapshot, undefined);
      assert.equal(rd.snapshot, undefined);
    });
  }
});

describe('restart', () => {
  const s: Snapshot = { meta: { index: 5, term: 2 }, data: bytes('sm@5') };

  test('from a snapshot and entries: applied starts at the snapshot, committed entries after it are handed out', () => {
    const r = newRaft(1, [1, 2, 3], {}, { term: 3, vote: 1, commit: 7, snapshot: s, entries: ents([2, 3, 3], 6) });
    assert.deepEqual([r.log.firstIndex(), r.log.lastIndex(), r.log.committed, r.log.applied], [6, 8, 7, 5]);
    assert.deepEqual([r.term, r.vote, r.role], [3, 1, Role.Follower]);
    assert.equal(r.snapshot, s);
    const rd = drain(r);
    assert.deepEqual(
      rd.committedEntries.map((e) => e.index),
      [6, 7],
    );
    assert.equal(rd.applySnapshot, undefined);
    assert.equal(rd.hardState, undefined);
    assert.deepEqual(rd.entries, []);
    // A campaign advertises the last entry after the snapshot.
    assert.deepEqual(makeCandidate(r)[0], vote(1, 2, 4, 8, 3));
  });

  test('a stored commit index below the snapshot is raised to it', () => {
    const r = newRaft(1, [1, 2, 3], {}, { term: 3, commit: 0, snapshot: s, entries: ents([2, 3, 3], 6) });
    assert.deepEqual([r.log.committed, r.log.applied], [5, 5]);
    assert.equal(r.hasReady(), false);
  });

  test('from a snapshot alone: the last index and term are the snapshot position', () => {
    const r = newRaft(1, [1, 2, 3], {}, { term: 2, snapshot: s });
    assert.deepEqual([r.log.lastIndex(), r.log.lastTerm(), r.log.committed, r.log.applied], [5, 2, 5, 5]);
    assert.deepEqual(makeCandidate(r)[0], vote(1, 2, 3, 5, 2));
  });
});
