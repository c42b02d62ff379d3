import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvInputError, encodeCommand, validateOp, validateSession, type KvCommand, type KvOp, type KvResult, type Session } from '../../src/kv/commands.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { encode } from '../../src/util/codec.js';
import { KvService } from '../../src/kv/service.js';
import type { Replica } from '../../src/node/replica.js';

let index = 0;
function apply(sm: KvStateMachine, c: KvOp & { session?: Session; time?: number }): KvResult {
  return sm.apply(encodeCommand({ time: 0, ...c } as KvCommand), { index: ++index, term: 1 });
}

test('put, append, delete and cas, with revisions', () => {
  index = 0;
  const sm = new KvStateMachine();
  assert.deepEqual(apply(sm, { op: 'put', key: 'a', value: '1' }), { ok: true, op: 'put', revision: 1 });
  assert.deepEqual(apply(sm, { op: 'append', key: 'a', value: '2' }), { ok: true, op: 'append', revision: 2 });
  assert.deepEqual(sm.get('a'), { key: 'a', value: '12', revision: 2, createRevision: 1 });
  assert.deepEqual(apply(sm, { op: 'append', key: 'new', value: 'x' }), { ok: true, op: 'append', revision: 3 });
  assert.deepEqual(apply(sm, { op: 'cas', key: 'a', expected: 'nope', value: 'z' }), { ok: true, op: 'cas', revision: 2, swapped: false, current: '12' });
  assert.deepEqual(apply(sm, { op: 'cas', key: 'a', expected: '12', value: 'z' }), { ok: true, op: 'cas', revision: 5, swapped: true, current: 'z' });
  assert.deepEqual(apply(sm, { op: 'cas', key: 'absent', expected: null, value: 'made' }), { ok: true, op: 'cas', revision: 6, swapped: true, current: 'made' });
  assert.deepEqual(apply(sm, { op: 'delete', key: 'a' }), { ok: true, op: 'delete', revision: 7, deleted: true });
  assert.deepEqual(apply(sm, { op: 'delete', key: 'a' }), { ok: true, op: 'delete', revision: 8, deleted: false });
  assert.equal(sm.get('a'), null);
  assert.equal(sm.revision, 8);
});

test('prefix scans are ordered and bounded', () => {
  index = 0;
  const sm = new KvStateMachine();
  for (const k of ['b/2', 'a', 'b/1', 'b/10', 'c', 'b']) apply(sm, { op: 'put', key: k, value: k.toUpperCase() });
  assert.deepEqual(
    sm.list('b/').map((i) => i.key),
    ['b/1', 'b/10', 'b/2'],
  );
  assert.deepEqual(
    sm.list('b').map((i) => i.key),
    ['b', 'b/1', 'b/10', 'b/2'],
  );
  assert.deepEqual(
    sm.list('', 2).map((i) => i.key),
    ['a', 'b'],
  );
  assert.deepEqual(sm.list('zzz'), []);
});

test('a retried write applies once and gets its first answer; older and unknown sessions are refused', () => {
  index = 0;
  const sm = new KvStateMachine();
  const s1 = { clientId: 'c1', seq: 1 };
  const first = apply(sm, { op: 'append', key: 'k', value: 'x', session: s1 });
  for (let i = 0; i < 5; i++) assert.deepEqual(apply(sm, { op: 'append', key: 'k', value: 'x', session: s1 }), first);
  assert.equal(sm.get('k')!.value, 'x');
  apply(sm, { op: 'append', key: 'k', value: 'y', session: { clientId: 'c1', seq: 2 } });
  const stale = apply(sm, { op: 'append', key: 'k', value: 'x', session: s1 });
  assert.equal(stale.ok, false);
  assert.equal(!stale.ok && stale.error, 'stale-request');
  const unknown = apply(sm, { op: 'put', key: 'k', value: 'q', session: { clientId: 'ghost', seq: 7 } });
  assert.equal(!unknown.ok && unknown.error, 'session-expired');
  assert.equal(sm.get('k')!.value, 'xy', 'refused writes change nothing');
});

