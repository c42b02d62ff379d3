/** Auth in the KV state machine: commands in the log, apply-time checks of writes, snapshots, determinism. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeAuthCommand } from '../../src/auth/commands.js';
import { hashToken, type AuthAction } from '../../src/auth/model.js';
import { encodeCommand, type KvCommand, type KvOp, type KvResult } from '../../src/kv/commands.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { encode } from '../../src/util/codec.js';

const ROOT = hashToken('root-secret');
const W = hashToken('writer-secret');
const R = hashToken('reader-secret');

/** A log of auth and KV commands, applied in order with consecutive indexes. */
type Entry = { auth: AuthAction; by?: string } | { kv: KvOp; by?: string };
function encodeEntry(e: Entry, time: number): Uint8Array {
  return 'auth' in e ? encodeAuthCommand({ op: 'auth', action: e.auth, by: e.by, time }) : encodeCommand({ ...e.kv, time, ...(e.by !== undefined && { by: e.by }) } as KvCommand);
}
function applyAll(sm: KvStateMachine, log: readonly Entry[], from = 1): KvResult[] {
  return log.map((e, i) => sm.apply(encodeEntry(e, 1000 + i), { index: from + i, term: 1 }));
}

const setup: Entry[] = [
  { auth: { type: 'role-add', role: { name: 'writer', read: [], write: ['app/'], admin: false } } },
  { auth: { type: 'role-add', role: { name: 'reader', read: ['app/'], write: [], admin: false } } },
  { auth: { type: 'token-create', name: 'w', hash: W, roles: ['writer'] } },
  { auth: { type: 'token-create', name: 'r', hash: R, roles: ['reader'] } },
  { auth: { type: 'enable', rootHash: ROOT } },
];

test('writes are judged at apply time by the auth state at that index', () => {
  const sm = new KvStateMachine();
  assert.deepEqual(applyAll(sm, [{ kv: { op: 'put', key: 'app/before', value: '1' } }]), [{ ok: true, op: 'put', revision: 1 }], 'auth off: no token needed');
  const rs = applyAll(sm, setup, 2);
  assert.ok(rs.every((r) => r.ok && r.op === 'auth'), JSON.stringify(rs));
  const [noToken, reader, writerElsewhere, writer] = applyAll(
    sm,
    [{ kv: { op: 'put', key: 'app/a', value: '1' } }, { kv: { op: 'put', key: 'app/a', value: '1' }, by: R }, { kv: { op: 'delete', key: 'other' }, by: W }, { kv: { op: 'put', key: 'app/a', value: '2' }, by: W }],
    7,
  );
  assert.equal(noToken!.ok ? 'ok' : noToken!.error, 'unauthenticated');
  assert.equal(reader!.ok ? 'ok' : reader!.error, 'permission-denied');
  assert.equal(writerElsewhere!.ok ? 'ok' : writerElsewhere!.error, 'permission-denied');
  assert.deepEqual(writer, { ok: true, op: 'put', revision: 10 });
  assert.deepEqual(sm.get('app/a'), { key: 'app/a', value: '2', revision: 10, createRevision: 10 }, 'the refused writes applied nothing');
});

test('a write proposed before a revocation but applied after it is refused, and changes nothing', () => {
  const sm = new KvStateMachine();
  applyAll(sm, setup);
  // The log order decides: the revocation (index 6) comes before the write (index 7) proposed with the same token.
  const [revoke, write] = applyAll(sm, [{ auth: { type: 'token-revoke', name: 'w' }, by: ROOT }, { kv: { op: 'put', key: 'app/late', value: 'x' }, by: W }], 6);
  assert.deepEqual(revoke, { ok: true, op: 'auth', revision: 6 });
  assert.equal(write!.ok ? 'ok' : write!.error, 'unauthenticated');
  assert.equal(sm.get('app/late'), null);
  // A write proposed while auth was off and applied after it was enabled carries no token: refused too.
  const sm2 = new KvStateMachine();
  applyAll(sm2, [{ auth: { type: 'enable', rootHash: ROOT } }]);
  const [late] = applyAll(sm2, [{ kv: { op: 'put', key: 'k', value: 'v' } }], 2);
  assert.equal(late!.ok ? 'ok' : late!.error, 'unauthenticated');
});

