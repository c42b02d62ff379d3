/**
 * `GET /v1/watch` on three in-process nodes (real TCP, FileStorage): every
 * change under the prefix in revision order without gaps or duplicates, from
 * any node, across a reconnect; the compacted-revision error; a slow watcher
 * cut; auth per prefix.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import type { TsraftServer } from '../../src/server/server.js';
import { inProcessClusterSuite } from './in-process-cluster.js';
import { WatchStream } from './watch-stream.js';

/** Revisions of history each node keeps (--watch-history): small, to reach its end in a test. */
const HISTORY = 60;

const open: WatchStream[] = [];
const servers = inProcessClusterSuite('tsraft-watch-', 'watch-test', () => ({ watchHistory: HISTORY }), () => {
  for (const c of open) c.close();
});

const leader = (): TsraftServer => servers.find((s) => s.node.isLeader())!;
const follower = (): TsraftServer => servers.find((s) => !s.node.isLeader())!;
let token: string | undefined;
const auth = (): Record<string, string> => (token === undefined ? {} : { authorization: `Bearer ${token}` });

async function watch(s: TsraftServer, query: Record<string, string>, headers: Record<string, string> = auth()): Promise<WatchStream> {
  const c = await WatchStream.open(s.apiUrl, query, headers);
  open.push(c);
  return c;
}

type Change = { type: 'put'; key: string; value: string; revision: number } | { type: 'delete'; key: string; revision: number };

/** One write on the leader; returns the change it made (what a watcher of its key must see). */
async function write(op: 'put' | 'append' | 'delete' | 'cas', key: string, value = '', prev?: string): Promise<Change> {
  const s = leader();
  const url = `${s.apiUrl}/v1/kv/${encodeURIComponent(key)}${op === 'append' ? '/append' : ''}`;
  const method = op === 'delete' ? 'DELETE' : op === 'append' ? 'POST' : 'PUT';
  const body = op === 'delete' ? undefined : JSON.stringify(op === 'cas' ? { value, prevValue: prev ?? null } : { value });
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json', ...auth() }, ...(body !== undefined && { body }) });
  const json = (await res.json()) as { revision: number };
  assert.equal(res.status, 200, JSON.stringify(json));
  if (op === 'delete') return { type: 'delete', key, revision: json.revision };
  // The value after the write: appends build on the current value.
  const got = (await (await fetch(`${s.apiUrl}/v1/kv/${encodeURIComponent(key)}`, { headers: auth() })).json()) as { value: string };
  return { type: 'put', key, value: got.value, revision: json.revision };
}

const pick = (c: Record<string, unknown>): Change => (c['type'] === 'put' ? { type: 'put', key: c['key'] as string, value: c['value'] as string, revision: c['revision'] as number } : { type: 'delete', key: c['key'] as string, revision: c['revision'] as number });

test('a follower streams every put, append, swap and delete under the prefix, in revision order, and nothing else', async () => {
  const f = follower();
  const w = await watch(f, { prefix: 'app/' });
  assert.equal(w.response.status, 200);
  assert.match(w.response.headers.get('content-type') ?? '', /^text\/event-stream/);
  await w.until((ms) => ms.some((m) => m.event === 'start'), 5000, 'started');
  const start = w.messages[0]!;
  assert.equal(start.event, 'start');
  assert.equal(start.data['prefix'], 'app/');
  assert.equal(start.data['fromRevision'], (start.data['revision'] as number) + 1, 'without fromRevision a watch starts after the revision applied');

  const expected: Change[] = [];
  expected.push(await write('put', 'app/a', '1'));
  await write('put', 'other/a', 'x');
  expected.push(await write('append', 'app/a', '2'));
  expected.push(await write('cas', 'app/b', 'new', undefined));
  const refused = await fetch(`${leader().apiUrl}/v1/kv/app%2Fb`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: 'z', prevValue: 'wrong' }) });
  assert.equal(refused.status, 412); // a swap that does not swap changes nothing: no event
  expected.push(await write('delete', 'app/a'));
  await fetch(`${leader().apiUrl}/v1/kv/app%2Fnone`, { method: 'DELETE' }); // deleting nothing changes nothing
  expected.push(await write('put', 'app/b', 'again'));
  await w.until((ms) => ms.filter((m) => m.event === 'put' || m.event === 'delete').length >= expected.length, 5000, 'every change');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(w.changes.map(pick), expected);
  assert.equal(expected[1]!.type === 'put' && expected[1]!.value, '12');
  // Each change event carries its revision as the SSE id, and a put its key's create revision.
  const puts = w.messages.filter((m) => m.event === 'put');
  assert.deepEqual(puts.map((m) => Number(m.id)), puts.map((m) => m.data['revision']));
  assert.equal(puts[1]!.data['createRevision'], expected[0]!.revision);
});

