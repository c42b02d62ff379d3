// Direct tests of RaftLog: term lookups, conflict search, follower appends, compaction and restore.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftInvariantError } from '../../src/core/errors.js';
import { RaftLog, entrySize } from '../../src/core/log.js';
import type { Entry } from '../../src/core/types.js';
import { bytes, entry, ents } from './helpers.js';

/** A log with the given terms from index 1 (or after a snapshot). */
function mkLog(terms: number[], opts: { snap?: { index: number; term: number }; committed?: number } = {}): RaftLog {
  const s = opts.snap ?? { index: 0, term: 0 };
  return new RaftLog(s, ents(terms, s.index + 1), opts.committed ?? 0);
}

function terms(log: RaftLog): number[] {
  const out: number[] = [];
  for (let i = log.firstIndex(); i <= log.lastIndex(); i++) out.push(log.term(i)!);
  return out;
}

const idx = (es: readonly Entry[]) => es.map((e) => e.index);

describe('RaftLog positions and terms', () => {
  test('an empty log: index 0 of term 0 is the sentinel', () => {
    const log = mkLog([]);
    assert.deepEqual([log.firstIndex(), log.lastIndex(), log.lastTerm(), log.term(0), log.term(1)], [1, 0, 0, 0, undefined]);
    assert.equal(log.matchTerm(0, 0), true);
  });

  test('term lookups after a snapshot: compacted indices are unknown, the snapshot index is known', () => {
    const log = mkLog([2, 3, 3], { snap: { index: 3, term: 2 } });
    assert.deepEqual([log.firstIndex(), log.lastIndex(), log.lastTerm()], [4, 6, 3]);
    assert.deepEqual(
      [0, 2, 3, 4, 5, 6, 7].map((i) => log.term(i)),
      [undefined, undefined, 2, 2, 3, 3, undefined],
    );
    assert.equal(log.entryAt(3), undefined);
    assert.equal(log.entryAt(4)!.index, 4);
    assert.equal(log.matchTerm(3, 2), true);
    assert.equal(log.matchTerm(5, 2), false);
  });

  test('a snapshot with no entries after it: last index and term are the snapshot', () => {
    const log = mkLog([], { snap: { index: 9, term: 4 } });
    assert.deepEqual([log.firstIndex(), log.lastIndex(), log.lastTerm(), log.committed, log.applied], [10, 9, 4, 9, 9]);
  });

  test('the constructor rejects non-contiguous entries and clamps the commit index', () => {
    assert.throws(() => new RaftLog({ index: 0, term: 0 }, [entry(1, 1), entry(3, 1)], 0), RaftInvariantError);
    assert.throws(() => new RaftLog({ index: 2, term: 1 }, [entry(2, 1)], 0), RaftInvariantError);
    assert.equal(mkLog([1, 1], { committed: 9 }).committed, 2);
    assert.equal(mkLog([1], { snap: { index: 4, term: 1 }, committed: 1 }).committed, 4);
    const log = mkLog([1, 1, 2]);
    assert.deepEqual([log.persisted, log.unstableFrom, log.applied], [3, 4, 0]);
    assert.deepEqual(log.unstable(), []);
  });

  const upToDate: Array<[number, number, boolean]> = [
    [5, 3, true],
    [9, 3, true],
    [4, 3, false],
    [1, 4, true],
    [9, 2, false],
  ];
  for (const [index, term, want] of upToDate) {
    test(`isUpToDate(${index}, ${term}) against a log ending at 5@3 is ${want}`, () => {
      assert.equal(mkLog([1, 1, 2, 2, 3]).isUpToDate(index, term), want);
    });
  }
});

