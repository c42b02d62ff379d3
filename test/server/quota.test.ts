/**
 * The space quota over HTTP on real servers (in this process, real TCP and
 * files): a write above --quota-bytes gets 507 and raises NOSPACE on every
 * node; every node then refuses writes that add data, deletes pass, disarm
 * clears it everywhere.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster, freePort, waitFor } from './helpers.js';

async function call(url: string, method: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(url, { method, ...(body !== undefined && { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

test('a write above the quota: 507 no-space, NOSPACE on every node, only deletes until disarmed', { timeout: 60_000 }, async () => {
  const c = new TestCluster();
  try {
    const names = ['n1', 'n2', 'n3'];
    const ports = await Promise.all(names.map(() => freePort()));
    const members = names.map((name, k) => ({ name, raft: { host: '127.0.0.1', port: ports[k]! } }));
    await Promise.all(names.map((name, k) => c.startNode({ name, listen: { host: '127.0.0.1', port: ports[k]! }, members, quotaBytes: 1000 })));
    await c.leader();
    const urls = names.map((n) => c.get(n).apiUrl);
    assert.equal((await call(`${urls[0]}/v1/kv/a`, 'PUT', { value: 'x'.repeat(600) })).status, 200);
    const refused = await call(`${urls[1]}/v1/kv/b`, 'PUT', { value: 'x'.repeat(600) });
    assert.equal(refused.status, 507);
    assert.equal(refused.json['error'], 'no-space');
    assert.match(String(refused.json['message']), /above the space quota of 1000 bytes/);
    assert.equal(refused.json['quotaBytes'], 1000);
    assert.equal(refused.json['sizeBytes'], 601);
    // Every node lists the alarm (linearizable read) and refuses writes that add data.
    for (const u of urls) {
      const a = await call(`${u}/v1/alarms`, 'GET');
      assert.equal(a.status, 200);
      assert.deepEqual((a.json['alarms'] as { alarm: string }[]).map((x) => x.alarm), ['NOSPACE'], u);
      assert.equal((await call(`${u}/v1/kv/small`, 'PUT', { value: '1' })).status, 507, `put on ${u}`);
      assert.equal((await call(`${u}/v1/kv/a/append`, 'POST', { value: '1' })).status, 507, `append on ${u}`);
      // A transaction with a put is refused like a put (before it is proposed); one of gets only passes.
      const txn = await call(`${u}/v1/txn`, 'POST', { success: [{ op: 'put', key: 'small', value: '1' }] });
      assert.equal(txn.status, 507, `txn on ${u}`);
      assert.equal(txn.json['error'], 'no-space');
      assert.match(String(txn.json['message']), /the store is read-only: alarm NOSPACE is active/);
      assert.deepEqual([txn.json['quotaBytes'], txn.json['sizeBytes']], [1000, 601]);
      assert.equal((await call(`${u}/v1/txn`, 'POST', { success: [{ op: 'get', key: 'a' }] })).status, 200, `read-only txn on ${u}`);
    }
    // Reads still work; metrics show the size and the alarm.
    assert.equal((await call(`${urls[2]}/v1/kv/a`, 'GET')).status, 200);
    const metrics = await (await fetch(`${urls[2]}/metrics`)).text();
    assert.match(metrics, /tsraft_kv_state_bytes\{node="n3"\} 601/);
    assert.match(metrics, /tsraft_alarms_active\{alarm="NOSPACE",node="n3"\} 1/);
    // Deletes pass; disarm (from any node) clears it everywhere.
    assert.equal((await call(`${urls[2]}/v1/kv/a`, 'DELETE')).status, 200);
    assert.equal((await call(`${urls[0]}/v1/alarms/disarm`, 'GET')).status, 405);
    assert.equal((await call(`${urls[0]}/v1/alarms/disarm`, 'POST', { alarm: 'NOPE' })).status, 400);
    const d = await call(`${urls[2]}/v1/alarms/disarm`, 'POST', {});
    assert.equal(d.status, 200);
    assert.deepEqual((d.json['disarmed'] as { alarm: string }[]).map((x) => x.alarm), ['NOSPACE']);
    for (const n of names) await waitFor(`${n} disarmed`, () => c.get(n).kv.sm.alarms().length === 0);
    assert.equal((await call(`${urls[1]}/v1/kv/b`, 'PUT', { value: 'x'.repeat(600) })).status, 200);
  } finally {
    for (const n of [...c.servers.keys()]) await c.stopNode(n);
    await c.close();
  }
});
