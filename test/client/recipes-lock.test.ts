/**
 * The lock recipe (src/client/recipes, docs/RECIPES.md) against three
 * in-process nodes over real TCP: mutual exclusion under contention, order of
 * arrival, a paused holder losing the lock after its TTL with its fenced
 * write refused (and the unfenced one not), acquire timeout and abort, and
 * what release leaves behind.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvClient, UnavailableError } from '../../src/client/index.js';
import { DistributedLock, LeaseLostError, LeaseSession, guardedPut, type LockHandle } from '../../src/client/recipes/index.js';
import { sleep } from '../process/harness.js';
import { clientFrom, inProcessClusterSuite } from '../api/in-process-cluster.js';
import { until } from '../util/until.js';

const servers = inProcessClusterSuite('tsraft-recipes-lock-', 'recipes-lock-test');

/** A client per contender, each starting at a different node. */
const client = (i = 0): KvClient => clientFrom(servers, i);


test('5 contenders × 4 critical sections: never two inside at once, a read-modify-write counter ends exact, tokens increase in order of holding', async () => {
  const CONTENDERS = 5;
  const ROUNDS = 4;
  await client().put('mx/counter', '0');
  let inside = 0;
  let maxInside = 0;
  const tokens: number[] = [];
  await Promise.all(
    Array.from({ length: CONTENDERS }, async (_, w) => {
      const c = client(w);
      const lock = new DistributedLock(c, 'mx/lock', { ttl: 2 });
      for (let r = 0; r < ROUNDS; r++) {
        const h = await lock.acquire({ value: `worker ${w}` });
        inside += 1;
        maxInside = Math.max(maxInside, inside);
        tokens.push(h.token);
        // Read, think, write back: without mutual exclusion two workers read the same n and one increment is lost.
        const n = Number((await c.get('mx/counter'))!.value);
        await sleep(Math.floor(Math.random() * 5));
        const w1 = await guardedPut(c, h, 'mx/counter', String(n + 1));
        assert.ok(w1.succeeded, `worker ${w}: a holder's fenced write was refused`);
        inside -= 1;
        await h.release();
        assert.ok(h.signal.aborted && (h.signal.reason as LeaseLostError).reason === 'closed');
      }
    }),
  );
  assert.equal(maxInside, 1, 'two contenders held the lock at once');
  assert.equal((await client().get('mx/counter'))!.value, String(CONTENDERS * ROUNDS));
  assert.equal(tokens.length, CONTENDERS * ROUNDS);
  assert.deepEqual(tokens, [...tokens].sort((a, b) => a - b), `tokens not increasing: ${tokens.join(' ')}`);
  assert.equal(new Set(tokens).size, tokens.length);
  assert.deepEqual(await client().list('mx/lock/'), [], 'a released lock left keys behind');
});

test('waiters get the lock in order of arrival (create revision); a release lets in only the next one', async () => {
  const c = client();
  const lock = new DistributedLock(c, 'fifo/lock', { ttl: 5 });
  const first = await lock.acquire({ value: 'first' });
  const order: string[] = [];
  const waiting: Promise<LockHandle>[] = [];
  /** The keys each contender's client watched, in order. */
  const watched = new Map<string, string[]>();
  for (const name of ['b', 'c', 'd']) {
    const cc = client(watched.size + 1);
    const keys: string[] = [];
    watched.set(name, keys);
    const watch = cc.watch.bind(cc);
    cc.watch = (prefix, opts) => {
      keys.push(prefix);
      return watch(prefix, opts);
    };
    const p = new DistributedLock(cc, 'fifo/lock', { ttl: 5 }).acquire({ value: name });
    waiting.push(
      p.then((h) => {
        order.push(name);
        return h;
      }),
    );
    // The next contender queues only once this one's key exists.
    const queued = waiting.length + 1;
    await until(`${name} queued`, async () => (await c.list('fifo/lock/')).length === queued);
  }
  await sleep(200);
  assert.deepEqual(order, [], 'a waiter got the lock while it was held');
  assert.deepEqual(await lock.holder(), { key: first.key, token: first.token, value: 'first' });
  await first.release();
  const hb = await waiting[0]!;
  await sleep(100);
  assert.deepEqual(order, ['b'], 'releasing woke more than the next waiter into the lock');
  await hb.release();
  const hc = await waiting[1]!;
  await hc.release();
  const hd = await waiting[2]!;
  await hd.release();
  assert.deepEqual(order, ['b', 'c', 'd']);
  assert.ok(first.token < hb.token && hb.token < hc.token && hc.token < hd.token);
  // No herd: each waiter watched only the key just before its own (then, holding, its own key).
  assert.deepEqual(watched.get('b'), [first.key, hb.key]);
  assert.deepEqual(watched.get('c'), [hb.key, hc.key]);
  assert.deepEqual(watched.get('d'), [hc.key, hd.key]);
});