describe('RaftLog term search', () => {
  // index:  1 2 3 4 5 6 7
  // term:   1 1 3 3 3 5 5
  const plain = () => mkLog([1, 1, 3, 3, 3, 5, 5]);
  const lastOf: Array<[number, number, number | undefined]> = [
    [1, 7, 2],
    [3, 7, 5],
    [3, 4, 4],
    [3, 2, undefined],
    [5, 7, 7],
    [5, 5, undefined],
    [2, 7, undefined],
    [4, 7, undefined],
    [6, 7, undefined],
    [3, 99, 5],
  ];
  for (const [term, atMost, want] of lastOf) {
    test(`lastIndexOfTerm(${term}, ${atMost}) on [1,1,3,3,3,5,5] = ${want}`, () => {
      assert.equal(plain().lastIndexOfTerm(term, atMost), want);
    });
  }

  // snapshot at 3@2, then index 4@2, 5@4
  const snapped = () => mkLog([2, 4], { snap: { index: 3, term: 2 } });
  const lastOfSnapped: Array<[number, number, number | undefined]> = [
    [2, 5, 4],
    [2, 3, 3],
    [4, 5, 5],
    [1, 5, undefined], // older than the snapshot: unknown
    [3, 5, undefined],
    [2, 2, undefined], // atMost below the snapshot
  ];
  for (const [term, atMost, want] of lastOfSnapped) {
    test(`lastIndexOfTerm(${term}, ${atMost}) after snapshot 3@2 on [4@2,5@4] = ${want}`, () => {
      assert.equal(snapped().lastIndexOfTerm(term, atMost), want);
    });
  }

  const firstAt: Array<[number, number]> = [
    [1, 1],
    [2, 1],
    [3, 3],
    [5, 3],
    [6, 6],
    [7, 6],
  ];
  for (const [at, want] of firstAt) {
    test(`firstIndexOfTermAt(${at}) on [1,1,3,3,3,5,5] = ${want}`, () => {
      assert.equal(plain().firstIndexOfTermAt(at), want);
    });
  }

  test('firstIndexOfTermAt stops at the first index after the snapshot', () => {
    const log = mkLog([2, 2, 4], { snap: { index: 3, term: 2 } });
    assert.equal(log.firstIndexOfTermAt(5), 4);
    assert.equal(log.firstIndexOfTermAt(4), 4);
    assert.equal(log.firstIndexOfTermAt(6), 6);
    assert.throws(() => log.firstIndexOfTermAt(7), RaftInvariantError);
  });
});

describe('RaftLog slices and appends', () => {
  test('slice honours maxEntries and maxBytes but always returns at least one entry', () => {
    const log = new RaftLog({ index: 0, term: 0 }, [1, 2, 3, 4, 5].map((i) => entry(i, 1, new Uint8Array(10))), 0);
    assert.equal(entrySize(log.entryAt(1)!), 26);
    assert.deepEqual(idx(log.slice(1, 6)), [1, 2, 3, 4, 5]);
    assert.deepEqual(idx(log.slice(2, 4)), [2, 3]);
    assert.deepEqual(idx(log.slice(1, 99)), [1, 2, 3, 4, 5]);
    assert.deepEqual(idx(log.slice(1, 6, 2)), [1, 2]);
    assert.deepEqual(idx(log.slice(1, 6, Infinity, 52)), [1, 2]);
    assert.deepEqual(idx(log.slice(1, 6, Infinity, 51)), [1]);
    assert.deepEqual(idx(log.slice(3, 6, Infinity, 1)), [3]);
    assert.deepEqual(idx(log.slice(6, 9)), []);
    const snapped = mkLog([1], { snap: { index: 2, term: 1 } });
    assert.throws(() => snapped.slice(2, 4), RaftInvariantError);
  });

  test('append continues the log exactly or throws', () => {
    const log = mkLog([1]);
    log.append([entry(2, 1), entry(3, 2)]);
    assert.deepEqual(terms(log), [1, 1, 2]);
    assert.deepEqual(idx(log.unstable()), [2, 3]);
    assert.throws(() => log.append([entry(5, 2)]), RaftInvariantError);
  });

  test('appendFromLeader adds entries past the end', () => {
    const log = mkLog([1, 1]);
    assert.equal(log.appendFromLeader(2, ents([2, 2], 3)), 4);
    assert.deepEqual(terms(log), [1, 1, 2, 2]);
    assert.deepEqual(idx(log.unstable()), [3, 4]);
  });

  test('appendFromLeader truncates at the first conflict, dropping everything after it', () => {
    const log = mkLog([1, 1, 1, 1]);
    assert.equal(log.appendFromLeader(1, [entry(2, 1), entry(3, 2)]), 3);
    assert.deepEqual(terms(log), [1, 1, 2]);
    assert.equal(log.persisted, 2, 'durable state was cut at the conflict');
    assert.equal(log.unstableFrom, 3);
    assert.deepEqual(idx(log.unstable()), [3]);
  });

  test('appendFromLeader leaves a log that already matches untouched, even if it is longer', () => {
    const log = mkLog([1, 1, 2, 2]);
    assert.equal(log.appendFromLeader(1, [entry(2, 1), entry(3, 2)]), 3);
    assert.deepEqual(terms(log), [1, 1, 2, 2]);
    assert.deepEqual(log.unstable(), []);
    assert.equal(log.appendFromLeader(4, []), 4);
  });

  test('appendFromLeader skips entries covered by the snapshot', () => {
    const log = mkLog([2], { snap: { index: 3, term: 2 } });
    assert.equal(log.appendFromLeader(1, [entry(2, 1), entry(3, 2), entry(4, 2), entry(5, 3)]), 5);
    assert.deepEqual(terms(log), [2, 3]);
    assert.equal(log.snapIndex, 3);
  });

  test('appendFromLeader refuses to truncate a committed entry', () => {
    const log = mkLog([1, 1, 1], { committed: 2 });
    assert.throws(() => log.appendFromLeader(1, [entry(2, 5)]), RaftInvariantError);
  });

  test('commitTo only moves forward and never past the last index', () => {
    const log = mkLog([1, 1, 1]);
    assert.equal(log.commitTo(2), true);
    assert.equal(log.commitTo(1), false);
    assert.equal(log.committed, 2);
    assert.throws(() => log.commitTo(4), RaftInvariantError);
  });

  test('nextToApply hands out committed entries after applied, at most max', () => {
    const log = mkLog([1, 1, 1, 1, 1], { committed: 4 });
    assert.deepEqual(idx(log.nextToApply(2)), [1, 2]);
    log.appliedTo(2);
    assert.deepEqual(idx(log.nextToApply(Infinity)), [3, 4]);
    log.appliedTo(4);
    assert.deepEqual(log.nextToApply(Infinity), []);
  });

  test('appliedTo never moves back and never passes the commit index', () => {
    const log = mkLog([1, 1, 1, 1], { committed: 3 });
    log.appliedTo(3);
    log.appliedTo(1);
    assert.equal(log.applied, 3, 'a stale acknowledgement does not move applied back');
    assert.throws(() => log.appliedTo(4), RaftInvariantError, 'index 4 is not committed');
    assert.equal(log.applied, 3);
  });

  test('stableTo moves the unstable suffix past what storage was handed, never past the end', () => {
    const log = mkLog([1]);
    log.append(ents([2, 2], 2));
    assert.deepEqual(idx(log.unstable()), [2, 3]);
    log.stableTo(3);
    assert.equal(log.unstableFrom, 4);
    assert.deepEqual(log.unstable(), []);
    assert.throws(() => log.stableTo(4), RaftInvariantError);
  });

  test('persistedTo marks an entry durable only if the log still holds it with that term', () => {
    const log = mkLog([1, 1]);
    log.appendFromLeader(2, ents([2, 2], 3));
    assert.equal(log.persisted, 2);
    assert.equal(log.persistedTo(4, 1), false, 'entry 4 has term 2: that write was of a replaced entry');
    assert.equal(log.persisted, 2);
    assert.equal(log.persistedTo(4, 2), true);
    assert.equal(log.persisted, 4);
    assert.equal(log.persistedTo(3, 2), true);
    assert.equal(log.persisted, 4, 'never moves back');
    assert.equal(log.persistedTo(9, 2), false, 'beyond the end');
  });
});

