/**
 * The simulator's watchers and its watch check: a watcher resumes on another
 * node from its last revision + 1 with nothing lost or repeated, accepts a
 * compacted error only when no running node holds its revision, and the check
 * names the first change that differs from the committed history.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeCommand, type KvOp, type Session } from '../../src/kv/commands.js';
import { WatchCompactedError, WatchHistory, type WatchChange } from '../../src/kv/watch-history.js';
import { SimCheckFailure } from '../../src/sim/safety.js';
import { Scheduler } from '../../src/sim/scheduler.js';
import { SimWatcher, checkWatchStream, replayChanges, type WatchEnv, type WatchSource } from '../../src/sim/watchers.js';
import { SeededRandom } from '../../src/util/random.js';

const put = (key: string, value: string, revision: number, createRevision = revision): WatchChange => ({ type: 'put', key, value, revision, createRevision });
const del = (key: string, revision: number): WatchChange => ({ type: 'delete', key, revision });

/** A fake node: a history fed by hand, an applied index, an incarnation. */
class Node implements WatchSource {
  incarnation = 1;
  paused = false;
  applied = 0;
  history: WatchHistory;
  constructor(
    readonly id: number,
    maxRevisions = 1000,
  ) {
    this.history = new WatchHistory({ maxRevisions });
  }
  apply(index: number, ...changes: WatchChange[]): void {
    for (const c of changes) this.history.record(c);
    this.applied = index;
  }
}

function envOf(up: () => Node[]): WatchEnv {
  return { clock: new Scheduler(), sources: up, trace: undefined };
}

const plan = (prefix: string, batch: number) => ({ prefix, pollMs: 10, batch, dropProbability: 0 });

/** Ten revisions: puts of a0/a1 and b, a delete of a0 at 7. */
const CHANGES: WatchChange[] = [put('a0', 'x', 1), put('b', 'y', 2), put('a1', 'z', 3), put('a0', 'x2', 4, 1), put('b', 'y2', 5, 2), put('a1', 'z2', 6, 3), del('a0', 7), put('b', 'y3', 8, 2), put('a0', 'w', 9), put('a1', 'z3', 10, 3)];

/** Nodes 0 and 1, each having applied every change of CHANGES. */
function twoNodesWithChanges(): [Node, Node] {
  const nodes: [Node, Node] = [new Node(0), new Node(1)];
  for (const c of CHANGES) for (const n of nodes) n.apply(c.revision, c);
  return nodes;
}

/** Pulls until the watcher has seen everything its node applied (at most `max` pulls). */
function drain(w: SimWatcher, upTo: number, max = 50): void {
  for (let i = 0; i < max && w.caughtUpTo < upTo; i++) w.pull();
}

test('a watcher resumes on another node from its last revision + 1 after a crash and a restart: nothing lost, nothing repeated', () => {
  const [n0, n1] = twoNodesWithChanges();
  let up = [n0];
  // A batch is two changes examined (under the prefix or not).
  const w = new SimWatcher('w', 2, plan('a', 2), envOf(() => up), new SeededRandom(1), undefined);
  w.pull();
  assert.equal(w.attachedTo, 0);
  assert.deepEqual(w.received.map((c) => c.revision), [3]);
  w.pull();
  assert.deepEqual(w.received.map((c) => c.revision), [3, 4]);
  // Node 0 crashes: the watcher moves to node 1 and asks for revision 5.
  up = [n1];
  w.pull();
  assert.equal(w.attachedTo, 1);
  assert.equal(w.moves, 1);
  assert.equal(w.cursor, 7);
  assert.deepEqual(w.received.map((c) => c.revision), [3, 4, 6]);
  // Node 1 restarts (a new process; the same history here): the stream is reopened at revision 7, not continued.
  n1.incarnation++;
  drain(w, 10);
  assert.equal(w.moves, 2);
  assert.deepEqual(w.received, CHANGES.filter((c) => c.revision >= 2 && c.key.startsWith('a')));
  assert.equal(w.caughtUpTo, 10);
  checkWatchStream(w, CHANGES);
});

