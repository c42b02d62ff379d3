/**
 * Lease reads through the HTTP API, the client library and `tsraft kv get --consistency lease`,
 * against three in-process nodes started with `--lease-reads --read-consistency lease` (real TCP
 * between them, FileStorage in temporary directories); and the configuration that refuses them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kvCommand } from '../../src/cli/kv.js';
import { serveConfig } from '../../src/cli/serve.js';
import { KvClient } from '../../src/client/index.js';
import { ConfigError, validateConfig } from '../../src/server/config.js';
import { TsraftServer } from '../../src/server/server.js';
import { sleep } from '../process/harness.js';
import { inProcessClusterSuite } from './in-process-cluster.js';

const servers = inProcessClusterSuite('tsraft-lease-', 'lease-test', () => ({ leaseReads: true, readConsistency: 'lease' }));

const leader = (): TsraftServer => servers.find((s) => s.node.isLeader())!;
const follower = (): TsraftServer => servers.find((s) => !s.node.isLeader())!;

async function get(url: string): Promise<{ status: number; value: unknown }> {
  const r = await fetch(url);
  const json = (await r.json()) as Record<string, unknown>;
  return { status: r.status, value: json['value'] };
}

test('?consistency=lease, and reads by default on a --read-consistency lease server, are served from the lease and see every acknowledged write', async () => {
  const client = new KvClient({ endpoints: [leader().apiUrl] });
  // A lease needs an acknowledged round: wait for the first heartbeats after the election.
  await sleep(200);
  for (let i = 0; i < 5; i++) {
    await client.put('lk', `v${i}`);
    const before = leader().node.leaseReadsServed;
    assert.deepEqual(await get(`${leader().apiUrl}/v1/kv/lk?consistency=lease`), { status: 200, value: `v${i}` });
    assert.deepEqual(await get(`${leader().apiUrl}/v1/kv/lk`), { status: 200, value: `v${i}` }, 'the server default is lease');
    assert.equal(leader().node.leaseReadsServed, before + 2, 'both answered from the lease');
    // A follower's lease read is answered by the leader's lease too.
    assert.deepEqual(await get(`${follower().apiUrl}/v1/kv/lk?consistency=lease`), { status: 200, value: `v${i}` });
    assert.equal(leader().node.leaseReadsServed, before + 3);
  }
  const before = leader().node.leaseReadsServed;
  assert.equal((await get(`${leader().apiUrl}/v1/kv/lk?consistency=linearizable`)).value, 'v4');
  assert.equal(leader().node.leaseReadsServed, before, 'linearizable asked for: a ReadIndex round');
  assert.equal((await client.get('lk', { consistency: 'lease' }))?.value, 'v4');
  assert.equal(leader().node.leaseReadsServed, before + 1, 'the client library asks for a lease read');
  const out: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(`err: ${l}`) };
  assert.equal(await kvCommand('get', ['lk'], { endpoints: leader().apiUrl, consistency: 'lease' }, io), 0);
  assert.deepEqual(out, ['v4']);
  assert.equal(leader().node.leaseReadsServed, before + 2, 'tsraft kv get --consistency lease');
  assert.equal(await kvCommand('get', ['lk'], { endpoints: leader().apiUrl, consistency: 'sometimes' }, io), 2);
  assert.match(out.at(-1)!, /--consistency must be linearizable, lease or stale, got 'sometimes'/);
  const metrics = await (await fetch(`${leader().apiUrl}/metrics`)).text();
  assert.match(metrics, /^tsraft_lease_reads_served\{[^}]*\} [1-9]\d*$/m);
});

test('an unknown consistency is a 400 naming the three allowed', async () => {
  const r = await fetch(`${leader().apiUrl}/v1/kv/lk?consistency=leased`);
  assert.equal(r.status, 400);
  assert.match(((await r.json()) as { message: string }).message, /'linearizable', 'lease' or 'stale', got 'leased'/);
});

test('--read-consistency lease needs --lease-reads; a bad mode or drift bound is refused with the flag named', () => {
  const base = { id: 'n1', data: '/tmp/x', listen: '127.0.0.1:1', api: '127.0.0.1:2', insecurePeers: true };
  assert.throws(() => validateConfig(serveConfig({ ...base, readConsistency: 'lease' })), (e: unknown) => e instanceof ConfigError && /--read-consistency lease needs --lease-reads/.test(e.message));
  assert.throws(() => validateConfig(serveConfig({ ...base, leaseReads: true, readConsistency: 'fast' })), (e: unknown) => e instanceof ConfigError && /--read-consistency: expected linearizable or lease, got 'fast'/.test(e.message));
  assert.throws(() => validateConfig(serveConfig({ ...base, leaseReads: true, maxClockDriftPpm: '200000' })), (e: unknown) => e instanceof ConfigError && /--max-clock-drift-ppm/.test(e.message));
  assert.throws(() => serveConfig({ ...base, leaseReads: true, maxClockDriftPpm: '1%' }), (e: unknown) => e instanceof ConfigError && /--max-clock-drift-ppm/.test(e.message));
  const ok = validateConfig(serveConfig({ ...base, leaseReads: true, readConsistency: 'lease', maxClockDriftPpm: '500' }));
  assert.deepEqual([ok.leaseReads, ok.readConsistency, ok.maxClockDriftPpm], [true, 'lease', 500]);
});
