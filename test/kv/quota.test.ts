/**
 * The space quota and the NOSPACE alarm in the KV state machine: sizes are
 * counted exactly, a write above the quota is refused and raises the alarm
 * (decided from the command and the replicated state only), the alarm makes
 * the store read-only except for deletes, survives snapshots, and is
 * disarmed by its own command.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvNoSpaceError, type AlarmDisarmCommand } from '../../src/kv/alarms.js';
import { encodeCommand, type KvCommand, type KvOp, type KvResult } from '../../src/kv/commands.js';
import { KvService } from '../../src/kv/service.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import type { Replica } from '../../src/node/replica.js';
import { encode } from '../../src/util/codec.js';

class Log {
  index = 0;
  readonly entries: Uint8Array[] = [];
  apply(sm: KvStateMachine, c: KvOp & { quota?: number }): KvResult {
    const b = encodeCommand({ time: 0, ...c } as KvCommand);
    this.entries.push(b);
    return sm.apply(b, { index: ++this.index, term: 1 });
  }
  disarm(sm: KvStateMachine, alarm?: 'NOSPACE'): KvResult {
    const b = encode({ kind: 'alarm-disarm', alarm, time: 0 } satisfies AlarmDisarmCommand);
    this.entries.push(b);
    return sm.apply(b, { index: ++this.index, term: 1 });
  }
}

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

test('the size counts the UTF-8 bytes of keys and values through put, append, cas and delete', () => {
  const sm = new KvStateMachine();
  const log = new Log();
  log.apply(sm, { op: 'put', key: 'a', value: 'héllo' });
  assert.equal(sm.sizeBytes, 1 + bytes('héllo'));
  log.apply(sm, { op: 'put', key: 'a', value: 'x' }); // overwrite shrinks
  assert.equal(sm.sizeBytes, 2);
  log.apply(sm, { op: 'append', key: 'a', value: 'yz' });
  assert.equal(sm.sizeBytes, 4);
  log.apply(sm, { op: 'cas', key: 'b', expected: null, value: '1234' });
  assert.equal(sm.sizeBytes, 4 + 5);
  log.apply(sm, { op: 'cas', key: 'b', expected: 'wrong', value: '123456789' }); // no swap, no change
  assert.equal(sm.sizeBytes, 9);
  log.apply(sm, { op: 'delete', key: 'a' });
  assert.equal(sm.sizeBytes, 5);
  log.apply(sm, { op: 'delete', key: 'missing' });
  assert.equal(sm.sizeBytes, 5);
  // A restored replica recomputes the same size.
  const other = new KvStateMachine();
  other.restore(sm.snapshot(), { index: log.index, term: 1 });
  assert.equal(other.sizeBytes, 5);
});

test('a write above the quota is refused and raises NOSPACE; then only deletes pass until disarmed', () => {
  const sm = new KvStateMachine();
  const log = new Log();
  const quota = 100;
  assert.equal(log.apply(sm, { op: 'put', key: 'k1', value: 'v'.repeat(60), quota }).ok, true); // 62 bytes
  const refused = log.apply(sm, { op: 'put', key: 'k2', value: 'v'.repeat(60), quota });
  assert.equal(refused.ok, false);
  assert.equal(!refused.ok && refused.error, 'no-space');
  assert.ok(!refused.ok && refused.error === 'no-space' && refused.quotaBytes === 100 && refused.sizeBytes === 62);
  assert.match(!refused.ok ? refused.message : '', /above the space quota of 100 bytes/);
  assert.equal(sm.get('k2'), null, 'the refused write changed nothing');
  assert.deepEqual(sm.alarms(), [{ alarm: 'NOSPACE', revision: 2, quotaBytes: 100, sizeBytes: 62, wouldBeBytes: 124 }]);
  // While the alarm is active: even a small put, an append and a cas are refused, whatever the quota in the command.
  for (const op of [
    { op: 'put', key: 'tiny', value: 'x' },
    { op: 'append', key: 'k1', value: 'x' },
    { op: 'cas', key: 'k1', expected: 'v'.repeat(60), value: 'y' },
    { op: 'put', key: 'tiny', value: 'x', quota: 1 << 30 },
    { op: 'put', key: 'tiny2', value: 'x' },
  ] as (KvOp & { quota?: number })[]) {
    const r = log.apply(sm, op);
    assert.equal(!r.ok && r.error, 'no-space', `${op.op} while NOSPACE is active`);
  }
  assert.equal(sm.sizeBytes, 62);
  // Deletes go through and free space.
  assert.deepEqual(log.apply(sm, { op: 'delete', key: 'k1' }), { ok: true, op: 'delete', revision: log.index, deleted: true });
  assert.equal(sm.sizeBytes, 0);
  assert.equal(sm.alarms().length, 1, 'freeing space does not disarm by itself');
  const d = log.disarm(sm);
  assert.ok(d.ok && d.op === 'alarm-disarm' && d.disarmed.length === 1 && d.disarmed[0]!.alarm === 'NOSPACE');
  assert.deepEqual(sm.alarms(), []);
  assert.equal(log.apply(sm, { op: 'put', key: 'k3', value: 'v'.repeat(60), quota }).ok, true);
  // Still above the quota: the next oversized write raises it again.
  assert.equal(!log.apply(sm, { op: 'append', key: 'k3', value: 'v'.repeat(50), quota }).ok, true);
  assert.equal(sm.alarms()[0]?.revision, log.index);
  // A second disarm of nothing disarms nothing.
  log.disarm(sm);
  const again = log.disarm(sm);
  assert.ok(again.ok && again.op === 'alarm-disarm' && again.disarmed.length === 0);
});

test('a write that does not grow the store passes even above the quota (no alarm); commands without a quota never refuse', () => {
  const sm = new KvStateMachine();
  const log = new Log();
  log.apply(sm, { op: 'put', key: 'k', value: 'v'.repeat(200) }); // no quota in the command
  assert.equal(sm.sizeBytes, 201);
  assert.equal(log.apply(sm, { op: 'put', key: 'k', value: 'v'.repeat(100), quota: 50 }).ok, true, 'a shrinking write');
  assert.deepEqual(sm.alarms(), []);
  assert.equal(log.apply(sm, { op: 'cas', key: 'k', expected: 'other', value: 'v'.repeat(500), quota: 50 }).ok, true, 'a cas that does not swap adds nothing');
  assert.deepEqual(sm.alarms(), []);
});

test('the alarm survives a snapshot; a snapshot of an older version (no alarms field) loads as no alarm', () => {
  const sm = new KvStateMachine();
  const log = new Log();
  log.apply(sm, { op: 'put', key: 'k', value: 'v'.repeat(20), quota: 10 });
  assert.equal(sm.alarms().length, 1);
  const restored = new KvStateMachine();
  restored.restore(sm.snapshot(), { index: log.index, term: 1 });
  assert.deepEqual(restored.alarms(), sm.alarms());
  assert.equal(restored.digest(), sm.digest());
  const r = restored.apply(encodeCommand({ op: 'put', key: 'z', value: '1', time: 0 }), { index: log.index + 1, term: 1 });
  assert.equal(!r.ok && r.error, 'no-space');
  // A version-1 snapshot as older versions wrote it: no alarms field.
  const old = encode({ v: 1, now: 0, lastSweep: 0, revision: 3, data: [['a', 'xyz', 1, 2]], sessions: [] });
  const fromOld = new KvStateMachine();
  fromOld.restore(old, { index: 3, term: 1 });
  assert.deepEqual(fromOld.alarms(), []);
  assert.equal(fromOld.sizeBytes, 4);
  assert.equal(fromOld.apply(encodeCommand({ op: 'put', key: 'b', value: '1', time: 0, quota: 100 }), { index: 4, term: 1 }).ok, true);
});

test('replicas applying the same log agree on size, alarms and digest at every index', () => {
  const a = new KvStateMachine();
  const log = new Log();
  let refusals = 0;
  for (let i = 0; i < 60; i++) {
    if (i % 17 === 16) log.disarm(a);
    else if (i % 5 === 4) log.apply(a, { op: 'delete', key: `k${i - 3}` });
    else if (!log.apply(a, { op: i % 2 === 0 ? 'put' : 'append', key: `k${i % 7}`, value: 'x'.repeat(i), quota: 400 }).ok) refusals++;
  }
  assert.ok(refusals > 0, 'the run reached the quota');
  const b = new KvStateMachine();
  log.entries.forEach((e, k) => b.apply(e, { index: k + 1, term: 1 }));
  assert.equal(b.sizeBytes, a.sizeBytes);
  assert.deepEqual(b.alarms(), a.alarms());
  assert.equal(b.digest(), a.digest());
});

/** A KvService with space quota `quota` over a replica that applies each proposal at once, recording what was proposed. */
function serviceOverLog(quota: number): { sm: KvStateMachine; proposed: Uint8Array[]; kv: KvService } {
  const sm = new KvStateMachine();
  const log = new Log();
  const proposed: Uint8Array[] = [];
  const replica = {
    propose: async (b: Uint8Array) => {
      proposed.push(b);
      return { index: log.index + 1, result: sm.apply(b, { index: ++log.index, term: 1 }) };
    },
    read: async <T>(fn: () => T) => fn(),
  } as unknown as Replica<KvResult>;
  return { sm, proposed, kv: new KvService(replica, sm, () => 0, quota) };
}

