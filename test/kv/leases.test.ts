/**
 * Leases in the state machine (grant, attach, move, keep-alive generations,
 * revoke, expiry by the leader's proposal only, snapshots and digests) and
 * the leader's expiry timer on a fake monotonic clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvInputError, encodeCommand, validateOp, type KvCommand, type KvOp, type KvResult } from '../../src/kv/commands.js';
import { LeaseExpirer } from '../../src/kv/lease-expirer.js';
import { MAX_LEASE_TTL, validateLeaseId, validateTtl, type LeaseCommand } from '../../src/kv/leases.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { validateTxn } from '../../src/kv/txn.js';
import { WatchHistory } from '../../src/kv/watch-history.js';
import { encode } from '../../src/util/codec.js';

class Log {
  index = 0;
  constructor(readonly sm: KvStateMachine) {}
  op(c: KvOp): KvResult {
    return this.sm.apply(encodeCommand({ time: 0, ...c } as KvCommand), { index: ++this.index, term: 1 });
  }
  lease(c: LeaseCommand): KvResult {
    return this.sm.apply(encode(c), { index: ++this.index, term: 1 });
  }
  grant(ttl: number): number {
    const r = this.lease({ kind: 'lease-grant', ttl, time: 1000 });
    assert.ok(r.ok && r.op === 'lease');
    return r.id;
  }
}

test('a grant takes its revision as id; keys attach by a put, move by a put to another lease, detach by a plain put', () => {
  const log = new Log(new KvStateMachine());
  const a = log.grant(10);
  const b = log.grant(20);
  assert.deepEqual([a, b], [1, 2]);
  log.op({ op: 'put', key: 'k1', value: 'v', lease: a });
  log.op({ op: 'put', key: 'k2', value: 'v', lease: a });
  log.op({ op: 'put', key: 'k3', value: 'v', lease: a });
  assert.deepEqual(log.sm.lease(a)?.keys, ['k1', 'k2', 'k3']);
  log.op({ op: 'put', key: 'k2', value: 'w', lease: b }); // moved
  log.op({ op: 'put', key: 'k3', value: 'w' }); // detached
  log.op({ op: 'append', key: 'k1', value: '+' }); // stays attached
  assert.deepEqual(log.sm.lease(a)?.keys, ['k1']);
  assert.deepEqual(log.sm.lease(b)?.keys, ['k2']);
  assert.deepEqual(log.sm.leases().map((l) => [l.id, l.ttl, l.keyCount]), [[1, 10, 1], [2, 20, 1]]);
  // A put to a lease that does not exist is refused and changes nothing.
  const r = log.op({ op: 'put', key: 'k9', value: 'v', lease: 99 });
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.error === 'not-found' && /lease 99 does not exist/.test(r.message));
  assert.equal(log.sm.get('k9'), null);
});

test('revoke deletes exactly the lease\'s keys at its revision, recorded for watchers at that revision', () => {
  const history = new WatchHistory();
  const log = new Log(new KvStateMachine({ changes: history }));
  const a = log.grant(10);
  log.op({ op: 'put', key: 'x/2', value: 'v', lease: a });
  log.op({ op: 'put', key: 'x/1', value: 'v', lease: a });
  log.op({ op: 'put', key: 'other', value: 'v' });
  const r = log.lease({ kind: 'lease-revoke', id: a, time: 0 });
  assert.ok(r.ok && r.op === 'lease' && r.applied && r.deletedKeys === 2 && r.revision === 5);
  assert.equal(log.sm.get('x/1'), null);
  assert.equal(log.sm.get('x/2'), null);
  assert.notEqual(log.sm.get('other'), null);
  assert.equal(log.sm.lease(a), undefined);
  assert.deepEqual(history.since(5), [
    { type: 'delete', key: 'x/1', revision: 5 },
    { type: 'delete', key: 'x/2', revision: 5 },
  ]);
  // Revoking again, or keeping alive, a lease that is gone: not-found.
  const again = log.lease({ kind: 'lease-revoke', id: a, time: 0 });
  assert.ok(!again.ok && again.error === 'not-found');
  const ka = log.lease({ kind: 'lease-keepalive', id: a, time: 0 });
  assert.ok(!ka.ok && ka.error === 'not-found');
  assert.equal(log.sm.sizeBytes, Buffer.byteLength('otherv'));
});

test('an expiry applies only at the lease\'s current generation: a keep-alive that won the race is not undone', () => {
  const log = new Log(new KvStateMachine());
  const a = log.grant(5);
  log.op({ op: 'put', key: 'k', value: 'v', lease: a });
  const ka = log.lease({ kind: 'lease-keepalive', id: a, time: 2000 });
  assert.ok(ka.ok && ka.op === 'lease' && ka.generation === 1);
  // The leader decided at generation 0; the keep-alive reached the log first.
  const stale = log.lease({ kind: 'lease-expire', id: a, generation: 0, time: 0 });
  assert.ok(stale.ok && stale.op === 'lease' && !stale.applied && stale.deletedKeys === 0);
  assert.notEqual(log.sm.get('k'), null);
  assert.equal(log.sm.lease(a)?.generation, 1);
  const current = log.lease({ kind: 'lease-expire', id: a, generation: 1, time: 0 });
  assert.ok(current.ok && current.op === 'lease' && current.applied && current.deletedKeys === 1);
  assert.equal(log.sm.get('k'), null);
  assert.equal(log.sm.lease(a), undefined);
  // An expiry of a lease already gone changes nothing.
  const gone = log.lease({ kind: 'lease-expire', id: a, generation: 1, time: 0 });
  assert.ok(gone.ok && gone.op === 'lease' && !gone.applied);
});

test('a transaction\'s put may attach a key; a lease that is gone refuses the whole transaction', () => {
  const log = new Log(new KvStateMachine());
  const a = log.grant(5);
  const apply = (t: unknown): KvResult => log.sm.apply(encodeCommand({ op: 'txn', ...validateTxn(t), time: 0 } as KvCommand), { index: ++log.index, term: 1 });
  const ok = apply({ compare: [{ key: 'lock', target: 'exists', op: '=', value: false }], success: [{ op: 'put', key: 'lock', value: 'me', lease: a }] });
  assert.ok(ok.ok && ok.op === 'txn' && ok.succeeded);
  assert.deepEqual(log.sm.lease(a)?.keys, ['lock']);
  const refused = apply({ success: [{ op: 'put', key: 'a', value: '1' }, { op: 'put', key: 'b', value: '1', lease: 77 }] });
  assert.ok(!refused.ok && refused.error === 'not-found');
  assert.equal(log.sm.get('a'), null);
  assert.throws(() => validateTxn({ success: [{ op: 'put', key: 'a', value: '1', lease: 0 }] }), /success\[0\]\.lease must be a positive integer/);
});

test('snapshot and restore keep leases, their generations and their keys; the digest covers them', () => {
  const log = new Log(new KvStateMachine());
  const a = log.grant(30);
  log.grant(40);
  log.op({ op: 'put', key: 'k1', value: 'v', lease: a });
  log.op({ op: 'put', key: 'k2', value: 'v' });
  log.lease({ kind: 'lease-keepalive', id: a, time: 5000 });
  const copy = new KvStateMachine();
  copy.restore(log.sm.snapshot(), { index: log.index, term: 1 });
  assert.equal(copy.digest(), log.sm.digest());
  assert.deepEqual(copy.leases(), log.sm.leases());
  assert.deepEqual(copy.lease(a), { id: a, ttl: 30, generation: 1, renewedAt: 5000, keys: ['k1'] });
  // The restored copy deletes the same keys on revoke.
  const other = new Log(copy);
  other.index = log.index;
  other.lease({ kind: 'lease-revoke', id: a, time: 0 });
  assert.equal(copy.get('k1'), null);
  assert.notEqual(copy.get('k2'), null);
  // The digest changes with a keep-alive alone (a generation is state).
  const before = log.sm.digest();
  log.lease({ kind: 'lease-keepalive', id: a, time: 5000 });
  assert.notEqual(log.sm.digest(), before);
});

test('TTL and id bounds are checked with clear errors', () => {
  assert.equal(validateTtl(1), 1);
  assert.equal(validateTtl(MAX_LEASE_TTL), MAX_LEASE_TTL);
  for (const bad of [0, -1, 1.5, MAX_LEASE_TTL + 1, '10', null]) assert.throws(() => validateTtl(bad), (e: Error) => e instanceof KvInputError && /ttl must be a whole number of seconds from 1 to/.test(e.message));
  assert.equal(validateLeaseId('12'), 12);
  assert.throws(() => validateLeaseId('x'), /lease id must be a positive integer, got "x"/);
  assert.throws(() => validateOp({ op: 'put', key: 'k', value: 'v', lease: 'abc' }), /lease must be a positive integer/);
});

/** The expiry timer on a fake clock, against a state machine its proposals are applied to. */
function timerRig(extensionMs = 1000) {
  const log = new Log(new KvStateMachine());
  let now = 0;
  const role = { leader: true, term: 1 };
  const proposals: [number, number][] = [];
  const expirer = new LeaseExpirer({
    // What the server passes: the live lease table, unordered and uncopied.
    leases: () => log.sm.leaseStates(),
    leadership: () => role,
    proposeExpiry: (id, generation) => {
      proposals.push([id, generation]);
      return Promise.resolve(log.lease({ kind: 'lease-expire', id, generation, time: 0 }));
    },
    now: () => now,
    leaderExtensionMs: extensionMs,
  });
  return { log, expirer, role, proposals, advance: (ms: number) => (now += ms), at: () => now };
}