test('fromRevision is inclusive; a watcher that reconnects from its last revision + 1 sees every change exactly once', async () => {
  const writes: Change[] = [];
  for (let i = 0; i < 10; i++) writes.push(await write('put', `re/k${i % 3}`, `v${i}`));
  const from = writes[0]!.revision;
  const whole = await watch(servers[2]!, { prefix: 're/', fromRevision: String(from) });
  await whole.until((ms) => ms.filter((m) => m.event === 'put').length >= 10, 5000, 'the 10 changes');
  assert.deepEqual(whole.changes.map(pick), writes);

  // Read four, drop the stream, reopen on another node from the last + 1; more writes meanwhile.
  const first = await watch(servers[0]!, { prefix: 're/', fromRevision: String(from) });
  await first.until((ms) => ms.filter((m) => m.event === 'put').length >= 4, 5000, 'four changes');
  const seen = first.changes.slice(0, 4).map(pick);
  first.close();
  for (let i = 10; i < 15; i++) writes.push(await write('put', `re/k${i % 3}`, `v${i}`));
  const second = await watch(servers[1]!, { prefix: 're/', fromRevision: String(seen[3]!.revision + 1) });
  await second.until((ms) => ms.filter((m) => m.event === 'put').length >= 11, 5000, 'the rest');
  const all = [...seen, ...second.changes.map(pick)];
  assert.deepEqual(all, writes, 'no gap and no duplicate across the reconnect');
  assert.equal(new Set(all.map((c) => c.revision)).size, all.length);
});

test('progress events say how far the stream is complete; a start in the future waits for it', async () => {
  const now = leader().kv.sm.revision;
  const w = await watch(leader(), { prefix: 'quiet/', fromRevision: String(now + 3) });
  const a = await write('put', 'quiet/a', '1'); // before the start: not sent
  const b = await write('put', 'quiet/b', '2');
  const c = await write('put', 'quiet/c', '3');
  await w.until((ms) => ms.some((m) => m.event === 'put' && m.data['key'] === 'quiet/c'), 5000, 'quiet/c');
  const sent = w.changes.map(pick);
  assert.deepEqual(sent, [a, b, c].filter((x) => x.revision >= now + 3));
  await w.until((ms) => ms.some((m) => m.event === 'progress'), 3000, 'a progress event');
  const p = w.messages.find((m) => m.event === 'progress')!;
  assert.ok((p.data['revision'] as number) >= c.revision);
  assert.equal(p.id, String(p.data['revision']));
});

test('bad requests: 400 naming the parameter; only GET', async () => {
  for (const q of ['fromRevision=0', 'fromRevision=abc', 'fromRevision=-3', 'prefix=a&since=3']) {
    const res = await fetch(`${leader().apiUrl}/v1/watch?${q}`, { headers: auth() });
    const json = (await res.json()) as { error: string; message: string };
    assert.equal(res.status, 400, q);
    assert.equal(json.error, 'invalid');
    assert.match(json.message, /fromRevision|since/);
  }
  const post = await fetch(`${leader().apiUrl}/v1/watch`, { method: 'POST', headers: auth() });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET');
});

test('a revision older than the history holds: 410 compacted naming the oldest revision held; the oldest itself is served', async () => {
  for (let i = 0; i < HISTORY + 10; i++) await write('put', `fill/${i % 5}`, String(i));
  for (const s of servers) {
    while (s.kv.sm.revision < leader().kv.sm.revision) await new Promise((r) => setTimeout(r, 10));
    const res = await fetch(`${s.apiUrl}/v1/watch?prefix=fill/&fromRevision=1`, { headers: auth() });
    const json = (await res.json()) as { error: string; message: string; oldestRevision: number };
    assert.equal(res.status, 410, s.config.name);
    assert.equal(json.error, 'compacted');
    assert.ok(json.oldestRevision > 1 && json.oldestRevision > s.kv.sm.revision - HISTORY - 5, JSON.stringify(json));
    assert.match(json.message, new RegExp(`oldest revision held is ${json.oldestRevision}\\b`));
    const ok = await watch(s, { prefix: 'fill/', fromRevision: String(json.oldestRevision) });
    assert.equal(ok.response.status, 200);
    await ok.until((ms) => ms.some((m) => m.event === 'put'), 3000, 'the oldest change');
    assert.ok((ok.changes[0]!['revision'] as number) >= json.oldestRevision);
    ok.close();
  }
});

