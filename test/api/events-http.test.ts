/**
 * `GET /v1/events` on three in-process nodes (real TCP, FileStorage): the
 * first snapshot, what a write and a leader change push, heartbeats, CORS for
 * members' origins, auth, and the dashboard page at `/`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventsEvent, EventsNodeState, EventsSnapshot } from '../../src/api/events-format.js';
import type { TsraftServer } from '../../src/server/server.js';
import { EventsClient, type StreamMessage } from './events-client.js';
import { inProcessClusterSuite } from './in-process-cluster.js';

const open: EventsClient[] = [];
const servers = inProcessClusterSuite('tsraft-events-', 'events-test', undefined, () => {
  for (const c of open) c.close();
});

const leader = (): TsraftServer => servers.find((s) => s.node.isLeader())!;
const follower = (): TsraftServer => servers.find((s) => !s.node.isLeader())!;

async function stream(s: TsraftServer, headers: Record<string, string> = {}): Promise<EventsClient> {
  const c = await EventsClient.open(s.apiUrl, headers);
  open.push(c);
  return c;
}

const put = (s: TsraftServer, key: string, value: string, token?: string): Promise<Response> =>
  fetch(`${s.apiUrl}/v1/kv/${key}`, { method: 'PUT', headers: { 'content-type': 'application/json', ...(token !== undefined && { authorization: `Bearer ${token}` }) }, body: JSON.stringify({ value }) });

test('the first message is a snapshot of the node: role, term, indexes, members with API URLs, log tail, events', async () => {
  const l = leader();
  assert.equal((await put(l, 'a', '1')).status, 200);
  const c = await stream(l);
  assert.equal(c.response.status, 200);
  assert.match(c.response.headers.get('content-type') ?? '', /^text\/event-stream/);
  assert.equal(c.response.headers.get('cache-control'), 'no-store');
  const first = await c.next(() => true);
  assert.equal(first.event, 'snapshot');
  const snap = first.data as EventsSnapshot;
  assert.equal(snap.v, 1);
  const n = snap.node;
  const st = l.node.status();
  assert.equal(n.id, l.config.name);
  assert.equal(n.role, 'leader');
  assert.equal(n.leader, l.config.name);
  assert.equal(n.vote, l.config.name);
  assert.equal(n.term, st.term);
  assert.ok(n.commit >= 2 && n.commit <= st.commitIndex, `commit ${n.commit}`);
  assert.ok(n.applied >= 2, `applied ${n.applied}`);
  assert.equal(n.lastTerm, st.term);
  assert.equal(n.apiUrl, l.apiUrl);
  // Every member, each with the API URL a browser connects to.
  assert.deepEqual(
    n.members.map((m) => [m.id, m.role, m.apiUrl]).sort(),
    servers.map((s) => [s.config.name, 'voter', s.apiUrl]).sort(),
  );
  // On the leader: each follower's progress.
  assert.deepEqual(n.peers.map((p) => p.id).sort(), servers.filter((s) => s !== l).map((s) => s.config.name).sort());
  for (const p of n.peers) assert.equal(p.lag, n.lastIndex - p.match);
  // The log tail: consecutive (index, term) pairs ending at the last index.
  assert.ok(n.log.length >= 2 && n.log.length <= 40);
  assert.deepEqual(n.log.at(-1), [n.lastIndex, n.lastTerm]);
  n.log.forEach(([i], k) => k > 0 && assert.equal(i, n.log[k - 1]![0] + 1));
  // The election that made this leader is among the recent events.
  assert.ok(snap.events.some((e) => e.kind === 'leader-changed' && e.leader === l.config.name), JSON.stringify(snap.events));
  c.close();
});

test('a write is pushed as a state message with the new indexes and log tail; heartbeats come every second', async () => {
  const l = leader();
  const f = follower();
  const c = await stream(f);
  const snap = (await c.next((m) => m.event === 'snapshot')).data as EventsSnapshot;
  assert.deepEqual(snap.node.peers, [], 'a follower reports no progress');
  const before = snap.node.lastIndex;
  assert.equal((await put(l, 'b', '2')).status, 200);
  const upd = await c.next((m) => m.event === 'state' && ((m.data as Partial<EventsNodeState>).applied ?? 0) > before);
  const s = upd.data as Partial<EventsNodeState>;
  assert.equal(typeof (upd.data as { at: number }).at, 'number');
  assert.ok(s.log !== undefined && s.log.some(([i]) => i === before + 1), JSON.stringify(s.log));
  // Only what changed: the members did not.
  assert.equal(s.members, undefined);
  const hb = await c.next((m) => m.event === 'comment', 2500);
  assert.match(hb.text ?? '', /^hb \d+$/);
  // Rates arrive within a couple of windows: the leader's messages to this follower are counted by the leader.
  const lc = await stream(l);
  const withRates = await lc.next((m) => m.event === 'state' && ((m.data as Partial<EventsNodeState>).rates?.sent[f.config.name]?.total ?? 0) > 0, 4000);
  const rates = (withRates.data as EventsNodeState).rates!;
  assert.ok((rates.sent[f.config.name]!.byType['Heartbeat'] ?? 0) > 0, JSON.stringify(rates.sent));
  c.close();
  lc.close();
});

test('a leader change is pushed as events: leader-changed with the new leader, term-changed', async () => {
  const old = leader();
  const target = follower();
  const c = await stream(target);
  await c.next((m) => m.event === 'snapshot');
  const r = await fetch(`${old.apiUrl}/v1/leader/transfer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: target.config.name }) });
  assert.equal(r.status, 200, await r.text());
  const ev = await c.next((m) => m.event === 'event' && (m.data as EventsEvent).kind === 'leader-changed' && (m.data as EventsEvent).leader === target.config.name, 5000);
  const e = ev.data as EventsEvent;
  assert.ok(e.term > 0 && e.seq > 0 && e.at > 0);
  await c.next((m: StreamMessage) => m.event === 'event' && (m.data as EventsEvent).kind === 'term-changed' && (m.data as EventsEvent).term === e.term, 1000);
  // The state message with the new role came before the event.
  const roleAt = c.messages.findIndex((m) => m.event === 'state' && (m.data as Partial<EventsNodeState>).role === 'leader');
  assert.ok(roleAt >= 0 && roleAt < c.messages.indexOf(ev), 'state before event');
  c.close();
});

test('CORS: a page from another member may read the stream; another site may not', async () => {
  const [a, b] = servers as [TsraftServer, TsraftServer];
  const fromMember = await fetch(`${a.apiUrl}/v1/events`, { headers: { origin: b.apiUrl } });
  assert.equal(fromMember.headers.get('access-control-allow-origin'), b.apiUrl);
  await fromMember.body?.cancel();
  // localhost is the same machine as a 127.0.0.1 member on the same port.
  const viaLocalhost = await fetch(`${a.apiUrl}/v1/events`, { headers: { origin: b.apiUrl.replace('127.0.0.1', 'localhost') } });
  assert.equal(viaLocalhost.headers.get('access-control-allow-origin'), b.apiUrl.replace('127.0.0.1', 'localhost'));
  await viaLocalhost.body?.cancel();
  const foreign = await fetch(`${a.apiUrl}/v1/events`, { headers: { origin: 'http://evil.example' } });
  assert.equal(foreign.headers.get('access-control-allow-origin'), null);
  await foreign.body?.cancel();
  const pre = await fetch(`${a.apiUrl}/v1/events`, { method: 'OPTIONS', headers: { origin: b.apiUrl, 'access-control-request-headers': 'authorization' } });
  assert.equal(pre.status, 204);
  assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/);
  const preForeign = await fetch(`${a.apiUrl}/v1/events`, { method: 'OPTIONS', headers: { origin: 'http://evil.example' } });
  assert.equal(preForeign.status, 403);
  const post = await fetch(`${a.apiUrl}/v1/events`, { method: 'POST' });
  assert.equal(post.status, 405);
  const query = await fetch(`${a.apiUrl}/v1/events?x=1`);
  assert.equal(query.status, 400);
});

test('the dashboard page is served at / and /dashboard as HTML, revalidated by ETag', async () => {
  const s = servers[0]!;
  for (const p of ['/', '/dashboard']) {
    const r = await fetch(`${s.apiUrl}${p}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    const html = await r.text();
    assert.match(html, /<title>tsraft · live cluster<\/title>/);
    assert.match(html, /<script type="module">/, 'the bundle is inlined');
    assert.doesNotMatch(html, /<script[^>]+src=/, 'no external script');
    const again = await fetch(`${s.apiUrl}${p}`, { headers: { 'if-none-match': r.headers.get('etag')! } });
    assert.equal(again.status, 304);
  }
  assert.equal((await fetch(`${s.apiUrl}/`, { method: 'POST' })).status, 405);
  const play = await fetch(`${s.apiUrl}/playground`);
  assert.equal(play.status, 200);
  assert.match(await play.text(), /<title>[^<]*playground[^<]*<\/title>/i);
});

test('with auth enabled the stream needs a valid token (as /v1/status), and the 401 carries CORS headers', async () => {
  const l = leader();
  const en = await fetch(`${l.apiUrl}/v1/auth/enable`, { method: 'POST' });
  assert.equal(en.status, 200);
  const { token } = (await en.json()) as { token: string };
  const other = servers.find((s) => s !== l)!;
  // The follower learns auth is on once it applied the change.
  const deadline = Date.now() + 5000;
  let refused: Response;
  for (;;) {
    refused = await fetch(`${other.apiUrl}/v1/events`, { headers: { origin: l.apiUrl } });
    if (refused.status === 401 || Date.now() > deadline) break;
    await refused.body?.cancel();
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get('access-control-allow-origin'), l.apiUrl);
  assert.equal(((await refused.json()) as { error: string }).error, 'unauthenticated');
  const bad = await fetch(`${other.apiUrl}/v1/events`, { headers: { authorization: 'Bearer nope' } });
  assert.equal(bad.status, 401);
  await bad.body?.cancel();
  const c = await stream(other, { authorization: `Bearer ${token}` });
  assert.equal(c.response.status, 200);
  assert.equal((await c.next(() => true)).event, 'snapshot');
  // The page itself needs no token: it holds no data.
  assert.equal((await fetch(`${other.apiUrl}/`)).status, 200);
  c.close();
});
