/**
 * The membership routes of the HTTP API (`/v1/members`, `/v1/leader/transfer`)
 * against a fake MembershipApi: what each route calls, what it answers, how
 * bodies are validated, and how MembershipError codes map to statuses.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { MembershipError } from '../../src/api/membership.js';
import { FakeMembership, startApi } from './fake-membership.js';

let fake: FakeMembership;
let api: Awaited<ReturnType<typeof startApi>>;

before(async () => {
  fake = new FakeMembership();
  api = await startApi(fake, { membershipTimeoutMs: 300 });
});
after(() => api.close());
beforeEach(() => {
  fake.calls.length = 0;
  fake.members = ['n1', 'n2', 'n3'].map((n, i) => fake.view(n, i + 1, 'voter', 100));
  fake.leader = 'n1';
  fake.failNext = null;
  fake.delayMs = 0;
});

async function http(path: string, method: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  const r = await fetch(api.url + path, init);
  const text = await r.text();
  return { status: r.status, json: text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: r.headers };
}

const good = { name: 'n4', peerAddress: '10.0.0.4:7000', apiUrl: 'http://10.0.0.4:7100', learner: false };

test('GET /v1/members lists members and the leader', async () => {
  const r = await http('/v1/members', 'GET');
  assert.equal(r.status, 200);
  assert.equal(r.json['leader'], 'n1');
  assert.equal(r.json['joint'], false);
  const members = r.json['members'] as Record<string, unknown>[];
  assert.deepEqual(
    members.map((m) => [m['name'], m['role'], m['peerAddress'], m['apiUrl'], m['matchIndex']]),
    [
      ['n1', 'voter', 'n1.test:7000', 'http://n1.test:7100', 100],
      ['n2', 'voter', 'n2.test:7000', 'http://n2.test:7100', 100],
      ['n3', 'voter', 'n3.test:7000', 'http://n3.test:7100', 100],
    ],
  );
  assert.deepEqual(fake.calls, [{ op: 'list' }]);
});

test('POST /v1/members adds a node: 201 with the new member, the cluster id and the members', async () => {
  const r = await http('/v1/members', 'POST', { ...good, apiUrl: 'http://10.0.0.4:7100/', uid: 'a1b2-c3' });
  assert.equal(r.status, 201);
  assert.deepEqual(fake.calls, [{ op: 'add', req: { ...good, uid: 'a1b2-c3' } }], 'the trailing slash of apiUrl is dropped');
  assert.equal((r.json['member'] as Record<string, unknown>)['name'], 'n4');
  assert.equal(r.json['clusterId'], 'fake');
  assert.equal((r.json['members'] as unknown[]).length, 4);
  // learner defaults to false; IPv6 and host names are fine.
  const r2 = await http('/v1/members', 'POST', { name: 'n5.b_c-d', peerAddress: '[::1]:7005', apiUrl: 'https://db-5.example.com:8443' });
  assert.equal(r2.status, 201, JSON.stringify(r2.json));
  assert.deepEqual(fake.calls[1], { op: 'add', req: { name: 'n5.b_c-d', peerAddress: '[::1]:7005', apiUrl: 'https://db-5.example.com:8443', learner: false } });
  const r3 = await http('/v1/members', 'POST', { ...good, name: 'n6', learner: true });
  assert.equal(r3.status, 201);
  assert.equal((r3.json['member'] as Record<string, unknown>)['role'], 'learner');
});

test('POST /v1/members refuses bad bodies with a precise 400 and calls nothing', async () => {
  const cases: [unknown, RegExp][] = [
    [undefined, /a JSON body is required/],
    ['{oops', /malformed JSON/],
    ['[1]', /must be an object/],
    [{ ...good, name: undefined }, /"name" must be 1 to 64 characters/],
    [{ ...good, name: '' }, /"name"/],
    [{ ...good, name: 'x'.repeat(65) }, /"name"/],
    [{ ...good, name: 'n 4' }, /"name"/],
    [{ ...good, name: 'n/4' }, /"name"/],
    [{ ...good, name: 4 }, /"name"/],
    [{ ...good, peerAddress: '10.0.0.4' }, /"peerAddress" must be HOST:PORT/],
    [{ ...good, peerAddress: '10.0.0.4:0' }, /"peerAddress"/],
    [{ ...good, peerAddress: '10.0.0.4:65536' }, /"peerAddress"/],
    [{ ...good, peerAddress: 'http://10.0.0.4:7000' }, /"peerAddress"/],
    [{ ...good, peerAddress: ':7000' }, /"peerAddress"/],
    [{ ...good, apiUrl: '10.0.0.4:7100' }, /"apiUrl" must be an http/],
    [{ ...good, apiUrl: 'ftp://10.0.0.4' }, /"apiUrl"/],
    [{ ...good, apiUrl: 'http://u:p@10.0.0.4:7100' }, /"apiUrl"/],
    [{ ...good, apiUrl: 'http://10.0.0.4:7100/?x=1' }, /"apiUrl"/],
    [{ ...good, apiUrl: 7100 }, /"apiUrl"/],
    [{ ...good, learner: 'yes' }, /"learner" must be true or false/],
    [{ ...good, uid: '' }, /"uid"/],
    [{ ...good, uid: 'has space' }, /"uid"/],
    [{ ...good, peer: '10.0.0.4:7000' }, /unknown field "peer"/],
    [{ ...good, Name: 'x', extra: 1 }, /unknown fields "Name", "extra"/],
  ];
  for (const [body, message] of cases) {
    const r = await http('/v1/members', 'POST', body);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json['error'], 'invalid');
    assert.match(String(r.json['message']), message, JSON.stringify(body));
  }
  assert.deepEqual(fake.calls, []);
});

test('POST /v1/members/{name}/promote promotes a learner', async () => {
  fake.members = [...fake.members, fake.view('n4', 4, 'learner', 90)];
  const r = await http('/v1/members/n4/promote', 'POST');
  assert.equal(r.status, 200);
  assert.equal((r.json['member'] as Record<string, unknown>)['role'], 'voter');
  assert.equal((await http('/v1/members/n4/promote', 'POST', {})).status, 409, 'an empty object body is accepted; n4 is a voter now');
  assert.deepEqual(fake.calls, [
    { op: 'promote', name: 'n4' },
    { op: 'promote', name: 'n4' },
  ]);
  const bad = await http('/v1/members/n4/promote', 'POST', { force: true });
  assert.equal(bad.status, 400);
  assert.match(String(bad.json['message']), /unknown field "force"/);
});

test('DELETE /v1/members/{name} removes a member, the leader included', async () => {
  const r = await http('/v1/members/n1', 'DELETE');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { removed: 'n1' });
  assert.deepEqual(fake.calls, [{ op: 'remove', name: 'n1' }]);
  const enc = await http(`/v1/members/${encodeURIComponent('n2')}`, 'DELETE');
  assert.equal(enc.status, 200);
});

test('POST /v1/leader/transfer: to a named voter, or with no body / {} / {"to": null} to the best one', async () => {
  const r = await http('/v1/leader/transfer', 'POST', { to: 'n3' });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { leader: 'n3' });
  for (const body of [undefined, {}, { to: null }]) assert.equal((await http('/v1/leader/transfer', 'POST', body)).status, 200);
  assert.deepEqual(
    fake.calls.map((c) => (c.op === 'transfer' ? c.to : '?')),
    ['n3', null, null, null],
  );
  const bad = await http('/v1/leader/transfer', 'POST', { to: 'bad name' });
  assert.equal(bad.status, 400);
  assert.match(String(bad.json['message']), /"to"/);
  assert.equal((await http('/v1/leader/transfer', 'POST', { target: 'n2' })).status, 400);
  assert.equal((await http('/v1/leader/transfer', 'POST', { to: 3 })).status, 400);
});

test('member names in the path are validated', async () => {
  for (const p of ['/v1/members/bad%20name', '/v1/members/%E0%A4%A', `/v1/members/${'x'.repeat(65)}`, '/v1/members/']) {
    const r = await http(p, 'DELETE');
    assert.equal(r.status, 400, p);
    assert.equal(r.json['error'], 'invalid');
  }
  assert.equal((await http('/v1/members/a%2Fb/promote', 'POST')).status, 400);
  assert.deepEqual(fake.calls, []);
});

test('wrong methods get 405 with Allow; unknown paths 404', async () => {
  const cases: [string, string, string][] = [
    ['/v1/members', 'PUT', 'GET, POST'],
    ['/v1/members', 'DELETE', 'GET, POST'],
    ['/v1/members/n2', 'GET', 'DELETE'],
    ['/v1/members/n2/promote', 'GET', 'POST'],
    ['/v1/leader/transfer', 'GET', 'POST'],
  ];
  for (const [p, method, allow] of cases) {
    const r = await http(p, method);
    assert.equal(r.status, 405, `${method} ${p}`);
    assert.equal(r.json['error'], 'method-not-allowed');
    assert.equal(r.headers.get('allow'), allow);
  }
  for (const p of ['/v1/members/n2/demote', '/v1/members/n2/promote/x', '/v1/leader', '/v1/leader/transfer/n2']) {
    const r = await http(p, 'POST');
    assert.equal(r.status, 404, p);
    assert.equal(r.json['error'], 'not-found');
  }
  assert.deepEqual(fake.calls, []);
});

test('MembershipError codes map to 400, 404, 409 and 503 (with Retry-After), in the API error shape', async () => {
  const cases: [MembershipError['code'], number, string][] = [
    ['bad-request', 400, 'invalid'],
    ['not-found', 404, 'not-found'],
    ['conflict', 409, 'conflict'],
    ['unavailable', 503, 'unavailable'],
  ];
  const routes: [string, string, unknown][] = [
    ['/v1/members', 'GET', undefined],
    ['/v1/members', 'POST', good],
    ['/v1/members/n2/promote', 'POST', undefined],
    ['/v1/members/n2', 'DELETE', undefined],
    ['/v1/leader/transfer', 'POST', { to: 'n2' }],
  ];
  for (const [code, status, error] of cases) {
    for (const [p, method, body] of routes) {
      fake.failNext = new MembershipError(code, `why: ${code}`);
      const r = await http(p, method, body);
      assert.equal(r.status, status, `${code} on ${method} ${p}`);
      assert.deepEqual(r.json, { error, message: `why: ${code}` });
      assert.equal(r.headers.get('retry-after'), status === 503 ? '1' : null);
    }
  }
  // The fake's own errors go through the same mapping.
  assert.equal((await http('/v1/members/nobody', 'DELETE')).status, 404);
  assert.equal((await http('/v1/members', 'POST', { ...good, name: 'n2' })).status, 409);
  // Anything else is a 500.
  fake.failNext = new Error('boom');
  const r = await http('/v1/members', 'GET');
  assert.equal(r.status, 500);
  assert.deepEqual(r.json, { error: 'internal', message: 'boom' });
});

test('a change that does not finish in time gets 504: its outcome is unknown', async () => {
  fake.delayMs = 600;
  const r = await http('/v1/members/n2', 'DELETE');
  assert.equal(r.status, 504);
  assert.equal(r.json['error'], 'timeout');
  assert.match(String(r.json['message']), /may still complete: check GET \/v1\/members/);
});

test('without a MembershipApi every membership route answers 501', async () => {
  const bare = await startApi(undefined);
  try {
    for (const [p, method] of [
      ['/v1/members', 'GET'],
      ['/v1/members', 'POST'],
      ['/v1/members/n2/promote', 'POST'],
      ['/v1/members/n2', 'DELETE'],
      ['/v1/leader/transfer', 'POST'],
    ] as const) {
      const r = await fetch(bare.url + p, { method });
      assert.equal(r.status, 501, `${method} ${p}`);
      assert.deepEqual(await r.json(), { error: 'not-implemented', message: 'this node does not offer membership changes' });
    }
    assert.equal((await fetch(`${bare.url}/v1/status`)).status, 200, 'the rest of the API still works');
  } finally {
    await bare.close();
  }
});
