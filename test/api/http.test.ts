/**
 * The HTTP API and the client library against three in-process nodes on
 * loopback (real TCP between them, FileStorage in temporary directories).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { KvClient, KvClientError, UnavailableError } from '../../src/client/index.js';
import { TsraftServer } from '../../src/server/server.js';
import { silentLogger } from '../../src/util/log.js';
import { freePort, sleep } from '../process/harness.js';

let root: string;
const servers: TsraftServer[] = [];
let urls: string[] = [];

before(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'tsraft-api-'));
  const members = [];
  for (let i = 1; i <= 3; i++) members.push({ name: `n${i}`, raft: { host: '127.0.0.1', port: await freePort() } });
  for (const m of members) {
    servers.push(
      await TsraftServer.start(
        { name: m.name, clusterId: 'api-test', dataDir: path.join(root, m.name), listen: m.raft, api: { host: '127.0.0.1', port: 0 }, members, heartbeatTicks: 5, electionTicks: 50, insecurePeers: true },
        { logger: silentLogger() },
      ),
    );
  }
  urls = servers.map((s) => s.apiUrl);
  while (!servers.some((s) => s.node.isLeader())) await sleep(20);
});

after(async () => {
  for (const s of servers) await s.stop();
  rmSync(root, { recursive: true, force: true });
});

const leaderUrl = (): string => servers.find((s) => s.node.isLeader())!.apiUrl;
const followerUrl = (): string => servers.find((s) => !s.node.isLeader())!.apiUrl;

async function http(url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const init: RequestInit = { method, headers: { ...headers, ...(body !== undefined && { 'content-type': 'application/json' }) } };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const r = await fetch(url, init);
  const text = await r.text();
  return { status: r.status, json: text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: r.headers };
}

test('put, get, append, cas, delete and list, on the leader and on a follower (writes are forwarded)', async () => {
  for (const base of [leaderUrl(), followerUrl()]) {
    const k = `${base.slice(-5)}/key`;
    const enc = encodeURIComponent(k);
    const put = await http(`${base}/v1/kv/${enc}`, 'PUT', { value: 'a' });
    assert.equal(put.status, 200);
    assert.equal(typeof put.json['revision'], 'number');
    assert.deepEqual((await http(`${base}/v1/kv/${enc}`, 'GET')).json, { key: k, value: 'a', revision: put.json['revision'], createRevision: put.json['revision'] });
    assert.equal((await http(`${base}/v1/kv/${enc}/append`, 'POST', { value: 'b' })).status, 200);
    assert.equal((await http(`${base}/v1/kv/${enc}`, 'GET')).json['value'], 'ab');
    const miss = await http(`${base}/v1/kv/${enc}`, 'PUT', { value: 'x', prevValue: 'zz' });
    assert.equal(miss.status, 412);
    assert.equal(miss.json['current'], 'ab');
    assert.equal((await http(`${base}/v1/kv/${enc}`, 'PUT', { value: 'c', prevValue: 'ab' })).status, 200);
    assert.equal((await http(`${base}/v1/kv/${enc}?consistency=stale`, 'GET')).status, 200);
    // Lease reads are off on these servers: a lease read is an ordinary ReadIndex read.
    assert.equal((await http(`${base}/v1/kv/${enc}?consistency=lease`, 'GET')).json['value'], 'c');
    assert.ok(servers.every((s) => s.node.leaseReadsServed === 0));
    const list = await http(`${base}/v1/kv?prefix=${encodeURIComponent(k.slice(0, 5))}`, 'GET');
    assert.deepEqual(
      (list.json['items'] as { key: string; value: string }[]).map((i) => [i.key, i.value]),
      [[k, 'c']],
    );
    assert.equal((await http(`${base}/v1/kv/${enc}`, 'DELETE')).status, 200);
    assert.equal((await http(`${base}/v1/kv/${enc}`, 'GET')).status, 404);
    assert.equal((await http(`${base}/v1/kv/${enc}`, 'DELETE')).status, 404);
    const created = await http(`${base}/v1/kv/${enc}`, 'PUT', { value: 'new', prevValue: null });
    assert.equal(created.status, 200, 'prevValue null creates an absent key');
  }
});

test('bad requests get a 4xx with a JSON error, and nothing is applied', async () => {
  const base = leaderUrl();
  const before = (await http(`${base}/v1/kv?prefix=`, 'GET')).json['items'];
  const cases: [string, string, unknown, number, string][] = [
    ['/v1/kv/x', 'PUT', '{not json', 400, 'invalid'],
    ['/v1/kv/x', 'PUT', '[1,2]', 400, 'invalid'],
    ['/v1/kv/x', 'PUT', { valeu: 'typo' }, 400, 'invalid'],
    ['/v1/kv/x', 'PUT', { value: 42 }, 400, 'invalid'],
    ['/v1/kv/x', 'PUT', { value: 'v'.repeat((1 << 20) + 1) }, 400, 'invalid'],
    ['/v1/kv/x', 'PUT', { value: 'v'.repeat(3 << 20) }, 413, 'too-large'],
    ['/v1/kv/', 'PUT', { value: 'v' }, 400, 'invalid'],
    ['/v1/kv/x', 'PATCH', { value: 'v' }, 405, 'method-not-allowed'],
    ['/v1/kv/x/append', 'POST', {}, 400, 'invalid'],
    ['/v1/kv/x?consistency=sometimes', 'GET', undefined, 400, 'invalid'],
    ['/v1/kv?limit=many', 'GET', undefined, 400, 'invalid'],
    ['/v2/anything', 'GET', undefined, 404, 'not-found'],
    ['/v1/status', 'POST', {}, 405, 'method-not-allowed'],
  ];
  for (const [p, method, body, status, code] of cases) {
    const r = await http(`${base}${p}`, method, body);
    assert.equal(r.status, status, `${method} ${p}`);
    assert.equal(r.json['error'], code, `${method} ${p}`);
    assert.equal(typeof r.json['message'], 'string');
  }
  const seqBad = await http(`${base}/v1/kv/x`, 'PUT', { value: 'v' }, { 'x-client-id': 'c', 'x-request-seq': 'abc' });
  assert.equal(seqBad.status, 400);
  const half = await http(`${base}/v1/kv/x`, 'PUT', { value: 'v' }, { 'x-client-id': 'c' });
  assert.equal(half.status, 400);
  assert.equal((await http(`${base}/v1/kv/x`, 'PATCH')).headers.get('allow'), 'GET, PUT, DELETE');
  assert.deepEqual((await http(`${base}/v1/kv?prefix=`, 'GET')).json['items'], before, 'nothing was applied');
});

test('a retried write with the same X-Client-Id and X-Request-Seq applies once', async () => {
  const h = { 'x-client-id': 'retrier', 'x-request-seq': '1' };
  const a = await http(`${leaderUrl()}/v1/kv/once/append`, 'POST', { value: 'x' }, h);
  const b = await http(`${followerUrl()}/v1/kv/once/append`, 'POST', { value: 'x' }, h);
  assert.equal(a.status, 200);
  assert.deepEqual(b.json, a.json, 'the retry gets the first answer');
  assert.equal((await http(`${leaderUrl()}/v1/kv/once`, 'GET')).json['value'], 'x');
  await http(`${leaderUrl()}/v1/kv/once/append`, 'POST', { value: 'y' }, { 'x-client-id': 'retrier', 'x-request-seq': '2' });
  const stale = await http(`${leaderUrl()}/v1/kv/once/append`, 'POST', { value: 'x' }, h);
  assert.equal(stale.status, 409);
  assert.equal(stale.json['error'], 'stale-request');
  const expired = await http(`${leaderUrl()}/v1/kv/once`, 'PUT', { value: 'z' }, { 'x-client-id': 'stranger', 'x-request-seq': '9' });
  assert.equal(expired.status, 409);
  assert.equal(expired.json['error'], 'session-expired');
  assert.equal((await http(`${leaderUrl()}/v1/kv/once`, 'GET')).json['value'], 'xy');
});

test('status, health and metrics', async () => {
  const s = await http(`${followerUrl()}/v1/status`, 'GET');
  assert.equal(s.status, 200);
  assert.deepEqual(Object.keys(s.json).sort(), ['appliedIndex', 'commitIndex', 'id', 'lastIndex', 'leader', 'members', 'role', 'term']);
  assert.equal(s.json['role'], 'follower');
  assert.deepEqual(s.json['members'], ['n1', 'n2', 'n3']);
  assert.equal((await http(`${leaderUrl()}/v1/status`, 'GET')).json['role'], 'leader');
  assert.deepEqual((await http(`${leaderUrl()}/healthz`, 'GET')).json, { ok: true });
  const m = await fetch(`${leaderUrl()}/metrics`);
  assert.match(m.headers.get('content-type') ?? '', /text\/plain/);
  const text = await m.text();
  for (const name of ['tsraft_proposals_total', 'tsraft_commits_total', 'tsraft_applies_total', 'tsraft_elections_total', 'tsraft_leader_changes_total', 'tsraft_fsync_duration_seconds_bucket', 'tsraft_proposal_duration_seconds_bucket', 'tsraft_messages_sent', 'tsraft_messages_dropped', 'tsraft_is_leader']) {
    assert.ok(text.includes(name), `metric ${name}`);
  }
  assert.match(text, /tsraft_is_leader\{node="n\d"\} 1/);
});

test('the client library: all operations, failover past a dead endpoint, concurrent exactly-once writes', async () => {
  const dead = `http://127.0.0.1:${await freePort()}`;
  const kv = new KvClient({ endpoints: [dead, ...urls], requestTimeoutMs: 500 });
  assert.deepEqual(await kv.get('lib/none'), null);
  const { revision } = await kv.put('lib/a', '1');
  assert.deepEqual(await kv.get('lib/a'), { key: 'lib/a', value: '1', revision, createRevision: revision });
  await kv.append('lib/a', '2');
  assert.deepEqual(await kv.cas('lib/a', 'nope', '3'), { swapped: false, current: '12' });
  assert.equal((await kv.cas('lib/a', '12', '3')).swapped, true);
  assert.deepEqual(await kv.cas('lib/b', null, 'fresh'), { swapped: true, revision: (await kv.get('lib/b'))!.revision });
  assert.deepEqual(
    (await kv.list('lib/')).map((i) => i.key),
    ['lib/a', 'lib/b'],
  );
  const del = await kv.delete('lib/b');
  assert.equal(del.deleted, true);
  assert.ok(typeof del.revision === 'number' && del.revision > revision);
  assert.deepEqual(await kv.delete('lib/b'), { deleted: false });
  await Promise.all(Array.from({ length: 20 }, (_, i) => kv.append('lib/many', `<${i}>`)));
  const v = (await kv.get('lib/many'))!.value;
  for (let i = 0; i < 20; i++) assert.equal(v.split(`<${i}>`).length, 2, `<${i}> appears exactly once`);
  await assert.rejects(kv.put('', 'x'), (e: unknown) => e instanceof KvClientError && e.status === 400);
  const none = new KvClient({ endpoints: [dead], timeoutMs: 800, requestTimeoutMs: 200 });
  await assert.rejects(none.put('k', 'v'), (e: unknown) => e instanceof UnavailableError && /may or may not have applied/.test(e.message));
});

test('without a leader: 503 with Retry-After', async () => {
  // Stop two of three nodes; the survivor loses its leader (or, as leader, its quorum).
  const survivor = servers[2]!;
  await servers[0]!.stop();
  await servers[1]!.stop();
  await sleep(2500);
  const r = await http(`${survivor.apiUrl}/v1/kv/x`, 'PUT', { value: 'v' });
  assert.equal(r.status, 503, JSON.stringify(r.json));
  assert.equal(r.json['error'], 'no-leader');
  assert.equal(r.headers.get('retry-after'), '1');
  const g = await http(`${survivor.apiUrl}/v1/kv/x`, 'GET');
  assert.equal(g.status, 503);
});