test('KvService refuses a write with KvNoSpaceError (507) without proposing while NOSPACE is active; deletes are proposed', async () => {
  const { proposed, kv } = serviceOverLog(50);
  await kv.put('a', 'v'.repeat(40));
  await assert.rejects(kv.put('b', 'v'.repeat(40)), (e: unknown) => e instanceof KvNoSpaceError && e.quotaBytes === 50 && e.sizeBytes === 41);
  assert.equal(proposed.length, 2, 'the breaching write went through the log (it raises the alarm there)');
  await assert.rejects(kv.append('a', 'x'), KvNoSpaceError);
  await assert.rejects(kv.cas('a', null, 'x'), KvNoSpaceError);
  assert.equal(proposed.length, 2, 'writes refused locally while the alarm is active are not proposed');
  assert.deepEqual(await kv.delete('a'), { revision: 3, deleted: true });
  assert.deepEqual((await kv.alarms()).map((a) => a.alarm), ['NOSPACE']);
  const d = await kv.disarm();
  assert.equal(d.disarmed.length, 1);
  assert.deepEqual(await kv.alarms(), []);
  await kv.put('b', 'small');
});

test('KvService refuses a transaction with a put in either branch before proposing while NOSPACE is active; gets and deletes only are proposed', async () => {
  const { sm, proposed, kv } = serviceOverLog(50);
  await kv.put('a', 'v'.repeat(40));
  await kv.put('c', 'v');
  // A transaction that breaches the quota goes through the log and raises the alarm there.
  await assert.rejects(kv.txn({ success: [{ op: 'put', key: 'b', value: 'v'.repeat(40) }] }), (e: unknown) => e instanceof KvNoSpaceError && /above the space quota of 50 bytes/.test(e.message));
  assert.equal(proposed.length, 3);
  assert.deepEqual(sm.alarms().map((a) => a.alarm), ['NOSPACE']);
  // Now refused here, with the error a put gets: a put in the success branch, or only in the failure branch.
  const refusal = (e: unknown): boolean => e instanceof KvNoSpaceError && e.quotaBytes === 50 && e.sizeBytes === 43 && /the store is read-only: alarm NOSPACE is active/.test(e.message);
  await assert.rejects(kv.txn({ success: [{ op: 'put', key: 'x', value: '1' }] }), refusal);
  await assert.rejects(kv.txn({ compare: [{ key: 'a', target: 'exists', op: '=', value: true }], success: [{ op: 'get', key: 'a' }], failure: [{ op: 'put', key: 'x', value: '1' }] }), refusal);
  assert.equal(proposed.length, 3, 'nothing proposed for them');
  // Gets and deletes free space: proposed and applied.
  const r = await kv.txn({ success: [{ op: 'get', key: 'c' }, { op: 'delete', key: 'a' }] });
  assert.equal(r.succeeded, true);
  assert.deepEqual(r.results.map((x) => x.op), ['get', 'delete']);
  assert.equal(proposed.length, 4);
  assert.equal(sm.get('a'), null);
});
