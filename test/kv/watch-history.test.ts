/** The watch history: what the state machine records, its bounds, and what a restore does to it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeCommand, type KvCommand } from '../../src/kv/commands.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { WatchCompactedError, WatchHistory } from '../../src/kv/watch-history.js';

const cmd = (c: Omit<KvCommand, 'time'> & Record<string, unknown>): Uint8Array => encodeCommand({ time: 1, ...c } as KvCommand);

test('the state machine records every change at its log index: puts, appends, swaps that swap, deletes of keys that exist', () => {
  const h = new WatchHistory();
  const sm = new KvStateMachine({ changes: h });
  let i = 0;
  const apply = (c: Uint8Array): void => void sm.apply(c, { index: ++i, term: 1 });
  apply(cmd({ op: 'put', key: 'a', value: '1' }));
  apply(cmd({ op: 'append', key: 'a', value: '2' }));
  apply(cmd({ op: 'cas', key: 'a', expected: 'no', value: 'x' })); // does not swap
  apply(cmd({ op: 'cas', key: 'b', expected: null, value: 'y' }));
  apply(cmd({ op: 'delete', key: 'none' })); // nothing to delete
  apply(cmd({ op: 'delete', key: 'a' }));
  apply(cmd({ op: 'put', key: 'c', value: 'z', session: { clientId: 'k', seq: 1 } }));
  apply(cmd({ op: 'put', key: 'c', value: 'z', session: { clientId: 'k', seq: 1 } })); // a retry: applies nothing
  assert.deepEqual(h.since(1), [
    { type: 'put', key: 'a', value: '1', revision: 1, createRevision: 1 },
    { type: 'put', key: 'a', value: '12', revision: 2, createRevision: 1 },
    { type: 'put', key: 'b', value: 'y', revision: 4, createRevision: 4 },
    { type: 'delete', key: 'a', revision: 6 },
    { type: 'put', key: 'c', value: 'z', revision: 7, createRevision: 7 },
  ]);
  assert.deepEqual(h.since(5).map((c) => c.revision), [6, 7]);
});

test('the history keeps the changes of the last N revisions; older ones throw naming the oldest revision held', () => {
  const h = new WatchHistory({ maxRevisions: 10 });
  for (let r = 1; r <= 30; r += 2) h.record({ type: 'put', key: 'k', value: String(r), revision: r, createRevision: 1 });
  // Newest 29: revisions <= 19 are dropped; the history is complete from 20 on.
  assert.equal(h.oldestRevision, 20);
  assert.deepEqual(h.since(20).map((c) => c.revision), [21, 23, 25, 27, 29]);
  assert.throws(() => h.since(19), (e: unknown) => e instanceof WatchCompactedError && e.oldestRevision === 20 && e.requested === 19 && /oldest revision held is 20\b/.test(e.message));
  assert.deepEqual(h.since(100), []);
});

test('the history is bounded in bytes too: the oldest changes go first, the newest always stays', () => {
  const h = new WatchHistory({ maxRevisions: 1000, maxBytes: 10_000 });
  for (let r = 1; r <= 50; r++) h.record({ type: 'put', key: 'k', value: 'x'.repeat(1000), revision: r, createRevision: 1 });
  assert.ok(h.length <= 10 && h.length >= 5, String(h.length));
  assert.equal(h.oldestRevision, 50 - h.length + 1);
  h.record({ type: 'put', key: 'k', value: 'y'.repeat(50_000), revision: 51, createRevision: 1 });
  assert.equal(h.length, 1);
  assert.equal(h.oldestRevision, 51);
});

test('a restore (a snapshot installed, or a restart) empties the history: it starts after the snapshot\'s index', () => {
  const h = new WatchHistory();
  const sm = new KvStateMachine({ changes: h });
  for (let i = 1; i <= 5; i++) sm.apply(cmd({ op: 'put', key: `k${i}`, value: 'v' }), { index: i, term: 1 });
  const snap = sm.snapshot();
  const h2 = new WatchHistory();
  const other = new KvStateMachine({ changes: h2 });
  other.apply(cmd({ op: 'put', key: 'old', value: 'v' }), { index: 1, term: 1 });
  other.restore(snap, { index: 5, term: 1 });
  assert.equal(h2.oldestRevision, 6);
  assert.equal(h2.length, 0);
  assert.throws(() => h2.since(5), WatchCompactedError);
  other.apply(cmd({ op: 'put', key: 'k6', value: 'v' }), { index: 6, term: 1 });
  assert.deepEqual(h2.since(6).map((c) => c.key), ['k6']);
});
