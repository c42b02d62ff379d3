/** The permission logic and the auth state's actions (src/auth/model.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthState, ROOT_ROLE, hashToken, roleAllows, type Role } from '../../src/auth/model.js';

const H = (s: string): string => hashToken(s);

function enabledState(): AuthState {
  const s = new AuthState();
  assert.deepEqual(s.apply({ type: 'enable', rootHash: H('root-secret') }, undefined), { ok: true });
  return s;
}

test('a role allows reads and writes by key prefix, lists only of a prefix it covers, admin only with the flag', () => {
  const r: Role = { name: 'app', read: ['app/', 'pub'], write: ['app/w/'], admin: false };
  assert.equal(roleAllows(r, { kind: 'read', key: 'app/x' }), true);
  assert.equal(roleAllows(r, { kind: 'read', key: 'public' }), true);
  assert.equal(roleAllows(r, { kind: 'read', key: 'ap' }), false);
  assert.equal(roleAllows(r, { kind: 'read', key: 'other' }), false);
  assert.equal(roleAllows(r, { kind: 'write', key: 'app/w/1' }), true);
  assert.equal(roleAllows(r, { kind: 'write', key: 'app/x' }), false, 'read on a prefix is not write');
  assert.equal(roleAllows(r, { kind: 'list', prefix: 'app/sub/' }), true);
  assert.equal(roleAllows(r, { kind: 'list', prefix: 'app' }), false, "'app' also covers 'apple', which the role may not read");
  assert.equal(roleAllows(r, { kind: 'list', prefix: '' }), false);
  assert.equal(roleAllows(r, { kind: 'admin' }), false);
  assert.equal(roleAllows(r, { kind: 'authenticated' }), true);
  const all: Role = { name: 'all', read: [''], write: [], admin: true };
  assert.equal(roleAllows(all, { kind: 'list', prefix: '' }), true);
  assert.equal(roleAllows(all, { kind: 'admin' }), true);
  assert.equal(roleAllows(all, { kind: 'write', key: 'k' }), false);
});

test('while auth is off everything is allowed; once on, no token is 401, a token without the permission 403', () => {
  const s = new AuthState();
  assert.deepEqual(s.check(undefined, { kind: 'admin' }), { ok: true });
  s.apply({ type: 'role-add', role: { name: 'reader', read: ['a/'], write: [], admin: false } }, undefined);
  s.apply({ type: 'token-create', name: 'r', hash: H('r'), roles: ['reader'] }, undefined);
  s.apply({ type: 'enable', rootHash: H('root') }, undefined);
  assert.equal(s.enabled, true);
  const none = s.check(undefined, { kind: 'read', key: 'a/1' });
  assert.equal(none.ok ? 'ok' : none.error, 'unauthenticated');
  const bad = s.check(H('nope'), { kind: 'authenticated' });
  assert.equal(bad.ok ? 'ok' : bad.error, 'unauthenticated');
  assert.deepEqual(s.check(H('r'), { kind: 'read', key: 'a/1' }), { ok: true });
  const w = s.check(H('r'), { kind: 'write', key: 'a/1' });
  assert.equal(w.ok ? 'ok' : w.error, 'permission-denied');
  const adm = s.check(H('r'), { kind: 'admin' });
  assert.equal(adm.ok ? 'ok' : adm.error, 'permission-denied');
  assert.deepEqual(s.check(H('root'), { kind: 'admin' }), { ok: true });
  assert.deepEqual(s.check(H('root'), { kind: 'write', key: 'anything' }), { ok: true });
});

test('once enabled, every auth action needs an admin token; re-enabling replaces the root token', () => {
  const s = enabledState();
  const r = s.apply({ type: 'role-add', role: { name: 'x', read: [], write: [], admin: false } }, undefined);
  assert.equal(r.ok ? 'ok' : r.error, 'unauthenticated');
  assert.equal(s.roleList().some((x) => x.name === 'x'), false, 'a refused action changes nothing');
  s.apply({ type: 'role-add', role: { name: 'w', read: [], write: [''], admin: false } }, H('root-secret'));
  s.apply({ type: 'token-create', name: 'w', hash: H('w'), roles: ['w'] }, H('root-secret'));
  const byWriter = s.apply({ type: 'token-revoke', name: 'root' }, H('w'));
  assert.equal(byWriter.ok ? 'ok' : byWriter.error, 'permission-denied');
  const again = s.apply({ type: 'enable', rootHash: H('root-2') }, H('w'));
  assert.equal(again.ok ? 'ok' : again.error, 'permission-denied');
  assert.deepEqual(s.apply({ type: 'enable', rootHash: H('root-2') }, H('root-secret')), { ok: true });
  assert.equal(s.tokenByHash(H('root-secret')), undefined, 'the old root token is gone');
  assert.equal(s.tokenByHash(H('root-2'))?.name, 'root');
});

test('the root role cannot be removed or replaced; removing a role takes it from every token', () => {
  const s = enabledState();
  const root = H('root-secret');
  assert.equal((s.apply({ type: 'role-remove', name: ROOT_ROLE }, root) as { error: string }).error, 'conflict');
  assert.equal((s.apply({ type: 'role-add', role: { name: ROOT_ROLE, read: [], write: [], admin: false } }, root) as { error: string }).error, 'conflict');
  assert.deepEqual(s.check(root, { kind: 'admin' }), { ok: true });
  s.apply({ type: 'role-add', role: { name: 'r', read: [''], write: [], admin: false } }, root);
  s.apply({ type: 'token-create', name: 't', hash: H('t'), roles: ['r'] }, root);
  assert.deepEqual(s.apply({ type: 'role-remove', name: 'r' }, root), { ok: true });
  s.apply({ type: 'role-add', role: { name: 'r', read: [''], write: [], admin: false } }, root);
  assert.equal(s.check(H('t'), { kind: 'read', key: 'k' }).ok, false, 'a new role of the same name grants the old token nothing');
  assert.deepEqual(s.tokenList().find((t) => t.name === 't')?.roles, []);
});

test('tokens: names are unique, roles must exist, the last admin token cannot be revoked while auth is on', () => {
  const s = enabledState();
  const root = H('root-secret');
  assert.equal((s.apply({ type: 'token-create', name: 'x', hash: H('x'), roles: ['missing'] }, root) as { error: string }).error, 'not-found');
  assert.deepEqual(s.apply({ type: 'token-create', name: 'x', hash: H('x'), roles: [ROOT_ROLE] }, root), { ok: true });
  assert.equal((s.apply({ type: 'token-create', name: 'x', hash: H('y'), roles: [ROOT_ROLE] }, root) as { error: string }).error, 'conflict');
  assert.deepEqual(s.apply({ type: 'token-revoke', name: 'root' }, H('x')), { ok: true }, 'rotation: another admin token revokes root');
  assert.equal(s.check(root, { kind: 'authenticated' }).ok, false);
  assert.equal((s.apply({ type: 'token-revoke', name: 'x' }, H('x')) as { error: string }).error, 'conflict');
  assert.deepEqual(s.check(H('x'), { kind: 'admin' }), { ok: true }, 'the refused revocation left the token in place');
  assert.equal((s.apply({ type: 'token-revoke', name: 'nobody' }, H('x')) as { error: string }).error, 'not-found');
});

test('malformed actions are refused as invalid, whoever proposes them', () => {
  const s = new AuthState();
  const cases: unknown[] = [
    { type: 'enable', rootHash: 'short' },
    { type: 'role-add', role: { name: 'bad name', read: [], write: [], admin: false } },
    { type: 'role-add', role: { name: 'r', read: 'a/', write: [], admin: false } },
    { type: 'token-create', name: 't', hash: H('t'), roles: [] },
    { type: 'launch-missiles' },
  ];
  for (const c of cases) {
    const r = s.apply(c as never, undefined);
    assert.equal(r.ok ? 'ok' : r.error, 'invalid', JSON.stringify(c));
  }
  assert.equal(s.empty, true);
});

test('snapshot round trip keeps roles, tokens and the switch; no snapshot field is auth disabled', () => {
  const s = enabledState();
  s.apply({ type: 'role-add', role: { name: 'r', read: ['a'], write: ['b'], admin: false } }, H('root-secret'));
  s.apply({ type: 'token-create', name: 't', hash: H('t'), roles: ['r'] }, H('root-secret'));
  const back = AuthState.fromSnapshot(JSON.parse(JSON.stringify(s.snapshot())) as ReturnType<AuthState['snapshot']>);
  assert.equal(back.canonical(), s.canonical());
  assert.deepEqual(back.check(H('t'), { kind: 'write', key: 'b1' }), { ok: true });
  assert.equal(JSON.stringify(s.snapshot()).includes('"t"') && !JSON.stringify(s.snapshot()).includes('root-secret'), true, 'only hashes are kept');
  const old = AuthState.fromSnapshot(undefined);
  assert.equal(old.enabled, false);
  assert.equal(old.empty, true);
});