test('auth commands from a token without admin are refused at apply time', () => {
  const sm = new KvStateMachine();
  applyAll(sm, setup);
  const [r] = applyAll(sm, [{ auth: { type: 'token-create', name: 'mine', hash: hashToken('x'), roles: ['root'] }, by: W }], 6);
  assert.equal(r!.ok ? 'ok' : r!.error, 'permission-denied');
  assert.equal(sm.auth.tokenByHash(hashToken('x')), undefined);
});

test('the auth state is part of the snapshot; an older snapshot without it restores as auth disabled', () => {
  const sm = new KvStateMachine();
  applyAll(sm, [...setup, { kv: { op: 'put', key: 'app/k', value: 'v' }, by: W }]);
  const snap = sm.snapshot();
  const back = new KvStateMachine();
  back.restore(snap, { index: 6, term: 1 });
  assert.equal(back.digest(), sm.digest());
  assert.equal(back.auth.enabled, true);
  const [refused] = applyAll(back, [{ kv: { op: 'put', key: 'app/k', value: 'no' }, by: R }], 7);
  assert.equal(refused!.ok ? 'ok' : refused!.error, 'permission-denied');
  assert.ok(!Buffer.from(snap).includes(Buffer.from('root-secret')), 'the snapshot holds no secret');

  // A snapshot written by the version before auth: the same fields, no `auth`.
  const old = encode({ v: 1, now: 5, lastSweep: 0, revision: 3, data: [['k', 'v', 1, 3]], sessions: [] });
  const restored = new KvStateMachine();
  restored.restore(old, { index: 3, term: 1 });
  assert.equal(restored.auth.enabled, false);
  assert.deepEqual(restored.get('k'), { key: 'k', value: 'v', revision: 3, createRevision: 1 });
  assert.deepEqual(applyAll(restored, [{ kv: { op: 'put', key: 'x', value: 'y' } }], 4), [{ ok: true, op: 'put', revision: 4 }]);
  // Without auth state the snapshot stays as it was: no auth field.
  const plain = new KvStateMachine();
  applyAll(plain, [{ kv: { op: 'put', key: 'k', value: 'v' } }]);
  assert.ok(!Buffer.from(plain.snapshot()).includes(Buffer.from('auth')));
});

test('determinism: replicas applying the same log agree on every result and on the digest', () => {
  const log: Entry[] = [
    ...setup,
    { kv: { op: 'put', key: 'app/1', value: 'a' }, by: W },
    { kv: { op: 'put', key: 'nope', value: 'a' }, by: W },
    { auth: { type: 'token-revoke', name: 'w' }, by: ROOT },
    { kv: { op: 'append', key: 'app/1', value: 'b' }, by: W },
    { auth: { type: 'role-remove', name: 'reader' }, by: ROOT },
    { auth: { type: 'disable' }, by: ROOT },
    { kv: { op: 'append', key: 'app/1', value: 'c' } },
  ];
  const a = new KvStateMachine();
  const b = new KvStateMachine();
  const ra = applyAll(a, log);
  const rb = applyAll(b, log);
  assert.deepEqual(ra, rb);
  assert.equal(a.digest(), b.digest());
  assert.deepEqual(a.get('app/1')?.value, 'ac');
  // A replica that lost only the revocation would disagree: the digest covers the auth state.
  const c = new KvStateMachine();
  applyAll(c, setup);
  const d = new KvStateMachine();
  applyAll(d, setup.slice(0, 4));
  assert.notEqual(c.digest(), d.digest());
});
