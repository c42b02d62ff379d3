/**
 * Tokens and roles through the HTTP API of three in-process nodes (real TCP,
 * FileStorage): 401 / 403 / 200 per route class, forwarding with the caller's
 * token, revocation on every node, the exempt routes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { TsraftServer } from '../../src/server/server.js';
import { silentLogger } from '../../src/util/log.js';
import { sleep } from '../process/harness.js';
import { startInProcessCluster } from './in-process-cluster.js';

let root: string;
const servers: TsraftServer[] = [];

before(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'tsraft-auth-'));
  // n3 protects /healthz and /metrics too (--auth-exempt '').
  servers.push(...(await startInProcessCluster(root, 'auth-test', (name: string) => (name === 'n3' ? { authExempt: [] } : {}))));
});

after(async () => {
  for (const s of servers) await s.stop();
  rmSync(root, { recursive: true, force: true });
});

const leader = (): TsraftServer => servers.find((s) => s.node.isLeader())!;
const follower = (): TsraftServer => servers.find((s) => !s.node.isLeader())!;
const n3 = (): TsraftServer => servers.find((s) => s.config.name === 'n3')!;

type Answer = { status: number; json: Record<string, unknown>; headers: Headers };
async function http(url: string, method: string, token?: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(url, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) });
  const text = await r.text();
  let json: Record<string, unknown>;
  try {
    json = text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = { text };
  }
  return { status: r.status, json, headers: r.headers };
}

/** Waits until every node has applied what the leader has (auth changes reach followers a moment later). */
async function settle(): Promise<void> {
  const target = leader().node.status().commitIndex;
  while (servers.some((s) => s.replica.applied < target)) await sleep(10);
}

let rootToken = '';
let readerToken = '';
let writerToken = '';

test('before auth is enabled every request is allowed without a token', async () => {
  assert.equal((await http(`${follower().apiUrl}/v1/kv/app/open`, 'PUT', undefined, { value: '1' })).status, 200);
  assert.equal((await http(`${leader().apiUrl}/v1/auth/status`, 'GET')).json['enabled'], false);
});

test('enable: returns the root token once and writes root.token (0600) in the handling node\'s data directory', async () => {
  const f = follower();
  const r = await http(`${f.apiUrl}/v1/auth/enable`, 'POST');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  rootToken = r.json['token'] as string;
  assert.match(rootToken, /^tsr_[A-Za-z0-9_-]{43}$/);
  const file = path.join(f.config.dataDir, 'root.token');
  assert.equal(r.json['file'], file);
  assert.equal(readFileSync(file, 'utf8').trim(), rootToken);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  await settle();
  // Enabling again needs admin now.
  const again = await http(`${leader().apiUrl}/v1/auth/enable`, 'POST');
  assert.equal(again.status, 401);
  assert.equal(again.json['error'], 'unauthenticated');
});

