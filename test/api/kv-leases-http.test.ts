/**
 * KV leases (`/v1/leases`, docs/API.md "Leases") through the HTTP API and the
 * client library against three in-process nodes (real TCP between them,
 * FileStorage): expiry decided by the leader deletes the keys on every node
 * at one revision and watchers see the deletes; keep-alives keep them;
 * revoke deletes them; a lease survives a leader change while kept alive.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvClient, KvClientError, type WatchEvent } from '../../src/client/index.js';
import type { TsraftServer } from '../../src/server/server.js';
import { sleep } from '../process/harness.js';
import { inProcessClusterSuite } from './in-process-cluster.js';
import { until } from '../util/until.js';

/** One request, its status and body text. */
async function raw(base: string, method: string, p: string, body: string): Promise<{ status: number; body: string }> {
  const res = await fetch(base + p, { method, headers: { 'content-type': 'application/json' }, ...(body !== '' && { body }) });
  return { status: res.status, body: await res.text() };
}

const servers = inProcessClusterSuite('tsraft-kv-leases-', 'kv-leases-test');

const stopped = new Set<TsraftServer>();
const live = (): TsraftServer[] => servers.filter((s) => !stopped.has(s));
const client = (): KvClient => new KvClient({ endpoints: live().map((s) => s.apiUrl) });


test('grant, attach, list and get, revoke: the lease\'s keys go at the revoke\'s revision; bad requests get clear errors', async () => {
  const c = client();
  const l = await c.grantLease(60);
  assert.ok(l.id > 0);
  assert.equal(l.ttl, 60);
  await c.put('rv/a', '1', { lease: l.id });
  await c.put('rv/b', '2', { lease: l.id });
  await c.put('rv/keep', '3');
  const got = await c.getLease(l.id);
  assert.deepEqual(got?.keys, ['rv/a', 'rv/b']);
  // A leader elected under a second ago extends every lease by one election
  // timeout (1 s here: 50 ticks × 2 × 10 ms), so 61 is a right answer too.
  assert.ok(got!.remaining > 55 && got!.remaining <= 61, `remaining ${got!.remaining}`);
  assert.ok((await c.listLeases()).some((x) => x.id === l.id && x.ttl === 60));
  const r = await c.revokeLease(l.id);
  assert.equal(r.deletedKeys, 2);
  assert.deepEqual((await c.list('rv/')).map((i) => i.key), ['rv/keep']);
  assert.equal(await c.getLease(l.id), null);
  // Errors.
  await assert.rejects(c.keepAlive(l.id), (e: unknown) => e instanceof KvClientError && e.status === 404 && e.code === 'lease-not-found' && /lease \d+ does not exist/.test(e.message));
  await assert.rejects(c.revokeLease(l.id), (e: unknown) => e instanceof KvClientError && e.status === 404 && e.code === 'lease-not-found');
  await assert.rejects(c.put('rv/x', 'v', { lease: l.id }), (e: unknown) => e instanceof KvClientError && e.status === 404 && e.code === 'lease-not-found');
  await assert.rejects(c.grantLease(0), (e: unknown) => e instanceof KvClientError && e.status === 400 && /ttl must be a whole number of seconds from 1 to 31536000, got 0/.test(e.message));
  const url = servers[0]!.apiUrl;
  const noTtl = await raw(url, 'POST', '/v1/leases', '{}');
  assert.equal(noTtl.status, 400);
  assert.match(noTtl.body, /field \\"ttl\\" is required/);
  const badId = await raw(url, 'POST', '/v1/leases/abc/keepalive', '');
  assert.equal(badId.status, 400);
  assert.match(badId.body, /lease id must be a positive integer, got \\"abc\\"/);
  const badPut = await raw(url, 'PUT', '/v1/kv/rv%2Fy', JSON.stringify({ value: 'v', lease: -1 }));
  assert.equal(badPut.status, 400);
  assert.match(badPut.body, /field \\"lease\\" must be a positive integer/);
  const method = await raw(url, 'PUT', `/v1/leases/${l.id}`, '');
  assert.equal(method.status, 405);
});

test('an expired lease\'s keys are gone on every node at one revision, and watchers see the deletes there; a kept-alive lease keeps its keys', async () => {
  const c = client();
  const start = servers[0]!.kv.sm.revision + 1;
  const watcher = c.watch('ex/', { fromRevision: start })[Symbol.asyncIterator]();
  const dying = await c.grantLease(1);
  const kept = await c.grantLease(1);
  await c.put('ex/d1', 'v', { lease: dying.id });
  await c.put('ex/d2', 'v', { lease: dying.id });
  await c.put('ex/k', 'v', { lease: kept.id });
  const keeper = c.keepLeaseAlive(kept.id, { ttl: 1, intervalMs: 200 });
  await until('the dying lease to expire', async () => (await c.getLease(dying.id)) === null);
  // Every node applies the same expiry entry: same keys gone, same digest at the same index.
  await until('every node to apply it', () => new Set(servers.map((s) => s.kv.sm.revision)).size === 1);
  for (const s of servers) {
    assert.equal(s.kv.sm.get('ex/d1'), null);
    assert.equal(s.kv.sm.get('ex/d2'), null);
    assert.notEqual(s.kv.sm.get('ex/k'), null);
  }
  assert.equal(new Set(servers.map((s) => s.kv.sm.digest())).size, 1);
  const events: WatchEvent[] = [];
  while (events.filter((e) => e.type === 'delete').length < 2) events.push((await watcher.next()).value as WatchEvent);
  const deletes = events.filter((e) => e.type === 'delete');
  assert.deepEqual(deletes.map((e) => e.key), ['ex/d1', 'ex/d2']);
  assert.equal(deletes[0]!.revision, deletes[1]!.revision, 'both deletes at the expiry entry\'s revision');
  assert.ok(deletes[0]!.revision > events.filter((e) => e.type === 'put').at(-1)!.revision);
  await watcher.return?.(undefined);
  // The kept lease outlived several TTLs.
  await sleep(2500);
  assert.notEqual((await c.get('ex/k')), null);
  keeper.stop();
  await keeper.done;
  await until('the kept lease to expire once no longer kept alive', async () => (await c.get('ex/k')) === null);
});

test('a lease kept alive survives a leader change (the new leader extends it); it expires once no longer kept alive', async () => {
  const c = client();
  const l = await c.grantLease(1);
  await c.put('lc/k', 'v', { lease: l.id });
  const errors: unknown[] = [];
  const keeper = c.keepLeaseAlive(l.id, { ttl: 1, intervalMs: 250, onError: (e) => errors.push(e) });
  await sleep(500);
  const leader = servers.find((s) => s.node.isLeader())!;
  const oldTerm = leader.node.term;
  stopped.add(leader);
  await leader.stop();
  await until('a new leader', () => live().some((s) => s.node.isLeader() && s.node.term > oldTerm));
  // Several TTLs after the change the key is still there, on every live node.
  await sleep(3000);
  for (const s of live()) assert.notEqual(s.kv.sm.get('lc/k'), null, `lc/k on ${s.config.name}`);
  assert.ok((await c.getLease(l.id)) !== null);
  keeper.stop();
  await keeper.done;
  await until('the lease to expire after keep-alives stop', async () => (await c.get('lc/k')) === null);
  assert.equal(await c.getLease(l.id), null);
});