test('the leader proposes an expiry only once the TTL has passed since it saw the last keep-alive', async () => {
  const r = timerRig(0);
  r.expirer.tick(); // leadership starts at 0
  r.advance(100);
  const a = r.log.grant(2);
  r.log.op({ op: 'put', key: 'k', value: 'v', lease: a });
  r.expirer.tick(); // seen at 100: deadline 2100
  assert.equal(r.expirer.remainingMs(a), 2000);
  r.advance(1500);
  r.log.lease({ kind: 'lease-keepalive', id: a, time: 0 });
  r.expirer.tick(); // keep-alive seen at 1600: deadline 3600
  r.advance(1999);
  r.expirer.tick();
  assert.deepEqual(r.proposals, []);
  assert.notEqual(r.log.sm.get('k'), null);
  r.advance(1);
  r.expirer.tick();
  await Promise.resolve();
  assert.deepEqual(r.proposals, [[a, 1]]);
  assert.equal(r.log.sm.get('k'), null);
  assert.equal(r.log.sm.lease(a), undefined);
});

test('a follower never proposes an expiry; a new leader extends every lease by the election timeout from when it became leader', () => {
  const r = timerRig(1000);
  r.role.leader = false;
  const a = r.log.grant(2);
  r.advance(10_000);
  r.expirer.tick();
  assert.deepEqual(r.proposals, []);
  assert.equal(r.expirer.remainingMs(a), null);
  // Becomes leader at 10000: the lease lives until 10000 + 2000 + 1000 at least.
  r.role.leader = true;
  r.role.term = 2;
  r.expirer.tick();
  assert.equal(r.expirer.remainingMs(a), 3000);
  r.advance(2999);
  r.expirer.tick();
  assert.deepEqual(r.proposals, []);
  // A keep-alive in the new term restarts the TTL, still not before the extension ends.
  r.log.lease({ kind: 'lease-keepalive', id: a, time: 0 });
  r.expirer.tick();
  assert.equal(r.expirer.remainingMs(a), 2000);
  // Losing and regaining leadership (a new term) extends again from then.
  r.role.leader = false;
  r.expirer.tick();
  r.advance(5000);
  r.role.leader = true;
  r.role.term = 3;
  r.expirer.tick();
  assert.equal(r.expirer.remainingMs(a), 3000);
  assert.deepEqual(r.proposals, []);
});