test('a watcher that does not read is cut with an error event once the history drops what it needs, after every change before it', async () => {
  const l = leader();
  // A raw connection that sends the request and then reads nothing.
  const sock = net.connect(l.apiAddress.port, l.apiAddress.host);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(`GET /v1/watch?prefix=slow/ HTTP/1.1\r\nhost: x\r\n${Object.entries(auth()).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  sock.pause();
  await new Promise((r) => setTimeout(r, 100));
  const watchersBefore = l.watch.stats.watchers;
  const cutBefore = l.watch.stats.cut['slow-watcher'];
  const big = 'x'.repeat(100_000);
  for (let i = 0; i < HISTORY * 3 && l.watch.stats.cut['slow-watcher'] === cutBefore; i++) await write('put', `slow/${i % 4}`, big);
  assert.equal(l.watch.stats.cut['slow-watcher'], cutBefore + 1, 'cut');
  assert.equal(l.watch.stats.watchers, watchersBefore - 1);
  // Now read: the events it was sent, then the error event saying why, then the end.
  let text = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => (text += d));
  sock.resume();
  await new Promise<void>((r) => sock.once('end', () => r()));
  sock.destroy();
  const m = /event: error\ndata: (.*)\n/.exec(text);
  assert.ok(m !== null, 'an error event ends the stream');
  const err = JSON.parse(m[1]!) as { error: string; message: string; nextRevision: number; oldestRevision: number };
  assert.equal(err.error, 'slow-watcher');
  assert.ok(err.nextRevision < err.oldestRevision);
  assert.match(err.message, /did not read its stream fast enough/);
  // It got every change up to the one it needed next, in order, and none after.
  const revs = [...text.matchAll(/^id: (\d+)\nevent: put$/gm)].map((x) => Number(x[1]));
  assert.ok(revs.length > 0);
  assert.deepEqual(revs, [...revs].sort((a, b) => a - b));
  assert.equal(revs.at(-1)! + 1, err.nextRevision);
});

test('with auth on: a token needs read permission on the prefix (401, 403); a revoked token\'s stream is cut', async () => {
  const base = leader().apiUrl;
  const post = async (p: string, body: unknown, t?: string): Promise<Response> => fetch(`${base}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(t !== undefined && { authorization: `Bearer ${t}` }) }, body: JSON.stringify(body) });
  const enable = (await (await post('/v1/auth/enable', {})).json()) as { token: string };
  token = enable.token;
  assert.equal((await post('/v1/auth/roles', { name: 'reader', read: ['sec/'] }, token)).status, 201);
  const created = (await (await post('/v1/auth/tokens', { name: 'r1', roles: ['reader'] }, token)).json()) as { token: string };
  const reader = created.token;
  // Every node has applied the auth changes.
  for (const s of servers) while (s.kv.sm.revision < leader().kv.sm.revision) await new Promise((r) => setTimeout(r, 10));
  for (const s of servers) {
    const none = await fetch(`${s.apiUrl}/v1/watch?prefix=sec/`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: string }).error, 'unauthenticated');
    const other = await fetch(`${s.apiUrl}/v1/watch?prefix=other/`, { headers: { authorization: `Bearer ${reader}` } });
    assert.equal(other.status, 403);
    assert.equal(((await other.json()) as { error: string }).error, 'permission-denied');
    const all = await fetch(`${s.apiUrl}/v1/watch`, { headers: { authorization: `Bearer ${reader}` } });
    assert.equal(all.status, 403, 'the empty prefix is every key');
    await all.body?.cancel();
  }
  const w = await watch(follower(), { prefix: 'sec/' }, { authorization: `Bearer ${reader}` });
  assert.equal(w.response.status, 200);
  const a = await write('put', 'sec/a', '1');
  await w.until((ms) => ms.some((m) => m.event === 'put'), 5000, 'the change');
  assert.deepEqual(w.changes.map(pick), [a]);
  const del = await fetch(`${base}/v1/auth/tokens/r1`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
  assert.equal(del.status, 200);
  await write('put', 'sec/b', 'after the revocation');
  await w.end();
  const last = w.messages.at(-1)!;
  assert.equal(last.event, 'error');
  assert.equal(last.data['error'], 'unauthenticated');
  assert.deepEqual(w.changes.map(pick), [a], 'nothing after the revocation');
});
