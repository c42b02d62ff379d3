/**
 * `POST /v1/txn` on three in-process nodes (real TCP, FileStorage): both
 * branches at one revision from any node, exactly-once with the session
 * headers, every error of the endpoint, and permissions per key.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TsraftServer } from '../../src/server/server.js';
import { sleep } from '../process/harness.js';
import { inProcessClusterSuite } from './in-process-cluster.js';

const servers = inProcessClusterSuite('tsraft-txn-', 'txn-test');

const leader = (): TsraftServer => servers.find((s) => s.node.isLeader())!;
const follower = (): TsraftServer => servers.find((s) => !s.node.isLeader())!;

type Answer = { status: number; json: Record<string, unknown> };
async function post(s: TsraftServer, body: unknown, headers: Record<string, string> = {}, p = '/v1/txn', method = 'POST'): Promise<Answer> {
  const r = await fetch(`${s.apiUrl}${p}`, { method, headers: { 'content-type': 'application/json', ...headers }, ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

async function get(key: string, headers: Record<string, string> = {}): Promise<Record<string, unknown> | null> {
  const r = await fetch(`${leader().apiUrl}/v1/kv/${encodeURIComponent(key)}`, { headers });
  return r.status === 404 ? null : ((await r.json()) as Record<string, unknown>);
}

test('a transaction sent to a follower applies its success branch at one revision and returns each result', async () => {
  const put = await fetch(`${leader().apiUrl}/v1/kv/acct/a`, { method: 'PUT', body: JSON.stringify({ value: '10' }) });
  const rev = ((await put.json()) as { revision: number }).revision;
  const r = await post(follower(), {
    compare: [
      { key: 'acct/a', target: 'value', op: '=', value: '10' },
      { key: 'acct/a', target: 'modRevision', op: '=', value: rev },
      { key: 'acct/b', target: 'exists', op: '=', value: false },
    ],
    success: [{ op: 'put', key: 'acct/a', value: '7' }, { op: 'put', key: 'acct/b', value: '3' }, { op: 'get', key: 'acct/a' }],
    failure: [{ op: 'get', key: 'acct/a' }],
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const revision = r.json['revision'] as number;
  assert.ok(revision > rev);
  assert.deepEqual(r.json, {
    succeeded: true,
    revision,
    results: [
      { op: 'put', key: 'acct/a', revision },
      { op: 'put', key: 'acct/b', revision },
      { op: 'get', key: 'acct/a', item: { value: '7', createRevision: rev, modRevision: revision } },
    ],
  });
  assert.deepEqual(await get('acct/a'), { key: 'acct/a', value: '7', revision, createRevision: rev });
  assert.deepEqual(await get('acct/b'), { key: 'acct/b', value: '3', revision, createRevision: revision });

  // The same compares now fail: the failure branch reads, nothing is written.
  const again = await post(leader(), { compare: [{ key: 'acct/a', target: 'value', op: '=', value: '10' }], success: [{ op: 'delete', key: 'acct/a' }], failure: [{ op: 'get', key: 'acct/a' }, { op: 'get', key: 'acct/none' }] });
  assert.equal(again.status, 200);
  assert.equal(again.json['succeeded'], false);
  assert.deepEqual(again.json['results'], [
    { op: 'get', key: 'acct/a', item: { value: '7', createRevision: rev, modRevision: revision } },
    { op: 'get', key: 'acct/none', item: null },
  ]);
  assert.deepEqual(await get('acct/a'), { key: 'acct/a', value: '7', revision, createRevision: rev });
});

test('a retried transaction with the same X-Client-Id and X-Request-Seq applies once and returns the same answer', async () => {
  const body = { compare: [{ key: 'once/k', target: 'exists', op: '=', value: false }], success: [{ op: 'put', key: 'once/k', value: 'first' }], failure: [{ op: 'get', key: 'once/k' }] };
  const session = { 'x-client-id': 'txn-retry', 'x-request-seq': '1' };
  const first = await post(follower(), body, session);
  const retry = await post(leader(), body, session);
  assert.equal(first.status, 200);
  assert.deepEqual(retry, first, 'the retry is answered from the session, not applied again');
  assert.equal(first.json['succeeded'], true);
  const older = await post(leader(), body, { 'x-client-id': 'txn-retry', 'x-request-seq': '2' });
  assert.equal(older.json['succeeded'], false, 'a new seq applies again: now the key exists');
  const stale = await post(leader(), body, session);
  assert.equal(stale.status, 409);
  assert.equal(stale.json['error'], 'stale-request');
});

test('every error of POST /v1/txn: malformed body (400 with the field path), too many operations, too large a body, wrong method or query', async () => {
  const s = follower();
  const cases: [unknown, RegExp][] = [
    ['{"compare": [', /JSON|body/i],
    [[1], /must be an object|JSON object/],
    [{ compare: [{ key: 'k', target: 'value', op: '~', value: 'x' }] }, /compare\[0\]\.op must be one of = != < >/],
    [{ success: [{ op: 'put', key: 'k' }] }, /success\[0\]\.value must be a string/],
    [{ failure: [{ op: 'get', key: 'a' }, { op: 'rm', key: 'b' }] }, /failure\[1\]\.op must be put, delete or get/],
    [{ success: [{ op: 'put', key: 'k', value: '1' }, { op: 'put', key: 'k', value: '2' }] }, /success\[1\] writes key "k" again/],
    [{ success: Array.from({ length: 129 }, (_, i) => ({ op: 'get', key: `k${i}` })) }, /success has 129 entries, more than the limit of 128/],
    [{ compare: [], typo: [] }, /unknown field "typo"/],
  ];
  for (const [body, re] of cases) {
    const r = await post(s, body);
    assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
    assert.equal(r.json['error'], 'invalid');
    assert.match(r.json['message'] as string, re);
  }
  const huge = await post(s, { success: [{ op: 'put', key: 'big', value: 'x'.repeat(3 << 20) }] });
  assert.equal(huge.status, 413);
  assert.equal(huge.json['error'], 'too-large');
  const wrongMethod = await post(s, undefined, {}, '/v1/txn', 'GET');
  assert.equal(wrongMethod.status, 405);
  const query = await post(s, {}, {}, '/v1/txn?dry=1');
  assert.equal(query.status, 400);
  const badSeq = await post(s, {}, { 'x-client-id': 'c', 'x-request-seq': 'one' });
  assert.equal(badSeq.status, 400);
  assert.match(badSeq.json['message'] as string, /X-Request-Seq/);
  // An empty transaction is valid: nothing compared, nothing applied, a revision still.
  const empty = await post(s, {});
  assert.equal(empty.status, 200);
  assert.deepEqual(empty.json['results'], []);
  assert.equal(empty.json['succeeded'], true);
});

test('permissions: read on every key compared or read, write on every key written (401 without a token, 403 outside the role)', async () => {
  const enable = await post(follower(), undefined, {}, '/v1/auth/enable');
  assert.equal(enable.status, 200, JSON.stringify(enable.json));
  const rootAuth = { authorization: `Bearer ${enable.json['token'] as string}` };
  assert.equal((await post(leader(), { name: 'app', read: ['app/', 'shared/'], write: ['app/'] }, rootAuth, '/v1/auth/roles')).status, 201);
  const t = await post(leader(), { name: 'app1', roles: ['app'] }, rootAuth, '/v1/auth/tokens');
  const app = { authorization: `Bearer ${t.json['token'] as string}` };
  // Followers learn the auth state a moment later.
  const target = leader().node.status().commitIndex;
  while (servers.some((s) => s.replica.applied < target)) await sleep(10);

  const ok = await post(follower(), { compare: [{ key: 'shared/flag', target: 'exists', op: '=', value: false }], success: [{ op: 'put', key: 'app/x', value: '1' }, { op: 'get', key: 'shared/cfg' }] }, app);
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  const none = await post(follower(), { success: [{ op: 'get', key: 'app/x' }] });
  assert.equal(none.status, 401);
  assert.equal(none.json['error'], 'unauthenticated');
  for (const body of [
    { compare: [{ key: 'secret/a', target: 'exists', op: '=', value: true }], success: [{ op: 'put', key: 'app/y', value: '1' }] },
    { success: [{ op: 'get', key: 'secret/b' }] },
    { success: [{ op: 'put', key: 'app/y', value: '1' }], failure: [{ op: 'delete', key: 'shared/cfg' }] },
  ]) {
    const r = await post(follower(), body, app);
    assert.equal(r.status, 403, JSON.stringify(body));
    assert.equal(r.json['error'], 'permission-denied');
  }
  assert.equal(await get('app/y', rootAuth), null, 'no refused transaction wrote');
});
