// Direct tests of ReadOnly, the leader's ReadIndex queue (dissertation §6.4).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MajorityConfig } from '../../src/core/quorum.js';
import { ReadOnly } from '../../src/core/read-only.js';

const quorum = new MajorityConfig([1, 2, 3]);
const mk = () => new ReadOnly(1, () => quorum);

test('reads queued between rounds share the next round; a majority answer releases them in order', () => {
  const ro = mk();
  ro.add(10, 1, 5);
  ro.add(11, 3, 5);
  ro.add(12, 1, 6);
  assert.equal(ro.hasWork(), true);
  assert.equal(ro.takeRoundNeeded(), true);
  assert.equal(ro.takeRoundNeeded(), false, 'taken once');
  ro.startRound();
  assert.equal(ro.round, 1);
  assert.deepEqual(ro.release(), [], 'the leader alone is no majority of three');
  assert.deepEqual(ro.ack(2, 1), [{ to: 3, ctx: 11, index: 5 }]);
  assert.deepEqual(ro.takeReadStates(), [
    { ctx: 10, index: 5 },
    { ctx: 12, index: 6 },
  ]);
  assert.deepEqual(ro.takeReadStates(), []);
});

test('an answer confirms only reads of its round or before', () => {
  const ro = mk();
  ro.add(1, 1, 3);
  ro.takeRoundNeeded();
  ro.startRound();
  ro.add(2, 1, 4);
  ro.takeRoundNeeded();
  ro.startRound();
  ro.add(3, 1, 4); // no round yet
  ro.ack(2, 1);
  assert.deepEqual(ro.takeReadStates(), [{ ctx: 1, index: 3 }]);
  ro.ack(3, 2);
  assert.deepEqual(ro.takeReadStates(), [{ ctx: 2, index: 4 }], 'read 3 waits for a round of its own');
});

test('reads awaiting the first commit take the commit index; drop fails ours and refuses followers’, in arrival order', () => {
  const ro = mk();
  ro.awaitCommit(1, 2);
  ro.awaitCommit(2, 1);
  assert.equal(ro.hasWork(), false, 'nothing to do until the commit');
  ro.committedTo(9);
  assert.equal(ro.takeRoundNeeded(), true);
  ro.startRound();
  ro.add(3, 3, 9);
  ro.awaitCommit(4, 2);
  assert.deepEqual(ro.drop(), [
    { to: 2, ctx: 4, index: -1 },
    { to: 2, ctx: 1, index: -1 },
    { to: 3, ctx: 3, index: -1 },
  ]);
  assert.deepEqual(ro.takeFailedReads(), [2]);
  assert.equal(ro.hasWork(), false);
});

test('answers from the leader become read states or failed reads', () => {
  const ro = mk();
  ro.answered(5, 7);
  ro.answered(6, -1);
  assert.equal(ro.hasWork(), true);
  assert.deepEqual(ro.takeReadStates(), [{ ctx: 5, index: 7 }]);
  assert.deepEqual(ro.takeFailedReads(), [6]);
});
