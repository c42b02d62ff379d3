// Direct tests of the leader's per-follower flow control: Inflights and Progress.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Inflights } from '../../src/core/inflights.js';
import { Progress } from '../../src/core/progress.js';

describe('Inflights', () => {
  test('fills to capacity, frees by acknowledged index, wraps around', () => {
    const f = new Inflights(3);
    f.add(1);
    f.add(2);
    assert.deepEqual([f.count, f.full()], [2, false]);
    f.add(3);
    assert.deepEqual([f.count, f.full()], [3, true]);
    assert.throws(() => f.add(4), RangeError);
    f.freeLE(2);
    assert.deepEqual([f.count, f.full()], [1, false]);
    f.add(5);
    f.add(6); // wraps around the ring buffer
    assert.deepEqual([f.count, f.full()], [3, true]);
    f.freeLE(4); // frees 3 only
    assert.equal(f.count, 2);
    f.freeLE(4); // idempotent
    assert.equal(f.count, 2);
    f.freeFirstOne(); // frees 5
    assert.equal(f.count, 1);
    f.freeLE(5); // 6 is still out
    assert.equal(f.count, 1);
    f.freeLE(100);
    assert.equal(f.count, 0);
    f.freeFirstOne(); // on empty: no-op
    assert.equal(f.count, 0);
  });

  test('reset empties it; capacity must be positive', () => {
    const f = new Inflights(2);
    f.add(1);
    f.add(2);
    f.reset();
    assert.deepEqual([f.count, f.full()], [0, false]);
    f.add(7);
    f.freeLE(6);
    assert.equal(f.count, 1);
    assert.throws(() => new Inflights(0), RangeError);
  });
});