test('a watcher that has read everything its node applied resumes after it (a progress event), not from its last change', () => {
  const [n0, n1] = twoNodesWithChanges();
  let up = [n0];
  const w = new SimWatcher('w', 1, plan('a1', 100), envOf(() => up), new SeededRandom(1), undefined);
  w.pull();
  assert.deepEqual(w.received.map((c) => c.revision), [3, 6, 10]);
  n0.apply(14);
  w.pull();
  assert.equal(w.cursor, 15);
  up = [n1];
  w.pull();
  assert.equal(w.moves, 1);
  assert.equal(w.caughtUpTo, 14, 'node 1 has applied only 10: the watcher waits there for 15');
  n1.apply(15, put('a1', 'late', 15, 3));
  w.pull();
  assert.deepEqual(w.received.map((c) => c.revision), [3, 6, 10, 15]);
});

test('a pull never ends inside a revision: a resumption from the last revision + 1 would skip the rest of it', () => {
  const n = new Node(0);
  n.apply(1, put('a', '1', 1), put('b', '1', 1), put('c', '1', 1));
  n.apply(2, put('a', '2', 2, 1));
  const w = new SimWatcher('w', 1, plan('', 1), envOf(() => [n]), new SeededRandom(1), undefined);
  w.pull();
  assert.deepEqual(w.received.map((c) => `${c.key}@${c.revision}`), ['a@1', 'b@1', 'c@1']);
  w.pull();
  assert.deepEqual(w.received.map((c) => `${c.key}@${c.revision}`), ['a@1', 'b@1', 'c@1', 'a@2']);
});

test('a paused node delivers nothing; a node far behind delivers from the cursor as it catches up', () => {
  const ahead = new Node(0);
  const behind = new Node(1);
  for (const c of CHANGES) ahead.apply(c.revision, c);
  for (const c of CHANGES.slice(0, 4)) behind.apply(c.revision, c);
  let up = [ahead];
  const w = new SimWatcher('w', 1, plan('', 100), envOf(() => up), new SeededRandom(1), undefined);
  ahead.paused = true;
  w.pull();
  assert.deepEqual(w.received, []);
  ahead.paused = false;
  w.pull();
  assert.equal(w.received.length, 10);
  up = [behind];
  w.pull();
  assert.equal(w.received.length, 10, 'nothing new, nothing again');
  behind.apply(11, put('z', 'new', 11));
  w.pull();
  assert.deepEqual(w.received.at(-1), put('z', 'new', 11));
  assert.equal(w.caughtUpTo, 11);
});

test('a compacted error is accepted only when no running node holds the revision; it names the oldest revision held', () => {
  const short = new Node(0, 3);
  const long = new Node(1);
  for (const c of CHANGES) {
    short.apply(c.revision, c);
    long.apply(c.revision, c);
  }
  assert.equal(short.history.oldestRevision, 8);
  let up = [short, long];
  const w = new SimWatcher('w', 2, plan('', 100), envOf(() => up), new SeededRandom(3), undefined);
  for (let i = 0; i < 5; i++) w.pull();
  assert.equal(w.compacted, null);
  assert.equal(w.attachedTo, 1, 'only node 1 holds revision 2');
  assert.equal(w.received.length, 9);

  const late = new SimWatcher('late', 4, plan('', 100), envOf(() => up), new SeededRandom(3), undefined);
  up = [short];
  late.pull();
  late.pull();
  assert.equal(late.compacted, null, 'a node holding it may come back: a watcher is patient for a few pulls');
  late.pull();
  const err = late.compacted as WatchCompactedError | null;
  assert.ok(err instanceof WatchCompactedError);
  assert.equal(err.requested, 4);
  assert.equal(err.oldestRevision, 8);
  assert.deepEqual(late.received, []);
});