test('an expiry that loses to a keep-alive is retried at the new deadline, not repeated meanwhile', async () => {
  const r = timerRig(0);
  r.expirer.tick();
  const a = r.log.grant(1);
  r.expirer.tick();
  r.advance(1000);
  // The keep-alive is applied after the leader decided but before its expiry: the expiry is ignored.
  let release!: () => void;
  const gate = new Promise<void>((res) => (release = res));
  const expirer = new LeaseExpirer({
    leases: () => r.log.sm.leases(),
    leadership: () => r.role,
    proposeExpiry: async (id, generation) => {
      r.proposals.push([id, generation]);
      r.log.lease({ kind: 'lease-keepalive', id, time: 0 });
      await gate;
      return r.log.lease({ kind: 'lease-expire', id, generation, time: 0 });
    },
    now: () => r.at(),
    leaderExtensionMs: 0,
  });
  expirer.tick(); // learns the lease at 1000 → deadline 2000
  r.advance(1000);
  expirer.tick(); // proposes at generation 0
  expirer.tick(); // in flight: not proposed again... but sees generation 1 now, with a fresh deadline
  release();
  await new Promise((res) => setImmediate(res));
  assert.deepEqual(r.proposals, [[a, 0]]);
  assert.notEqual(r.log.sm.lease(a), undefined, 'the keep-alive won');
  assert.equal(expirer.remainingMs(a), 1000);
});