describe('Progress', () => {
  test('starts probing at the given next index; one probe at a time', () => {
    const p = new Progress(5, 2);
    assert.deepEqual([p.state, p.next, p.match, p.isPaused()], ['probe', 5, 0, false]);
    p.sentEntries(6, 2);
    assert.deepEqual([p.next, p.isPaused()], [5, true], 'probe state does not advance next optimistically');
    p.sentEntries(4, 0);
    assert.equal(p.isPaused(), true);
  });

  test('maybeUpdate records new matches, ignores old ones and unpauses a probe', () => {
    const p = new Progress(5, 2);
    p.sentEntries(6, 2);
    assert.equal(p.maybeUpdate(6), true);
    assert.deepEqual([p.match, p.next, p.isPaused()], [6, 7, false]);
    assert.equal(p.maybeUpdate(4), false);
    assert.deepEqual([p.match, p.next], [6, 7]);
  });

  test('in replicate state appends advance next and fill the window; empty appends take no slot', () => {
    const p = new Progress(5, 2);
    p.maybeUpdate(6);
    p.becomeReplicate();
    assert.deepEqual([p.state, p.next, p.inflights.count], ['replicate', 7, 0]);
    p.sentEntries(9, 3);
    assert.deepEqual([p.next, p.inflights.count, p.isPaused()], [10, 1, false]);
    p.sentEntries(9, 0);
    assert.deepEqual([p.next, p.inflights.count], [10, 1]);
    p.sentEntries(10, 1);
    assert.deepEqual([p.next, p.inflights.count, p.isPaused()], [11, 2, true]);
  });

  test('maybeDecrTo in replicate state: a late rejection at or below match is stale unless the follower says its log ends at or below match', () => {
    const p = new Progress(5, 4);
    p.maybeUpdate(6);
    p.becomeReplicate();
    p.sentEntries(9, 3);
    p.sentEntries(12, 3);
    assert.equal(p.maybeDecrTo(6, 7), 'stale');
    assert.equal(p.maybeDecrTo(5, 9), 'stale');
    assert.deepEqual([p.state, p.next], ['replicate', 13]);
    assert.equal(p.maybeDecrTo(9, 8), 'moved');
    assert.deepEqual([p.state, p.next, p.inflights.count, p.isPaused(), p.match], ['probe', 8, 0, false, 6]);

    // The follower claims its log ends at index 2 although it acknowledged 6: probe right behind match first.
    const q = new Progress(5, 4);
    q.maybeUpdate(6);
    q.becomeReplicate();
    q.sentEntries(9, 3);
    assert.equal(q.maybeDecrTo(6, 3), 'moved');
    assert.deepEqual([q.state, q.next, q.match], ['probe', 7, 6]);
  });

  const probeDecr: Array<[string, number, number, 'stale' | 'moved' | 'lost', number, number]> = [
    // name, rejected prevIndex, hint, outcome, next after, match after
    ['answer to the outstanding probe, hint inside', 9, 8, 'moved', 8, 6],
    ['hint beyond the rejected index is capped at it', 9, 50, 'moved', 9, 6],
    ['hint below match: the follower lost acknowledged entries, match goes down', 9, 2, 'lost', 2, 1],
    ['an empty follower: back to the start', 9, 1, 'lost', 1, 0],
    ['stale rejection of another probe', 7, 3, 'stale', 10, 6],
  ];
  for (const [name, rejected, hint, outcome, next, match] of probeDecr) {
    test(`maybeDecrTo in probe state: ${name}`, () => {
      const p = new Progress(10, 4);
      p.match = 6;
      p.sentEntries(10, 1);
      assert.equal(p.maybeDecrTo(rejected, hint), outcome);
      assert.equal(p.next, next);
      assert.equal(p.match, match);
      assert.equal(p.state, 'probe');
      assert.equal(p.isPaused(), outcome === 'stale');
    });
  }

  test('a follower that keeps rejecting is probed at strictly lower indexes: no probe loop', () => {
    const p = new Progress(301, 4);
    p.match = 300;
    p.sentEntries(300, 0);
    let rejected = p.next - 1;
    const seen: number[] = [];
    // The follower's log is empty: every probe is rejected with hint 1 (its last index + 1).
    while (p.maybeDecrTo(rejected, 1) !== 'stale') {
      seen.push(p.next);
      if (p.next === 1) break;
      p.sentEntries(p.next - 1, 0);
      rejected = p.next - 1;
    }
    assert.deepEqual(seen, [1]);
    assert.equal(p.match, 0);
  });

  test('snapshot state: paused, ignores rejections, resumes probing after the snapshot', () => {
    const p = new Progress(3, 4);
    p.maybeUpdate(2);
    p.becomeSnapshot(20);
    assert.deepEqual([p.state, p.pendingSnapshot, p.isPaused(), p.snapshotOffset], ['snapshot', 20, true, 0]);
    assert.equal(p.maybeDecrTo(5, 1), 'stale');
    // Even if the follower's match stays below the snapshot, probing resumes after it.
    p.becomeProbe();
    assert.deepEqual([p.state, p.next, p.pendingSnapshot, p.isPaused()], ['probe', 21, 0, false]);

    const q = new Progress(3, 4);
    q.becomeSnapshot(20);
    q.maybeUpdate(25);
    q.becomeProbe();
    assert.equal(q.next, 26);
  });

  test('becomeProbe from replicate resumes right after match; transitions reset the window', () => {
    const p = new Progress(1, 2);
    p.maybeUpdate(4);
    p.becomeReplicate();
    p.sentEntries(6, 2);
    p.sentEntries(8, 2);
    assert.equal(p.isPaused(), true);
    p.becomeProbe();
    assert.deepEqual([p.state, p.next, p.inflights.count, p.isPaused()], ['probe', 5, 0, false]);
  });

  test('appendAcked: a probe that finds the match starts replicating; replicate frees the window up to the ack', () => {
    const p = new Progress(5, 3);
    p.sentEntries(4, 0);
    assert.equal(p.appendAcked(4), true);
    assert.deepEqual([p.state, p.match, p.next], ['replicate', 4, 5]);
    p.sentEntries(6, 2);
    p.sentEntries(7, 1);
    assert.equal(p.inflights.count, 2);
    assert.equal(p.appendAcked(6), true);
    assert.deepEqual([p.match, p.inflights.count], [6, 1]);
    assert.equal(p.appendAcked(5), false, 'an old acknowledgement tells nothing new');
    assert.deepEqual([p.state, p.match, p.inflights.count], ['replicate', 6, 1]);
  });

  test('appendAcked: a probe answered at its match (nothing new) still starts replicating', () => {
    const p = new Progress(5, 3);
    p.maybeUpdate(4);
    p.sentEntries(4, 0);
    assert.equal(p.appendAcked(4), false);
    assert.equal(p.state, 'replicate');
  });

  test('appendAcked: a follower caught up past the pending snapshot goes back to probing after it', () => {
    const p = new Progress(1, 3);
    p.becomeSnapshot(10);
    assert.equal(p.appendAcked(8), true);
    assert.equal(p.state, 'snapshot', 'still short of the snapshot');
    assert.equal(p.appendAcked(12), true);
    assert.deepEqual([p.state, p.next], ['probe', 13]);
  });

  test('heartbeatAnswered unpauses a probe and frees one slot of a full window, nothing else', () => {
    const probe = new Progress(3, 2);
    probe.sentEntries(2, 0);
    assert.equal(probe.isPaused(), true);
    probe.heartbeatAnswered();
    assert.equal(probe.isPaused(), false);

    const rep = new Progress(1, 2);
    rep.becomeReplicate();
    rep.sentEntries(1, 1);
    rep.heartbeatAnswered();
    assert.equal(rep.inflights.count, 1, 'a window with room is left alone');
    rep.sentEntries(2, 1);
    assert.equal(rep.isPaused(), true);
    rep.heartbeatAnswered();
    assert.deepEqual([rep.inflights.count, rep.isPaused()], [1, false]);

    const snap = new Progress(1, 2);
    snap.becomeSnapshot(5);
    snap.heartbeatAnswered();
    assert.equal(snap.isPaused(), true, 'a snapshot transfer stays paused');
  });
});
