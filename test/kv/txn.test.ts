/** Transactions in the KV state machine: compares, branches, one revision, sessions, auth, quota, validation. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeAuthCommand } from '../../src/auth/commands.js';
import { hashToken } from '../../src/auth/model.js';
import { KvInputError, encodeCommand, type KvCommand, type KvOp, type KvResult, type Session } from '../../src/kv/commands.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { validateTxn, type TxnRequest } from '../../src/kv/txn.js';
import { WatchHistory } from '../../src/kv/watch-history.js';

class Log {
  index = 0;
  kv(sm: KvStateMachine, c: KvOp, extra: { by?: string; quota?: number } = {}): KvResult {
    return sm.apply(encodeCommand({ ...c, time: 0, ...extra } as KvCommand), { index: ++this.index, term: 1 });
  }
  txn(sm: KvStateMachine, t: Partial<TxnRequest>, extra: { session?: Session; by?: string; quota?: number } = {}): KvResult {
    return sm.apply(encodeCommand({ op: 'txn', compare: [], success: [], failure: [], ...t, time: 0, ...extra } as KvCommand), { index: ++this.index, term: 1 });
  }
}

test('a transaction whose compares hold applies its success branch at one revision, in order, gets seeing earlier writes', () => {
  const history = new WatchHistory();
  const sm = new KvStateMachine({ changes: history });
  const log = new Log();
  log.kv(sm, { op: 'put', key: 'a', value: '1' }); // 1
  log.kv(sm, { op: 'put', key: 'b', value: 'x' }); // 2
  const r = log.txn(sm, {
    compare: [
      { key: 'a', target: 'value', op: '=', value: '1' },
      { key: 'a', target: 'modRevision', op: '=', value: 1 },
      { key: 'b', target: 'createRevision', op: '<', value: 3 },
      { key: 'c', target: 'exists', op: '=', value: false },
    ],
    success: [
      { op: 'put', key: 'c', value: 'new' },
      { op: 'get', key: 'c' },
      { op: 'delete', key: 'b' },
      { op: 'get', key: 'b' },
      { op: 'put', key: 'a', value: '2' },
    ],
    failure: [{ op: 'put', key: 'failed', value: 'yes' }],
  });
  assert.deepEqual(r, {
    ok: true,
    op: 'txn',
    revision: 3,
    succeeded: true,
    results: [
      { op: 'put', key: 'c', revision: 3 },
      { op: 'get', key: 'c', item: { value: 'new', createRevision: 3, modRevision: 3 } },
      { op: 'delete', key: 'b', deleted: true },
      { op: 'get', key: 'b', item: null },
      { op: 'put', key: 'a', revision: 3 },
    ],
  });
  assert.deepEqual(sm.get('a'), { key: 'a', value: '2', revision: 3, createRevision: 1 });
  assert.equal(sm.get('b'), null);
  assert.equal(sm.get('failed'), null);
  // The watch history holds the three changes at revision 3, in the order of the branch.
  assert.deepEqual(history.since(3), [
    { type: 'put', key: 'c', value: 'new', revision: 3, createRevision: 3 },
    { type: 'delete', key: 'b', revision: 3 },
    { type: 'put', key: 'a', value: '2', revision: 3, createRevision: 1 },
  ]);
});

test('a compare that fails applies the failure branch instead; each target and operator', () => {
  const sm = new KvStateMachine();
  const log = new Log();
  log.kv(sm, { op: 'put', key: 'k', value: 'm' }); // 1
  log.kv(sm, { op: 'put', key: 'k', value: 'm' }); // 2: createRevision 1, modRevision 2
  const holds = (c: TxnRequest['compare'][number]): boolean => {
    const r = log.txn(sm, { compare: [c] });
    assert.ok(r.ok && r.op === 'txn');
    return r.succeeded;
  };
  assert.equal(holds({ key: 'k', target: 'value', op: '=', value: 'm' }), true);
  assert.equal(holds({ key: 'k', target: 'value', op: '!=', value: 'm' }), false);
  assert.equal(holds({ key: 'k', target: 'value', op: '<', value: 'n' }), true);
  assert.equal(holds({ key: 'k', target: 'value', op: '>', value: 'n' }), false);
  // A value compare on an absent key is false whatever the operator.
  assert.equal(holds({ key: 'none', target: 'value', op: '!=', value: 'm' }), false);
  assert.equal(holds({ key: 'none', target: 'value', op: '=', value: '' }), false);
  assert.equal(holds({ key: 'k', target: 'createRevision', op: '=', value: 1 }), true);
  assert.equal(holds({ key: 'k', target: 'modRevision', op: '=', value: 2 }), true);
  assert.equal(holds({ key: 'k', target: 'modRevision', op: '>', value: 2 }), false);
  assert.equal(holds({ key: 'none', target: 'modRevision', op: '=', value: 0 }), true, 'an absent key has revision 0');
  assert.equal(holds({ key: 'k', target: 'exists', op: '=', value: true }), true);
  assert.equal(holds({ key: 'k', target: 'exists', op: '!=', value: true }), false);
  assert.equal(holds({ key: 'none', target: 'exists', op: '=', value: false }), true);

  const r = log.txn(sm, { compare: [{ key: 'k', target: 'value', op: '=', value: 'm' }, { key: 'k', target: 'modRevision', op: '=', value: 1 }], success: [{ op: 'put', key: 's', value: '1' }], failure: [{ op: 'get', key: 'k' }, { op: 'put', key: 'f', value: '1' }] });
  assert.deepEqual(r, { ok: true, op: 'txn', revision: log.index, succeeded: false, results: [{ op: 'get', key: 'k', item: { value: 'm', createRevision: 1, modRevision: 2 } }, { op: 'put', key: 'f', revision: log.index }] });
  assert.equal(sm.get('s'), null, 'one compare failing is enough: the success branch does not apply');
  assert.equal(sm.get('f')?.value, '1');
});

test('a retried transaction (same session seq) applies once and answers the same', () => {
  const sm = new KvStateMachine();
  const log = new Log();
  const t: Partial<TxnRequest> = { compare: [{ key: 'n', target: 'exists', op: '=', value: false }], success: [{ op: 'put', key: 'n', value: 'first' }], failure: [{ op: 'get', key: 'n' }] };
  const first = log.txn(sm, t, { session: { clientId: 'c', seq: 1 } });
  const retry = log.txn(sm, t, { session: { clientId: 'c', seq: 1 } });
  assert.deepEqual(retry, first);
  assert.ok(first.ok && first.op === 'txn' && first.succeeded);
  assert.deepEqual(sm.get('n'), { key: 'n', value: 'first', revision: 1, createRevision: 1 }, 'the retry applied nothing');
  // Without the session the same transaction would now take the failure branch.
  const again = log.txn(sm, t, { session: { clientId: 'c', seq: 2 } });
  assert.ok(again.ok && again.op === 'txn' && !again.succeeded);
});

test('permissions at apply time: read on every compared or read key, write on every written key, in both branches', () => {
  const ROOT = hashToken('root');
  const APP = hashToken('app');
  const sm = new KvStateMachine();
  let index = 0;
  for (const action of [
    { type: 'role-add', role: { name: 'app', read: ['app/', 'shared/'], write: ['app/'], admin: false } },
    { type: 'token-create', name: 'app', hash: APP, roles: ['app'] },
    { type: 'enable', rootHash: ROOT },
  ] as const) {
    const r = sm.apply(encodeAuthCommand({ op: 'auth', action, time: 0 }), { index: ++index, term: 1 });
    assert.ok(r.ok, JSON.stringify(r));
  }
  const log = new Log();
  log.index = index;
  const ok = log.txn(sm, { compare: [{ key: 'shared/x', target: 'exists', op: '=', value: false }], success: [{ op: 'put', key: 'app/a', value: '1' }, { op: 'get', key: 'shared/y' }] }, { by: APP });
  assert.ok(ok.ok && ok.op === 'txn' && ok.succeeded, JSON.stringify(ok));
  const refusals: [Partial<TxnRequest>, string][] = [
    [{ compare: [{ key: 'secret/x', target: 'exists', op: '=', value: true }], success: [{ op: 'put', key: 'app/a', value: '2' }] }, 'read secret/x'],
    [{ success: [{ op: 'get', key: 'secret/y' }] }, 'read secret/y'],
    [{ success: [{ op: 'put', key: 'shared/z', value: '1' }] }, 'write shared/z'],
    // The failure branch is checked even when the compares would pick the success branch.
    [{ success: [{ op: 'put', key: 'app/b', value: '1' }], failure: [{ op: 'delete', key: 'shared/x' }] }, 'write shared/x'],
  ];
  for (const [t, what] of refusals) {
    const r = log.txn(sm, t, { by: APP });
    assert.ok(!r.ok && r.error === 'permission-denied', `${what}: ${JSON.stringify(r)}`);
    assert.match(r.message, new RegExp(what.split(' ')[1]!.replace('/', '\\/')));
  }
  const noToken = log.txn(sm, { success: [{ op: 'get', key: 'app/a' }] });
  assert.ok(!noToken.ok && noToken.error === 'unauthenticated');
  assert.deepEqual(sm.get('app/a')?.value, '1', 'no refused transaction applied anything');
  assert.equal(sm.get('app/b'), null);
});

test('the space quota counts the whole branch; a refused branch applies nothing', () => {
  const sm = new KvStateMachine();
  const log = new Log();
  const quota = 100;
  const big = 'v'.repeat(40);
  const r = log.txn(sm, { success: [{ op: 'put', key: 'k1', value: big }, { op: 'put', key: 'k2', value: big }, { op: 'put', key: 'k3', value: big }] }, { quota });
  assert.ok(!r.ok && r.error === 'no-space', JSON.stringify(r));
  assert.equal(sm.size, 0, 'no put of the refused branch applied');
  assert.equal(sm.alarms()[0]?.alarm, 'NOSPACE');
  // Under NOSPACE a branch of deletes and gets passes; one with a put does not.
  const del = log.txn(sm, { success: [{ op: 'delete', key: 'k1' }, { op: 'get', key: 'k1' }] }, { quota });
  assert.ok(del.ok, JSON.stringify(del));
  const put = log.txn(sm, { success: [{ op: 'put', key: 'k', value: '' }] }, { quota });
  assert.ok(!put.ok && put.error === 'no-space');
});

test('validation names the field at fault; limits on compares and operations', () => {
  const bad: [unknown, RegExp][] = [
    [[], /the transaction must be an object, got an array/],
    [{ compare: [], extra: 1 }, /unknown field "extra"/],
    [{ compare: {} }, /compare must be an array/],
    [{ compare: [{ key: 'k', target: 'version', op: '=', value: 1 }] }, /compare\[0\]\.target must be one of value, modRevision, createRevision, exists/],
    [{ compare: [{ key: 'k', target: 'value', op: '=', value: 'a' }, { key: 'k', target: 'value', op: '>=', value: 'a' }] }, /compare\[1\]\.op must be one of = != < >/],
    [{ compare: [{ key: 'k', target: 'modRevision', op: '=', value: '3' }] }, /compare\[0\]\.value must be an integer >= 0/],
    [{ compare: [{ key: 'k', target: 'exists', op: '<', value: true }] }, /compare\[0\]\.op must be = or != for target exists/],
    [{ compare: [{ key: '', target: 'exists', op: '=', value: true }] }, /compare\[0\]\.key: key must not be empty/],
    [{ success: [{ op: 'cas', key: 'k' }] }, /success\[0\]\.op must be put, delete or get/],
    [{ failure: [{ op: 'get', key: 'a' }, { op: 'put', key: 'a' }] }, /failure\[1\]\.value must be a string/],
    [{ success: [{ op: 'get', key: 'a', value: 'x' }] }, /success\[0\]: unknown field "value"/],
    [{ success: [{ op: 'put', key: 'a', value: '1' }, { op: 'delete', key: 'a' }] }, /success\[1\] writes key "a" again \(success\[0\] writes it\)/],
    [{ success: [{ op: 'put', key: 'a', value: '\ud800' }] }, /success\[0\]\.value holds an unpaired UTF-16 surrogate/],
  ];
  for (const [body, re] of bad) assert.throws(() => validateTxn(body), (e: unknown) => e instanceof KvInputError && re.test(e.message), JSON.stringify(body));
  const ops = (n: number): unknown[] => Array.from({ length: n }, (_, i) => ({ op: 'get', key: `k${i}` }));
  assert.doesNotThrow(() => validateTxn({ success: ops(4) }, { maxKeyBytes: 10, maxValueBytes: 10, maxTxnOps: 4 }));
  assert.throws(() => validateTxn({ failure: ops(5) }, { maxKeyBytes: 10, maxValueBytes: 10, maxTxnOps: 4 }), /failure has 5 entries, more than the limit of 4/);
  assert.throws(() => validateTxn({ compare: Array.from({ length: 129 }, () => ({ key: 'k', target: 'exists', op: '=', value: true })) }), /compare has 129 entries, more than the limit of 128/);
  assert.throws(() => validateTxn({ success: [{ op: 'put', key: 'k', value: 'x'.repeat(11) }] }, { maxKeyBytes: 10, maxValueBytes: 10 }), /success\[0\]\.value is 11 bytes, more than the limit of 10/);
  // Reading the same key twice, or reading and writing it, is fine.
  assert.doesNotThrow(() => validateTxn({ success: [{ op: 'get', key: 'a' }, { op: 'put', key: 'a', value: '1' }, { op: 'get', key: 'a' }] }));
});

test('replicas that apply the same transactions agree (digest), and a snapshot carries the result', () => {
  const a = new KvStateMachine();
  const b = new KvStateMachine();
  const la = new Log();
  const lb = new Log();
  for (const [sm, log] of [[a, la], [b, lb]] as const) {
    log.kv(sm, { op: 'put', key: 'x', value: '1' });
    log.txn(sm, { compare: [{ key: 'x', target: 'value', op: '=', value: '1' }], success: [{ op: 'put', key: 'y', value: '2' }, { op: 'delete', key: 'x' }] }, { session: { clientId: 's', seq: 1 } });
  }
  assert.equal(a.digest(), b.digest());
  const c = new KvStateMachine();
  c.restore(a.snapshot(), { index: 2, term: 1 });
  assert.equal(c.digest(), a.digest());
  assert.deepEqual(c.get('y'), { key: 'y', value: '2', revision: 2, createRevision: 2 });
});
