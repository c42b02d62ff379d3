/**
 * The client library's membership side against real API servers backed by a
 * fake MembershipApi: the endpoint list learned from `GET /v1/members` (on
 * failover and periodically, bounded), and the membership methods with their
 * retry rules (a change is retried only when it certainly did not apply).
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { MembershipError } from '../../src/api/membership.js';
import { KvClient, KvClientError, UnavailableError } from '../../src/client/index.js';
import type { KvService } from '../../src/kv/service.js';
import { freePort, sleep } from '../process/harness.js';
import { FakeMembership, startApi } from './fake-membership.js';

/** A KV service whose every key holds `v`. */
const constKv = { get: (key: string) => Promise.resolve({ key, value: 'v', revision: 1 }) } as unknown as KvService;

type Api = Awaited<ReturnType<typeof startApi>>;
const open: Api[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.close()));
});

/** n servers named n1..nn sharing one fake whose apiUrls are the servers' real URLs. */
async function cluster(n: number): Promise<{ fake: FakeMembership; apis: Map<string, Api>; addNode(name: string): Promise<Api> }> {
  const apis = new Map<string, Api>();
  const fake = new FakeMembership([], (name) => apis.get(name)?.url ?? `http://127.0.0.1:1/${name}`);
  const addNode = async (name: string): Promise<Api> => {
    const api = await startApi(fake, { kv: constKv, membershipTimeoutMs: 300 });
    open.push(api);
    apis.set(name, api);
    fake.members = [...fake.members, fake.view(name, fake.members.length + 1, 'voter', 100)];
    return api;
  };
  for (let i = 1; i <= n; i++) await addNode(`n${i}`);
  fake.leader = 'n1';
  return { fake, apis, addNode };
}

test('a client started with one URL learns every member, and keeps working as members come and go', async () => {
  const { fake, apis, addNode } = await cluster(3);
  const kv = new KvClient({ endpoints: [`${apis.get('n1')!.url}/`], requestTimeoutMs: 500, timeoutMs: 5000 });
  const view = await kv.members();
  assert.deepEqual(
    view.members.map((m) => m.name),
    ['n1', 'n2', 'n3'],
  );
  assert.deepEqual([...kv.currentEndpoints].sort(), ['n1', 'n2', 'n3'].map((n) => apis.get(n)!.url).sort());
  assert.equal(kv.currentEndpoints[0], apis.get('n1')!.url, 'the endpoint that answered stays first');

  // n4 and n5 join; n1 (the only URL the client was given) and n2 leave and shut down.
  await sleep(1100); // failovers refresh at most once a second
  await addNode('n4');
  await addNode('n5');
  fake.members = fake.members.filter((m) => m.name !== 'n1' && m.name !== 'n2');
  fake.leader = 'n4';
  await apis.get('n1')!.close();
  await apis.get('n2')!.close();
  assert.deepEqual(await kv.get('k'), { key: 'k', value: 'v', revision: 1 }, 'served after failing over');
  // The failover refreshed the list from a surviving member.
  assert.deepEqual([...kv.currentEndpoints].sort(), ['n3', 'n4', 'n5'].map((n) => apis.get(n)!.url).sort());

  // The member the client now prefers leaves too: it fails over among members it was never given.
  await sleep(1100);
  const gone = [...apis].find(([, a]) => a.url === kv.currentEndpoints[0])![0];
  assert.notEqual(gone, 'n1');
  fake.members = fake.members.filter((m) => m.name !== gone);
  await apis.get(gone)!.close();
  assert.equal((await kv.get('k'))!.value, 'v');
  assert.deepEqual([...kv.currentEndpoints].sort(), ['n3', 'n4', 'n5'].filter((n) => n !== gone).map((n) => apis.get(n)!.url).sort());
});

test('the member list is refreshed periodically, at most once per interval, without blocking requests', async () => {
  const { fake, apis, addNode } = await cluster(2);
  const kv = new KvClient({ endpoints: [apis.get('n1')!.url], refreshIntervalMs: 200 });
  for (let i = 0; i < 30; i++) await kv.get('k');
  const lists = (): number => fake.calls.filter((c) => c.op === 'list').length;
  assert.equal(lists(), 1, 'one refresh at the first request, none for the next 29 within the interval');
  await addNode('n3');
  await sleep(250);
  await kv.get('k');
  await sleep(50);
  assert.equal(lists(), 2);
  assert.ok(kv.currentEndpoints.includes(apis.get('n3')!.url), 'the periodic refresh found n3');
});