test('a grant retried with its session (seq) answers the first grant: one lease, the same id; a new seq grants another', () => {
  const log = new Log(new KvStateMachine());
  const session = { clientId: 'c1', seq: 1 };
  const first = log.lease({ kind: 'lease-grant', ttl: 10, time: 1000, session });
  const retry = log.lease({ kind: 'lease-grant', ttl: 10, time: 1500, session });
  assert.ok(first.ok && first.op === 'lease');
  assert.deepEqual(retry, first, 'the retry is answered from the session table');
  assert.equal(log.sm.leaseCount, 1, 'no second lease');
  const next = log.lease({ kind: 'lease-grant', ttl: 10, time: 2000, session: { clientId: 'c1', seq: 2 } });
  assert.ok(next.ok && next.op === 'lease' && next.id === 3);
  assert.equal(log.sm.leaseCount, 2);
  // An older seq is stale; a client without a session that does not begin at 1 has expired.
  const stale = log.lease({ kind: 'lease-grant', ttl: 10, time: 2000, session: { clientId: 'c1', seq: 1 } });
  assert.ok(!stale.ok && stale.error === 'stale-request');
  const unknown = log.lease({ kind: 'lease-grant', ttl: 10, time: 2000, session: { clientId: 'c9', seq: 5 } });
  assert.ok(!unknown.ok && unknown.error === 'session-expired');
  assert.equal(log.sm.leaseCount, 2);
  // Grants without a session (commands of older versions in a WAL) still apply, each a lease.
  log.grant(5);
  log.grant(5);
  assert.equal(log.sm.leaseCount, 4);
  // The session table is replicated state: a copy from a snapshot answers the retry alike.
  const copy = new KvStateMachine();
  copy.restore(log.sm.snapshot(), { index: log.index, term: 1 });
  assert.deepEqual(copy.apply(encode({ kind: 'lease-grant', ttl: 10, time: 2100, session: { clientId: 'c1', seq: 2 } }), { index: log.index + 1, term: 1 }), next);
  assert.equal(copy.leaseCount, 4);
});

test('a keep-alive or revoke retried with its session applies once and answers as the first did', () => {
  const log = new Log(new KvStateMachine());
  const id = log.grant(10);
  log.op({ op: 'put', key: 'k', value: 'v', lease: id });
  const ka = { kind: 'lease-keepalive', id, time: 2000, session: { clientId: 'c', seq: 1 } } as const;
  const k1 = log.lease(ka);
  const k2 = log.lease(ka);
  assert.deepEqual(k2, k1);
  assert.equal(log.sm.lease(id)?.generation, 1, 'one keep-alive applied, not two');
  const rv = { kind: 'lease-revoke', id, time: 3000, session: { clientId: 'c', seq: 2 } } as const;
  const r1 = log.lease(rv);
  const r2 = log.lease(rv);
  assert.ok(r1.ok && r1.op === 'lease' && r1.deletedKeys === 1);
  assert.deepEqual(r2, r1, 'the retry of a revoke that applied is answered, not refused as lease-not-found');
  // Without a session a repeated revoke finds no lease (what a retry got before sessions).
  const bare = log.lease({ kind: 'lease-revoke', id, time: 3000 });
  assert.ok(!bare.ok && bare.error === 'not-found');
});

test('a grant carrying maxLeases is refused at apply time once the store holds that many; older grants (no cap) are not', () => {
  const log = new Log(new KvStateMachine());
  const capped = (seq?: number): KvResult => log.lease({ kind: 'lease-grant', ttl: 10, time: 0, maxLeases: 2, ...(seq !== undefined && { session: { clientId: 'cap', seq } }) });
  assert.ok(capped().ok);
  assert.ok(capped().ok);
  const refused = capped(1);
  assert.ok(!refused.ok && refused.error === 'too-many-leases');
  assert.ok(!refused.ok && refused.error === 'too-many-leases' && refused.maxLeases === 2 && /holds 2 leases, its maximum \(--max-leases 2\)/.test(refused.message));
  assert.equal(log.sm.leaseCount, 2);
  // The refusal is the session's answer: its retry is refused alike, even once there is room.
  log.lease({ kind: 'lease-revoke', id: 1, time: 0 });
  assert.deepEqual(capped(1), refused);
  const ok = capped(2);
  assert.ok(ok.ok && ok.op === 'lease');
  assert.equal(log.sm.leaseCount, 2);
  log.grant(10); // no maxLeases: a command of an older version
  assert.equal(log.sm.leaseCount, 3);
});

test('the timer forgets the deadline of a lease that is gone, and keeps the others', () => {
  const r = timerRig(0);
  r.expirer.tick();
  const a = r.log.grant(5);
  const b = r.log.grant(5);
  r.expirer.tick();
  assert.equal(r.expirer.remainingMs(a), 5000);
  r.log.lease({ kind: 'lease-revoke', id: a, time: 0 });
  r.advance(100);
  r.expirer.tick();
  assert.equal(r.expirer.remainingMs(a), null);
  assert.equal(r.expirer.remainingMs(b), 4900);
});