test('a holder that stops renewing (paused, crashed) loses the lock after its TTL; the next waiter gets it; the stale holder\'s fenced write is refused, an unfenced one would have clobbered', async () => {
  const cA = client(0);
  const cB = client(1);
  await cA.put('fence/resource', 'initial');
  const sessionA = await LeaseSession.open(cA, { ttl: 1 });
  const a = await new DistributedLock(cA, 'fence/lock').acquire({ session: sessionA });
  assert.ok((await guardedPut(cA, a, 'fence/resource', 'A was here')).succeeded);
  const bAcquired = new DistributedLock(cB, 'fence/lock', { ttl: 2 }).acquire({ value: 'B' });
  await until('B queued', async () => (await cA.list('fence/lock/')).length === 2);

  // A pauses: no more keep-alives, no release. The cluster expires its lease after the TTL (plus, at most, a leader change's extension).
  const pausedAt = Date.now();
  sessionA.abandon();
  const b = await bAcquired;
  const waited = Date.now() - pausedAt;
  assert.ok(waited >= 900, `B got the lock ${waited} ms after A paused, before A's 1 s lease could expire`);
  assert.ok(b.token > a.token);
  // A's own signal says so too (its local deadline, or the deletion of its key).
  const why = await a.lost;
  assert.ok(why instanceof LeaseLostError && ['deadline', 'deleted', 'expired'].includes(why.reason), `A lost it for ${why.reason}`);

  assert.ok((await guardedPut(cB, b, 'fence/resource', 'B was here')).succeeded);
  // A wakes up and writes as if it still held the lock: the fence refuses it.
  const stale = await guardedPut(cA, a, 'fence/resource', 'stale A');
  assert.equal(stale.succeeded, false);
  assert.equal((await cA.get('fence/resource'))!.value, 'B was here');
  // Without the fence, the same write goes through and overwrites B's work: the failure fencing prevents.
  await cA.put('fence/resource', 'stale A, unfenced');
  assert.equal((await cB.get('fence/resource'))!.value, 'stale A, unfenced');
  await b.release();
});

test('acquire with a timeout or an abort signal gives up and leaves the queue (its own lease revoked; a given session kept, its key deleted)', async () => {
  const c = client();
  const lock = new DistributedLock(c, 'to/lock', { ttl: 5 });
  const holder = await lock.acquire();

  const t0 = Date.now();
  await assert.rejects(lock.acquire({ timeoutMs: 300 }), (e: unknown) => e instanceof DOMException && e.name === 'TimeoutError');
  assert.ok(Date.now() - t0 < 3000);
  assert.deepEqual((await c.list('to/lock/')).map((i) => i.key), [holder.key], 'a waiter that timed out left its key');

  const session = await LeaseSession.open(c, { ttl: 5 });
  const ac = new AbortController();
  const p = lock.acquire({ signal: ac.signal, session });
  await until('the waiter queued', async () => (await c.list('to/lock/')).length === 2);
  ac.abort(new Error('changed my mind'));
  await assert.rejects(p, /changed my mind/);
  assert.deepEqual((await c.list('to/lock/')).map((i) => i.key), [holder.key], 'an aborted waiter left its key');
  assert.ok(session.alive && (await c.getLease(session.id)) !== null, 'the given session was closed');

  // An already aborted signal: nothing is queued.
  await assert.rejects(lock.acquire({ signal: AbortSignal.abort(new Error('no')), session }), /no/);

  // Release: with its own lease, the lease is revoked; with a given session, only the key goes.
  await holder.release();
  assert.equal(await c.getLease(holder.session.id), null, 'release left the lock\'s own lease');
  const h2 = await lock.acquire({ session });
  assert.equal(h2.key, `to/lock/${session.id}`);
  await h2.release();
  assert.deepEqual(await c.list('to/lock/'), []);
  assert.notEqual(await c.getLease(session.id), null, 'release revoked a session it was given');
  // The session can queue again once released; not twice at once.
  const h3 = await lock.acquire({ session });
  await assert.rejects(lock.acquire({ session }), /already queues/);
  await h3.release();
  await session.close();
  assert.equal(await c.getLease(session.id), null);
});

test('a holder whose key is deleted by someone else is told at once (reason deleted)', async () => {
  const c = client();
  const h = await new DistributedLock(c, 'del/lock', { ttl: 5 }).acquire();
  await c.delete(h.key);
  const why = await Promise.race([h.lost, sleep(3000).then(() => null)]);
  assert.ok(why instanceof LeaseLostError && why.reason === 'deleted', `lost: ${String(why)}`);
  assert.equal((await guardedPut(c, h, 'del/x', 'v')).succeeded, false);
  await h.release();
});

test('a session cut off from the cluster gives up at its own deadline (one TTL after its last keep-alive was sent), before the cluster can expire the lease; close() then revokes it', async () => {
  const c = client();
  const session = await LeaseSession.open(c, { ttl: 1 });
  const openedAt = Date.now();
  // The cluster keeps the lease (another client renews it), but this session's keep-alives no longer get through.
  const other = client(1).keepLeaseAlive(session.id, { ttl: 1, intervalMs: 200 });
  c.keepAlive = () => Promise.reject(new UnavailableError('partitioned (test)', 0, 'unavailable'));
  const why = await new Promise<LeaseLostError>((resolve) => session.signal.addEventListener('abort', () => resolve(session.signal.reason as LeaseLostError)));
  const after = Date.now() - openedAt;
  assert.equal(why.reason, 'deadline');
  // Its TTL from the grant, give or take a loaded machine's timer lateness.
  assert.ok(after >= 900 && after <= 1500, `gave up ${after} ms after the grant, not at its 1 s TTL`);
  assert.equal(session.alive, false);
  assert.notEqual(await c.getLease(session.id), null, 'the lease should still be alive on the cluster');
  other.stop();
  await session.close();
  assert.equal(await c.getLease(session.id), null, 'close() left a lease the session had given up on');
});