test('failovers refresh the list at most once a second, and an unreachable cluster keeps the old list', async () => {
  const { fake, apis } = await cluster(2);
  const kv = new KvClient({ endpoints: [apis.get('n1')!.url, apis.get('n2')!.url], requestTimeoutMs: 200, timeoutMs: 700, refreshIntervalMs: 60_000 });
  await kv.get('k');
  const before = [...kv.currentEndpoints];
  await apis.get('n1')!.close();
  await apis.get('n2')!.close();
  await assert.rejects(kv.get('k'), UnavailableError);
  assert.ok(fake.calls.filter((c) => c.op === 'list').length <= 2, 'the first refresh, then at most one more within 700 ms');
  assert.deepEqual([...kv.currentEndpoints].sort(), before.sort(), 'nobody answered: the list is kept');
});

test('a cluster without the membership API (501) turns discovery off; KV requests are unaffected', async () => {
  const bare = await startApi(undefined, { kv: constKv });
  open.push(bare);
  const dead = `http://127.0.0.1:${await freePort()}`;
  const kv = new KvClient({ endpoints: [bare.url, dead], refreshIntervalMs: 0 });
  for (let i = 0; i < 3; i++) assert.equal((await kv.get('k'))!.value, 'v');
  assert.deepEqual(kv.currentEndpoints, [bare.url, dead], 'the given endpoints are kept');
  await assert.rejects(kv.members(), (e: unknown) => e instanceof KvClientError && e.status === 501 && e.code === 'not-implemented');
});

test('addMember, promoteMember, removeMember, transferLeader send the documented requests', async () => {
  const { fake, apis } = await cluster(3);
  const kv = new KvClient({ endpoints: [apis.get('n2')!.url], discover: false });
  const added = await kv.addMember({ name: 'n4', peerAddress: '127.0.0.1:7004', apiUrl: 'http://127.0.0.1:7104', learner: true });
  assert.equal(added.member.role, 'learner');
  assert.equal(added.clusterId, 'fake');
  await kv.addMember({ name: 'n5', peerAddress: '127.0.0.1:7005', apiUrl: 'http://127.0.0.1:7105', uid: 'u-5' });
  assert.equal((await kv.promoteMember('n4')).role, 'voter');
  await kv.removeMember('n1');
  assert.deepEqual(await kv.transferLeader('n3'), { leader: 'n3' });
  assert.equal((await kv.transferLeader()).leader, 'n2');
  assert.deepEqual(fake.calls, [
    { op: 'add', req: { name: 'n4', peerAddress: '127.0.0.1:7004', apiUrl: 'http://127.0.0.1:7104', learner: true } },
    { op: 'add', req: { name: 'n5', peerAddress: '127.0.0.1:7005', apiUrl: 'http://127.0.0.1:7105', learner: false, uid: 'u-5' } },
    { op: 'promote', name: 'n4' },
    { op: 'remove', name: 'n1' },
    { op: 'transfer', to: 'n3' },
    { op: 'transfer', to: null },
  ]);
  assert.equal(kv.currentEndpoints.length, 1, 'discover: false keeps the given endpoints');
});

test('membership errors reach the caller with their status and code; only 503 and refused connections are retried', async () => {
  const { fake, apis } = await cluster(3);
  const kv = new KvClient({ endpoints: [`http://127.0.0.1:${await freePort()}`, apis.get('n1')!.url], discover: false, adminTimeoutMs: 3000 });
  await assert.rejects(kv.removeMember('nobody'), (e: unknown) => e instanceof KvClientError && e.status === 404 && e.code === 'not-found' && /no member named nobody/.test(e.message));
  await assert.rejects(kv.promoteMember('n2'), (e: unknown) => e instanceof KvClientError && e.status === 409 && e.code === 'conflict');
  await assert.rejects(kv.addMember({ name: 'bad name', peerAddress: 'x:1', apiUrl: 'http://x' }), (e: unknown) => e instanceof KvClientError && e.status === 400 && e.code === 'invalid');
  fake.calls.length = 0;
  // 503: nothing applied, so it is retried (the refused first endpoint was skipped too).
  fake.failNext = new MembershipError('unavailable', 'no leader');
  await kv.removeMember('n3');
  assert.deepEqual(fake.calls, [
    { op: 'remove', name: 'n3' },
    { op: 'remove', name: 'n3' },
  ]);
  // 504: the outcome is unknown, so it is not retried.
  fake.calls.length = 0;
  fake.delayMs = 500;
  await assert.rejects(kv.removeMember('n2'), (e: unknown) => e instanceof KvClientError && e.status === 504 && e.code === 'timeout');
  assert.equal(fake.calls.length, 1);
});
