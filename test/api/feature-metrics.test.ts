/**
 * The metrics of watch, transactions and leases (docs/OPERATIONS.md,
 * "Metrics") on three in-process nodes scraped over `GET /metrics`: they move
 * with what the nodes do.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvClient } from '../../src/client/index.js';
import type { TsraftServer } from '../../src/server/server.js';
import { inProcessClusterSuite } from './in-process-cluster.js';
import { until } from '../util/until.js';

const servers = inProcessClusterSuite('tsraft-feature-metrics-', 'feature-metrics-test');

/** The value of metric `name` (with `label`, e.g. 'outcome="failed"', if given) on node `s`; 0 if absent. */
async function metric(s: TsraftServer, name: string, label?: string): Promise<number> {
  const text = await (await fetch(`${s.apiUrl}/metrics`)).text();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m !== null && m[1] === name && (label === undefined || m[2]!.split(',').includes(label))) return Number(m[3]);
  }
  return 0;
}


test('tsraft_watchers and tsraft_watch_events_sent_total follow the streams open on a node and the events written to them', async () => {
  const follower = servers.find((s) => !s.node.isLeader())!;
  const c = new KvClient({ endpoints: servers.map((s) => s.apiUrl) });
  assert.equal(await metric(follower, 'tsraft_watchers'), 0);
  const sentBefore = await metric(follower, 'tsraft_watch_events_sent_total');
  const ac = new AbortController();
  const res = await fetch(`${follower.apiUrl}/v1/watch?prefix=met/`, { signal: ac.signal });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  void (async () => {
    for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return;
  })();
  await until('one watcher', async () => (await metric(follower, 'tsraft_watchers')) === 1);
  for (let i = 0; i < 3; i++) await c.put(`met/${i}`, 'v');
  await c.put('other/0', 'v'); // not under the prefix: not sent
  await until('3 events sent', async () => (await metric(follower, 'tsraft_watch_events_sent_total')) === sentBefore + 3);
  ac.abort();
  await until('no watcher', async () => (await metric(follower, 'tsraft_watchers')) === 0);
  assert.equal(await metric(follower, 'tsraft_watch_events_sent_total'), sentBefore + 3, 'a counter never goes down');
});

test('tsraft_txns_applied_total counts each transaction on every node by outcome: succeeded, failed, refused', async () => {
  const c = new KvClient({ endpoints: servers.map((s) => s.apiUrl) });
  const outcomes = ['succeeded', 'failed', 'refused'] as const;
  const before = await Promise.all(servers.map((s) => Promise.all(outcomes.map((o) => metric(s, 'tsraft_txns_applied_total', `outcome="${o}"`)))));
  const absent = [{ key: 'tx/k', target: 'exists', op: '=', value: false }] as const;
  assert.equal((await c.txn({ compare: absent, success: [{ op: 'put', key: 'tx/k', value: '1' }] })).succeeded, true);
  assert.equal((await c.txn({ compare: absent, success: [{ op: 'put', key: 'tx/k', value: '2' }] })).succeeded, false);
  assert.equal((await c.txn({ compare: absent, failure: [{ op: 'get', key: 'tx/k' }] })).succeeded, false);
  // A put to a lease that does not exist refuses the whole transaction at apply time.
  await assert.rejects(c.txn({ success: [{ op: 'put', key: 'tx/l', value: '1', lease: 999_999 }] }));
  for (const [i, s] of servers.entries()) {
    const [succeeded, failed, refused] = before[i]! as [number, number, number];
    await until(`${s.config.name} applied the four`, async () => (await metric(s, 'tsraft_txns_applied_total', 'outcome="refused"')) === refused + 1);
    assert.deepEqual(await Promise.all(outcomes.map((o) => metric(s, 'tsraft_txns_applied_total', `outcome="${o}"`))), [succeeded + 1, failed + 2, refused + 1], s.config.name);
  }
});

test('tsraft_leases follows grants and revokes on every node; an expiry is counted as proposed on the leader and applied on every node', async () => {
  const c = new KvClient({ endpoints: servers.map((s) => s.apiUrl) });
  const leader = (): TsraftServer => servers.find((s) => s.node.isLeader())!;
  const held = await c.listLeases();
  const appliedBefore = await Promise.all(servers.map((s) => metric(s, 'tsraft_lease_expiries_applied_total')));
  const proposedBefore = await metric(leader(), 'tsraft_lease_expiries_proposed_total');
  const kept = await c.grantLease(60);
  const short = await c.grantLease(1);
  for (const s of servers) await until(`${s.config.name} holds both`, async () => (await metric(s, 'tsraft_leases')) === held.length + 2);
  // The 1-second lease, never kept alive, expires (after at most its TTL + the leader-change extension).
  await until('the short lease expired', async () => (await c.getLease(short.id)) === null, 15_000);
  assert.ok((await metric(leader(), 'tsraft_lease_expiries_proposed_total')) >= proposedBefore + 1);
  for (const [i, s] of servers.entries()) {
    await until(`${s.config.name} applied the expiry`, async () => (await metric(s, 'tsraft_lease_expiries_applied_total')) === appliedBefore[i]! + 1);
    await until(`${s.config.name} holds one`, async () => (await metric(s, 'tsraft_leases')) === held.length + 1);
  }
  await c.revokeLease(kept.id);
  for (const s of servers) await until(`${s.config.name} holds none of them`, async () => (await metric(s, 'tsraft_leases')) === held.length);
  assert.deepEqual(await Promise.all(servers.map((s) => metric(s, 'tsraft_lease_expiries_applied_total'))), appliedBefore.map((n) => n + 1), 'a revoke is not an expiry');
});