describe('RaftLog compaction and restore', () => {
  test('compact drops entries up to an applied index and remembers its term', () => {
    const log = mkLog([1, 1, 2, 2, 3], { committed: 5 });
    log.appliedTo(4);
    log.compact(3);
    assert.deepEqual([log.snapIndex, log.snapTerm, log.firstIndex(), log.lastIndex(), log.size()], [3, 2, 4, 5, 2]);
    assert.deepEqual(terms(log), [2, 3]);
    assert.equal(log.term(3), 2);
    assert.equal(log.term(2), undefined);
    log.compact(2); // already compacted: no-op
    assert.equal(log.snapIndex, 3);
    assert.throws(() => log.compact(5), RaftInvariantError, 'index 5 is not applied');
    log.compact(4);
    assert.deepEqual([log.snapIndex, log.snapTerm, log.size()], [4, 2, 1]);
  });

  test('restore replaces the log by a snapshot position beyond the commit index', () => {
    const log = mkLog([1, 1, 2, 2, 3], { committed: 2 });
    log.restore({ index: 7, term: 4 });
    assert.deepEqual(
      [log.snapIndex, log.snapTerm, log.firstIndex(), log.lastIndex(), log.lastTerm(), log.size()],
      [7, 4, 8, 7, 4, 0],
    );
    assert.deepEqual([log.committed, log.applied, log.persisted, log.unstableFrom], [7, 7, 7, 8]);
    assert.deepEqual(log.unstable(), []);
    assert.equal(log.term(5), undefined);
  });

  test('restore at or below the commit index is an invariant error', () => {
    const log = mkLog([1, 1, 2], { committed: 2 });
    assert.throws(() => log.restore({ index: 2, term: 1 }), RaftInvariantError);
  });

  test('entry data is preserved through appends', () => {
    const log = mkLog([]);
    log.append([entry(1, 1, bytes('hello'))]);
    assert.deepEqual(log.entryAt(1)!.data, bytes('hello'));
  });
});
