/**
 * The election recipe (src/client/recipes, docs/RECIPES.md) against three
 * in-process nodes over real TCP: one leader among several candidates, the
 * next elected when the leader's lease expires, a deposed leader's proclaim
 * refused, and observe() reporting each change in order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvClient } from '../../src/client/index.js';
import { DeposedError, Election, LeaseSession, type Leader, type Leadership } from '../../src/client/recipes/index.js';
import { sleep } from '../process/harness.js';
import { clientFrom, inProcessClusterSuite } from '../api/in-process-cluster.js';
import { until } from '../util/until.js';

const servers = inProcessClusterSuite('tsraft-recipes-election-', 'recipes-election-test');

/** A client per contender, each starting at a different node. */
const client = (i = 0): KvClient => clientFrom(servers, i);


test('one leader among three candidates; its lease expiring elects the next; a deposed leader\'s proclaim is refused; observe() sees every change in order', async () => {
  const c = client();
  const name = 'el/db';
  const seen: (Leader | null)[] = [];
  const stopObserving = new AbortController();
  const observer = (async () => {
    for await (const l of new Election(client(2), name).observe({ signal: stopObserving.signal })) seen.push(l);
  })();
  await until('observe reported no leader', () => seen.length === 1);
  assert.equal(seen[0], null);
  assert.equal(await new Election(c, name).leader(), null);

  // Three candidates, queued one after the other; the first leads, the others wait.
  const session1 = await LeaseSession.open(client(0), { ttl: 1 });
  const won: string[] = [];
  const campaign = (i: number, value: string, session?: LeaseSession): Promise<Leadership> =>
    new Election(client(i), name, { ttl: 2 }).campaign(value, session === undefined ? {} : { session }).then((l) => {
      won.push(value);
      return l;
    });
  const l1 = await campaign(0, 'alpha', session1);
  const p2 = campaign(1, 'beta');
  await until('beta queued', async () => (await c.list(`${name}/`)).length === 2);
  const p3 = campaign(2, 'gamma');
  await until('gamma queued', async () => (await c.list(`${name}/`)).length === 3);
  await sleep(150);
  assert.deepEqual(won, ['alpha'], 'two candidates lead at once');
  assert.deepEqual(await new Election(c, name).leader(), { key: l1.key, value: 'alpha', token: l1.token });

  // The leader proclaims a new value; the key stays on its lease.
  await l1.proclaim('alpha v2');
  assert.equal((await new Election(c, name).leader())?.value, 'alpha v2');
  assert.deepEqual((await c.getLease(session1.id))?.keys, [l1.key]);

  // The leader dies (stops renewing): after its TTL beta leads, gamma still waits.
  session1.abandon();
  const l2 = await p2;
  assert.deepEqual(won, ['alpha', 'beta']);
  assert.ok(l2.token > l1.token);
  assert.equal((await l1.lost).leaseId, session1.id);
  // The deposed leader comes back and proclaims: refused, beta's value stands.
  await assert.rejects(l1.proclaim('alpha is back'), DeposedError);
  assert.deepEqual(await new Election(c, name).leader(), { key: l2.key, value: 'beta', token: l2.token });

  // Beta resigns: gamma leads; gamma resigns: nobody.
  await l2.resign();
  const l3 = await p3;
  await l3.proclaim('gamma v2');
  await l3.resign();
  await until('observe reported the end', () => seen.at(-1) === null && seen.length > 1);
  stopObserving.abort();
  await observer;
  assert.deepEqual(
    seen.map((l) => (l === null ? null : `${l.value}@${l.token}`)),
    [null, `alpha@${l1.token}`, `alpha v2@${l1.token}`, `beta@${l2.token}`, `gamma@${l3.token}`, `gamma v2@${l3.token}`, null],
  );
  assert.equal(await new Election(c, name).leader(), null);
});

test('campaign with a timeout withdraws the candidate; the leader\'s fence guards its other writes', async () => {
  const c = client();
  const e = new Election(c, 'el2/svc', { ttl: 5 });
  const leader = await e.campaign('one');
  await assert.rejects(e.campaign('two', { timeoutMs: 200 }), (x: unknown) => x instanceof DOMException && x.name === 'TimeoutError');
  assert.deepEqual((await c.list('el2/svc/')).map((i) => i.key), [leader.key]);
  const ok = await c.txn({ compare: [leader.fence], success: [{ op: 'put', key: 'el2/config', value: 'from the leader' }] });
  assert.ok(ok.succeeded);
  await leader.resign();
  const refused = await c.txn({ compare: [leader.fence], success: [{ op: 'put', key: 'el2/config', value: 'from a former leader' }] });
  assert.equal(refused.succeeded, false);
  assert.equal((await c.get('el2/config'))!.value, 'from the leader');
});