test('no token or a bad token: 401 with WWW-Authenticate: Bearer and a JSON error, on reads, writes, status and admin routes', async () => {
  for (const s of servers) {
    for (const [method, p, body] of [
      ['GET', '/v1/kv/app/open', undefined],
      ['GET', '/v1/kv?prefix=app/', undefined],
      ['GET', '/v1/kv/app/open?consistency=stale', undefined],
      ['PUT', '/v1/kv/app/x', { value: 'v' }],
      ['DELETE', '/v1/kv/app/open', undefined],
      ['GET', '/v1/status', undefined],
      ['GET', '/v1/members', undefined],
      ['POST', '/v1/leader/transfer', {}],
      ['GET', '/v1/backup', undefined],
      ['GET', '/v1/auth/tokens', undefined],
    ] as const) {
      for (const token of [undefined, 'tsr_not-a-real-token']) {
        const r = await http(`${s.apiUrl}${p}`, method, token, body);
        assert.equal(r.status, 401, `${s.config.name} ${method} ${p} token=${token}: ${JSON.stringify(r.json)}`);
        assert.equal(r.headers.get('www-authenticate'), 'Bearer');
        assert.equal(r.json['error'], 'unauthenticated');
        assert.equal(typeof r.json['message'], 'string');
      }
    }
  }
  // A malformed Authorization header is a bad token, not a crash.
  const odd = await fetch(`${leader().apiUrl}/v1/status`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
  assert.equal(odd.status, 401);
  assert.equal((await http(`${leader().apiUrl}/v1/kv/app/open`, 'GET')).status, 401);
});

test('/healthz and /metrics are exempt by default, protected where --auth-exempt is empty', async () => {
  for (const s of servers.filter((x) => x.config.name !== 'n3')) {
    assert.equal((await http(`${s.apiUrl}/healthz`, 'GET')).status, 200);
    assert.equal((await fetch(`${s.apiUrl}/metrics`)).status, 200);
  }
  assert.equal((await http(`${n3().apiUrl}/healthz`, 'GET')).status, 401);
  assert.equal((await fetch(`${n3().apiUrl}/metrics`)).status, 401);
  assert.equal((await http(`${n3().apiUrl}/healthz`, 'GET', rootToken)).status, 200);
});

test('roles and tokens are managed by admin only', async () => {
  const base = follower().apiUrl;
  assert.equal((await http(`${base}/v1/auth/roles`, 'POST', rootToken, { name: 'reader', read: ['app/'] })).status, 201);
  assert.equal((await http(`${base}/v1/auth/roles`, 'POST', rootToken, { name: 'writer', write: ['app/'] })).status, 201);
  const bad = await http(`${base}/v1/auth/roles`, 'POST', rootToken, { name: 'x', read: 'app/' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json['error'], 'invalid');
  const r = await http(`${base}/v1/auth/tokens`, 'POST', rootToken, { name: 'reader1', roles: ['reader'] });
  assert.equal(r.status, 201);
  readerToken = r.json['token'] as string;
  const w = await http(`${base}/v1/auth/tokens`, 'POST', rootToken, { name: 'writer1', roles: ['writer'] });
  writerToken = w.json['token'] as string;
  assert.equal((await http(`${base}/v1/auth/tokens`, 'POST', rootToken, { name: 'ghost', roles: ['nope'] })).status, 404);
  assert.equal((await http(`${base}/v1/auth/tokens`, 'POST', rootToken, { name: 'reader1', roles: ['reader'] })).status, 409);
  assert.equal((await http(`${base}/v1/auth/roles/root`, 'DELETE', rootToken)).status, 409);
  await settle();
  const list = await http(`${leader().apiUrl}/v1/auth/tokens`, 'GET', rootToken);
  assert.deepEqual(list.json['tokens'], [
    { name: 'reader1', roles: ['reader'] },
    { name: 'root', roles: ['root'] },
    { name: 'writer1', roles: ['writer'] },
  ]);
  assert.ok(!JSON.stringify(list.json).includes(readerToken), 'secrets are never listed');
  for (const t of [readerToken, writerToken]) {
    const x = await http(`${base}/v1/auth/tokens`, 'POST', t, { name: 'sneaky', roles: ['root'] });
    assert.equal(x.status, 403);
    assert.equal(x.json['error'], 'permission-denied');
    assert.equal((await http(`${base}/v1/auth/tokens`, 'GET', t)).status, 403);
    assert.equal((await http(`${base}/v1/auth/disable`, 'POST', t)).status, 403);
  }
});

test('a read token reads its prefix and nothing else, and cannot write (403)', async () => {
  for (const s of servers) {
    assert.equal((await http(`${s.apiUrl}/v1/kv/app/open`, 'GET', readerToken)).status, 200);
    assert.equal((await http(`${s.apiUrl}/v1/kv?prefix=app/`, 'GET', readerToken)).status, 200);
    assert.equal((await http(`${s.apiUrl}/v1/kv/app/open?consistency=stale`, 'GET', readerToken)).status, 200);
    assert.equal((await http(`${s.apiUrl}/v1/status`, 'GET', readerToken)).status, 200);
    for (const [method, p, body] of [
      ['PUT', '/v1/kv/app/open', { value: 'no' }],
      ['POST', '/v1/kv/app/open/append', { value: 'no' }],
      ['DELETE', '/v1/kv/app/open', undefined],
      ['GET', '/v1/kv/secret', undefined],
      ['GET', '/v1/kv?prefix=', undefined],
    ] as const) {
      const r = await http(`${s.apiUrl}${p}`, method, readerToken, body);
      assert.equal(r.status, 403, `${method} ${p}`);
      assert.equal(r.json['error'], 'permission-denied');
    }
  }
  assert.equal((await http(`${leader().apiUrl}/v1/kv/app/open`, 'GET', rootToken)).json['value'], '1', 'the refused writes changed nothing');
});

test('only admin changes membership or leadership: read and write tokens get 403 on every node; root works through a follower', async () => {
  for (const s of servers) {
    for (const t of [readerToken, writerToken]) {
      const add = await http(`${s.apiUrl}/v1/members`, 'POST', t, { name: 'n9', peerAddress: '127.0.0.1:1', apiUrl: 'http://127.0.0.1:1' });
      assert.equal(add.status, 403, JSON.stringify(add.json));
      assert.equal((await http(`${s.apiUrl}/v1/leader/transfer`, 'POST', t, {})).status, 403);
      assert.equal((await http(`${s.apiUrl}/v1/members/n1`, 'DELETE', t)).status, 403);
      assert.equal((await http(`${s.apiUrl}/v1/backup`, 'GET', t)).status, 403);
      assert.equal((await http(`${s.apiUrl}/v1/members`, 'GET', t)).status, 200, 'listing needs any valid token');
    }
  }
  assert.equal((await http(`${follower().apiUrl}/v1/kv/app/w`, 'PUT', writerToken, { value: 'ok' })).status, 200);
  const before = leader().config.name;
  // Forwarded to the leader with the caller's token: the leader checks it again.
  const t = await http(`${follower().apiUrl}/v1/leader/transfer`, 'POST', rootToken, {});
  assert.equal(t.status, 200, JSON.stringify(t.json));
  assert.notEqual(t.json['leader'], before);
});

test('a revoked token is refused by every node (linearizable reads check after the ReadIndex wait)', async () => {
  while (!servers.some((s) => s.node.isLeader())) await sleep(20);
  const r = await http(`${follower().apiUrl}/v1/auth/tokens/reader1`, 'DELETE', rootToken);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  // No waiting: a linearizable read on any node reflects the revocation committed before it.
  for (const s of servers) {
    const g = await http(`${s.apiUrl}/v1/kv/app/open`, 'GET', readerToken);
    assert.equal(g.status, 401, s.config.name);
  }
  await settle();
  for (const s of servers) assert.equal((await http(`${s.apiUrl}/v1/status`, 'GET', readerToken)).status, 401);
  // Auth status names the caller's token.
  assert.deepEqual((await http(`${leader().apiUrl}/v1/auth/status`, 'GET', writerToken)).json, { enabled: true, token: 'writer1' });
});

test('tsraft serve --join needs an admin token when auth is on (--token-file)', { timeout: 60_000 }, async () => {
  const join = async (name: string, token: string | undefined): Promise<TsraftServer> => {
    const dataDir = path.join(root, name);
    let tokenFile: string | undefined;
    if (token !== undefined) {
      tokenFile = path.join(root, `${name}.token`);
      writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    }
    return TsraftServer.start(
      { name, clusterId: 'auth-test', dataDir, listen: { host: '127.0.0.1', port: 0 }, api: { host: '127.0.0.1', port: 0 }, members: [], insecurePeers: true, join: follower().apiUrl, learner: true, tokenFile },
      { logger: silentLogger() },
    );
  };
  await assert.rejects(join('j1', undefined), /HTTP 401.*give an admin token with --token-file/);
  await assert.rejects(join('j2', writerToken), /HTTP 403.*not an admin token/);
  const j3 = await join('j3', rootToken);
  try {
    const members = await http(`${leader().apiUrl}/v1/members`, 'GET', rootToken);
    assert.ok((members.json['members'] as { name: string }[]).some((m) => m.name === 'j3'));
  } finally {
    await j3.stop();
    assert.equal((await http(`${leader().apiUrl}/v1/members/j3`, 'DELETE', rootToken)).status, 200);
  }
});

test('disable: admin only; then everything is open again and roles and tokens are kept', async () => {
  assert.equal((await http(`${leader().apiUrl}/v1/auth/disable`, 'POST', rootToken)).status, 200);
  await settle();
  assert.equal((await http(`${follower().apiUrl}/v1/kv/any`, 'PUT', undefined, { value: 'x' })).status, 200);
  assert.equal(((await http(`${leader().apiUrl}/v1/auth/tokens`, 'GET')).json['tokens'] as unknown[]).length, 2);
});