test('the canary watch-skips-event steps over one change after the first resumption, and the check names it', () => {
  const [n0, n1] = twoNodesWithChanges();
  let up = [n0];
  const w = new SimWatcher('w', 1, plan('b', 2), envOf(() => up), new SeededRandom(1), 'watch-skips-event');
  w.pull();
  assert.deepEqual(w.received.map((c) => c.revision), [2]);
  up = [n1];
  drain(w, 10);
  assert.equal(w.moves, 1);
  assert.deepEqual(w.received.map((c) => c.revision), [2, 8]);
  assert.throws(
    () => checkWatchStream(w, CHANGES),
    (e: unknown) => e instanceof SimCheckFailure && e.check === 'watch' && /a skipped change at revision 5 \(event 2\): expected put "b"="y2" at revision 5 \(created 2\), got put "b"="y3" at revision 8/.test(e.message),
  );
});

test('the watch check: exact streams pass; a gap, a duplicate, a reordering, a changed value or a change past the end fail at the first difference', () => {
  const stream = (received: WatchChange[], start = 2, caughtUpTo = 10) => ({ name: 'w', prefix: 'a', start, caughtUpTo, received });
  const expected = CHANGES.filter((c) => c.revision >= 2 && c.key.startsWith('a'));
  checkWatchStream(stream(expected), CHANGES);
  checkWatchStream(stream(expected.filter((c) => c.revision <= 6), 2, 6), CHANGES);
  const fails = (received: WatchChange[], re: RegExp, caughtUpTo = 10): void =>
    assert.throws(
      () => checkWatchStream(stream(received, 2, caughtUpTo), CHANGES),
      (e: unknown) => e instanceof SimCheckFailure && e.check === 'watch' && re.test(e.message),
    );
  fails([expected[0]!, ...expected.slice(2)], /a skipped change at revision 4 \(event 2\)/);
  fails([expected[0]!, expected[0]!, ...expected.slice(1)], /at revision 3 \(event 2\): expected put "a0"="x2" at revision 4/);
  fails([expected[1]!, expected[0]!, ...expected.slice(2)], /at revision 3 \(event 1\)/);
  fails([expected[0]!, { ...expected[1]!, value: 'other' } as WatchChange, ...expected.slice(2)], /a different change at revision 4 \(event 2\)/);
  fails(expected.slice(0, -1), /a missing change at revision 10/);
  fails(expected, /an extra change at revision 9/, 8);
});

test('the reference history comes from a replay of the committed commands: swaps, no-op deletes, duplicate sessions, re-creations, gaps for configuration entries', () => {
  const cmd = (c: KvOp & { session: Session }): Uint8Array => encodeCommand({ ...c, time: 1 });
  const s = (seq: number) => ({ clientId: 'c', seq });
  const commands = new Map<number, { command: Uint8Array; term: number }>([
    [1, { command: cmd({ op: 'put', key: 'a', value: '1', session: s(1) }), term: 1 }],
    [2, { command: cmd({ op: 'put', key: 'b', value: '2', session: s(2) }), term: 1 }],
    [3, { command: cmd({ op: 'cas', key: 'a', expected: '1', value: '3', session: s(3) }), term: 1 }],
    [4, { command: cmd({ op: 'cas', key: 'a', expected: 'x', value: '4', session: s(4) }), term: 1 }],
    [5, { command: cmd({ op: 'delete', key: 'b', session: s(5) }), term: 1 }],
    [6, { command: cmd({ op: 'delete', key: 'b', session: s(6) }), term: 2 }],
    // A retry of seq 6 that committed again: applied once only.
    [7, { command: cmd({ op: 'put', key: 'b', value: 'retried', session: s(6) }), term: 2 }],
    [8, { command: cmd({ op: 'put', key: 'b', value: '8', session: s(7) }), term: 2 }],
    // Index 9: a configuration entry, never applied to the state machine.
    [10, { command: cmd({ op: 'append', key: 'a', value: '+', session: s(8) }), term: 3 }],
  ]);
  assert.deepEqual(replayChanges(commands), [put('a', '1', 1), put('b', '2', 2), put('a', '3', 3, 1), del('b', 5), put('b', '8', 8), put('a', '3+', 10, 1)]);
});