test('sessions expire by the time carried in the log, identically on every replica', () => {
  const run = (): KvStateMachine => {
    index = 0;
    const sm = new KvStateMachine({ sessionTtlMs: 1000 });
    apply(sm, { op: 'put', key: 'k', value: '1', session: { clientId: 'old', seq: 1 }, time: 0 });
    apply(sm, { op: 'put', key: 'k', value: '2', session: { clientId: 'fresh', seq: 1 }, time: 900 });
    apply(sm, { op: 'put', key: 'k', value: '3', time: 1500 });
    return sm;
  };
  const a = run();
  assert.equal(a.sessionCount, 1, 'the session idle for 1500 ms of log time is gone');
  assert.deepEqual(a.snapshot(), run().snapshot(), 'same log, same state, wherever it runs');
  const retry = apply(a, { op: 'put', key: 'k', value: '1', session: { clientId: 'old', seq: 2 }, time: 1600 });
  assert.equal(!retry.ok && retry.error, 'session-expired');
});

test('a snapshot restores data, revisions and sessions exactly', () => {
  index = 0;
  const sm = new KvStateMachine();
  apply(sm, { op: 'put', key: 'x', value: 'X', session: { clientId: 'c', seq: 1 }, time: 5 });
  apply(sm, { op: 'append', key: 'y', value: 'Y' });
  const snap = sm.snapshot();
  const copy = new KvStateMachine();
  copy.restore(snap, { index: 2, term: 1 });
  assert.deepEqual(copy.get('x'), sm.get('x'));
  assert.deepEqual(copy.list(''), sm.list(''));
  assert.equal(copy.revision, 2);
  // The session survived: the retry is recognized on the restored replica too.
  const r = copy.apply(encodeCommand({ op: 'put', key: 'x', value: 'X', session: { clientId: 'c', seq: 1 }, time: 6 }), { index: 3, term: 1 });
  assert.deepEqual(r, { ok: true, op: 'put', revision: 1 });
  assert.deepEqual(copy.snapshot(), (() => {
    sm.apply(encodeCommand({ op: 'put', key: 'x', value: 'X', session: { clientId: 'c', seq: 1 }, time: 6 }), { index: 3, term: 1 });
    return sm.snapshot();
  })());
});

test('bad input gets a clear error and changes nothing', () => {
  assert.throws(() => validateOp({ op: 'put', key: '', value: 'v' }), /key must not be empty/);
  assert.throws(() => validateOp({ op: 'put', key: 'k'.repeat(5000), value: 'v' }), /key is 5000 bytes, more than the limit of 4096/);
  assert.throws(() => validateOp({ op: 'put', key: 'k', value: 'v'.repeat((1 << 20) + 1) }), /value is 1048577 bytes, more than the limit of 1048576/);
  assert.throws(() => validateOp({ op: 'incr', key: 'k' }), /unknown operation "incr"; expected put, append, delete or cas/);
  assert.throws(() => validateOp({ op: 'put', key: 'k', value: 3 }), /value must be a string, got number/);
  assert.throws(() => validateSession({ clientId: '', seq: 1 }), KvInputError);
  assert.throws(() => validateSession({ clientId: 'c', seq: 0 }), /seq must be an integer >= 1/);
  // A damaged or foreign entry in the log is answered with an error, deterministically, and applies nothing.
  index = 0;
  const sm = new KvStateMachine();
  apply(sm, { op: 'put', key: 'k', value: 'v' });
  const before = sm.snapshot();
  const r1 = sm.apply(new Uint8Array([0xc1]), { index: 2, term: 1 });
  assert.equal(!r1.ok && r1.error, 'invalid');
  const r2 = sm.apply(encodeCommand({ op: 'frobnicate', key: 'k', time: 0 } as unknown as KvCommand), { index: 3, term: 1 });
  assert.equal(!r2.ok && r2.error, 'invalid');
  const after = new KvStateMachine();
  after.restore(sm.snapshot(), { index: 3, term: 1 });
  assert.deepEqual(after.list(''), new KvStateMachine().list('').concat([{ key: 'k', value: 'v', revision: 1, createRevision: 1 }]));
  assert.notEqual(before.length, 0);
});

test('the service refuses bad requests before proposing anything', async () => {
  let proposed = 0;
  const fakeReplica = {
    propose: () => {
      proposed++;
      return Promise.reject(new Error('should not be called'));
    },
    read: <T>(fn: () => T) => Promise.resolve(fn()),
  } as unknown as Replica<KvResult>;
  const svc = new KvService(fakeReplica, new KvStateMachine());
  await assert.rejects(svc.put('', 'v'), KvInputError);
  await assert.rejects(svc.put('k', 'v'.repeat((1 << 20) + 1)), KvInputError);
  await assert.rejects(svc.append('k', 'v', { clientId: 'c', seq: -1 }), KvInputError);
  await assert.rejects(svc.get(''), /key must not be empty/);
  assert.equal(proposed, 0);
});

test('an incremental snapshot is of the moment it began, written a chunk at a time; it restores like a whole one', () => {
  index = 0;
  const sm = new KvStateMachine();
  for (let i = 0; i < 5000; i++) apply(sm, { op: 'put', key: `k${String(i).padStart(5, '0')}`, value: `v${i}`, session: { clientId: `c${i % 7}`, seq: Math.floor(i / 7) + 1 } });
  const at = index;
  const whole = sm.snapshot();
  const next = sm.snapshotIncrementally();
  let calls = 0;
  let data: Uint8Array | null = null;
  while (data === null) {
    data = next();
    calls++;
    // The store goes on changing between pieces: none of it may leak into the snapshot.
    apply(sm, { op: 'put', key: `k${String(calls).padStart(5, '0')}`, value: 'changed' });
    apply(sm, { op: 'delete', key: `k${String(4000 + calls).padStart(5, '0')}` });
    apply(sm, { op: 'put', key: `new${calls}`, value: 'late' });
    // Keys the snapshot has not reached yet: their records must be read as they were.
    apply(sm, { op: 'put', key: `k${String(4999 - calls).padStart(5, '0')}`, value: 'overwritten before the snapshot reached it' });
  }
  assert.ok(calls >= 3, `5000 records take several pieces (${calls})`);
  assert.deepEqual(data, whole, 'the same bytes as a whole snapshot taken at the same moment');
  const copy = new KvStateMachine();
  copy.restore(data, { index: at, term: 1 });
  assert.equal(copy.list('').length, 5000);
  assert.equal(copy.get('k00001')?.value, 'v1');
  assert.equal(copy.get('k04001')?.value, 'v4001');
  assert.equal(copy.get('new1'), null);
  assert.equal(copy.get('k04998')?.value, 'v4998');
  assert.equal(sm.get('k04998')?.value, 'overwritten before the snapshot reached it');
  // Once the snapshot is done, writes update records in place again, and the store reads right.
  apply(sm, { op: 'put', key: 'k04998', value: 'after' });
  assert.equal(sm.get('k04998')?.value, 'after');
  assert.equal(sm.get('k04998')?.createRevision, 4999);
  assert.equal(copy.sessionCount, 7);
  assert.equal(copy.sizeBytes, [...Array(5000).keys()].reduce((n, i) => n + `k${String(i).padStart(5, '0')}`.length + `v${i}`.length, 0));
});

test('a snapshot restored piece by piece leaves the state as it was, whole, until the last piece swaps it in', () => {
  index = 0;
  const donor = new KvStateMachine();
  for (let i = 0; i < 5000; i++) apply(donor, { op: 'put', key: `d${String(i).padStart(5, '0')}`, value: `v${i}`, session: { clientId: `c${i % 3}`, seq: Math.floor(i / 3) + 1 } });
  const data = donor.snapshot();
  const at = index;
  const target = new KvStateMachine();
  for (let i = 0; i < 10; i++) apply(target, { op: 'put', key: `t${i}`, value: `old${i}` });
  const before = target.digest();
  const step = target.restoreIncrementally(data, { index: at, term: 1 });
  let calls = 0;
  for (;;) {
    calls++;
    if (step()) break;
    assert.equal(target.digest(), before, `after piece ${calls}: the state is the one before the restore`);
    assert.equal(target.get('t3')?.value, 'old3');
    assert.equal(target.get('d00001'), null);
  }
  assert.ok(calls >= 3, `5000 records take several pieces (${calls})`);
  assert.equal(step(), true, 'done stays done');
  assert.equal(target.digest(), donor.digest(), "the donor's state exactly");
  assert.equal(target.get('t3'), null);
  assert.equal(target.list('').length, 5000);
  assert.equal(target.sessionCount, 3);
});

test('a snapshot of the version before chunked snapshots still restores', () => {
  const v1 = encode({ v: 1, now: 7, lastSweep: 0, revision: 3, data: [['a', 'A', 1, 2], ['b', 'B', 3, 3]], sessions: [['c', 2, { ok: true, op: 'put', revision: 3 }, 7]] });
  const sm = new KvStateMachine();
  sm.restore(v1, { index: 3, term: 1 });
  assert.deepEqual(sm.list(''), [
    { key: 'a', value: 'A', revision: 2, createRevision: 1 },
    { key: 'b', value: 'B', revision: 3, createRevision: 3 },
  ]);
  assert.equal(sm.sessionCount, 1);
  assert.equal(sm.sizeBytes, 4);
});
