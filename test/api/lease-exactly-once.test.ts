/**
 * Lease grants, keep-alives and revokes applied exactly once with the
 * session headers, and the `--max-leases` cap, through the HTTP API and the
 * client library against three in-process nodes (real TCP, FileStorage).
 * A grant whose answer is lost (a proxy in front of one node passes the
 * request on, then drops the connection before answering) is retried by the
 * client against another node and gets the same lease.
 */
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { KvClient, KvClientError } from '../../src/client/index.js';
import { inProcessClusterSuite } from './in-process-cluster.js';

const MAX_LEASES = 4;
const servers = inProcessClusterSuite('tsraft-lease-once-', 'lease-once-test', () => ({ maxLeases: MAX_LEASES }));

async function call(base: string, method: string, p: string, body: unknown, session?: { clientId: string; seq: number }): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (session !== undefined) {
    headers['x-client-id'] = session.clientId;
    headers['x-request-seq'] = String(session.seq);
  }
  const res = await fetch(base + p, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function leaseIds(): Promise<number[]> {
  return (await new KvClient({ endpoints: [servers[0]!.apiUrl], discover: false }).listLeases()).map((l) => l.id);
}

async function revokeAll(): Promise<void> {
  const c = new KvClient({ endpoints: [servers[0]!.apiUrl], discover: false });
  for (const id of await leaseIds()) await c.revokeLease(id);
}

/**
 * An HTTP proxy to `target` that, for the first `POST /v1/leases`, passes the
 * request on, waits for the node's whole answer, records it, and then destroys
 * the client's connection: the grant applied, its answer never arrived.
 */
async function answerLosingProxy(target: string): Promise<{ server: Server; url: string; lost: string[] }> {
  const lost: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const up = request(target + (req.url ?? '/'), { method: req.method, headers: req.headers }, (upRes) => {
        const body: Buffer[] = [];
        upRes.on('data', (c: Buffer) => body.push(c));
        upRes.on('end', () => {
          if (req.method === 'POST' && req.url === '/v1/leases' && lost.length === 0) {
            lost.push(Buffer.concat(body).toString());
            req.socket.destroy();
            return;
          }
          res.writeHead(upRes.statusCode ?? 500, upRes.headers);
          res.end(Buffer.concat(body));
        });
      });
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, lost };
}

test('a grant whose answer is lost is retried by the client on another node and returns the same lease: no second lease', async () => {
  await revokeAll();
  const proxy = await answerLosingProxy(servers[0]!.apiUrl);
  try {
    const c = new KvClient({ endpoints: [proxy.url, servers[1]!.apiUrl], discover: false });
    const l = await c.grantLease(30);
    assert.equal(proxy.lost.length, 1, 'the first answer was lost');
    const first = JSON.parse(proxy.lost[0]!) as { id: number };
    assert.equal(l.id, first.id, 'the retry answered the lease the lost grant created');
    assert.deepEqual(await leaseIds(), [l.id], 'exactly one lease');
    // The client's next grant is a new request (a new seq): a second lease.
    const l2 = await c.grantLease(30);
    assert.notEqual(l2.id, l.id);
    assert.deepEqual((await leaseIds()).sort((a, b) => a - b), [l.id, l2.id]);
  } finally {
    proxy.server.close();
    await revokeAll();
  }
});

test('with X-Client-Id and X-Request-Seq, a repeated grant, keep-alive or revoke (to any node) applies once and gets the first answer', async () => {
  await revokeAll();
  const [a, b] = [servers[0]!.apiUrl, servers[2]!.apiUrl];
  const g1 = await call(a, 'POST', '/v1/leases', { ttl: 30 }, { clientId: 'once', seq: 1 });
  const g2 = await call(b, 'POST', '/v1/leases', { ttl: 30 }, { clientId: 'once', seq: 1 });
  assert.equal(g1.status, 200);
  assert.deepEqual(g2, g1);
  const id = g1.json['id'] as number;
  assert.deepEqual(await leaseIds(), [id]);
  const k1 = await call(a, 'POST', `/v1/leases/${id}/keepalive`, undefined, { clientId: 'once', seq: 2 });
  const k2 = await call(b, 'POST', `/v1/leases/${id}/keepalive`, undefined, { clientId: 'once', seq: 2 });
  assert.equal(k1.status, 200);
  assert.deepEqual(k2, k1);
  const view = await call(a, 'GET', `/v1/leases/${id}`, undefined);
  assert.equal(view.json['generation'], 1, 'one keep-alive applied');
  const r1 = await call(a, 'DELETE', `/v1/leases/${id}`, undefined, { clientId: 'once', seq: 3 });
  const r2 = await call(b, 'DELETE', `/v1/leases/${id}`, undefined, { clientId: 'once', seq: 3 });
  assert.equal(r1.status, 200);
  assert.deepEqual(r2, r1, 'the retried revoke is answered, not 404');
  const stale = await call(a, 'POST', '/v1/leases', { ttl: 30 }, { clientId: 'once', seq: 1 });
  assert.equal(stale.status, 409);
  assert.equal(stale.json['error'], 'stale-request');
  assert.deepEqual(await leaseIds(), []);
});

test(`--max-leases ${MAX_LEASES}: the grant past it is refused with 429 too-many-leases naming the flag; a revoke makes room`, async () => {
  await revokeAll();
  const c = new KvClient({ endpoints: servers.map((s) => s.apiUrl), discover: false });
  const ids: number[] = [];
  for (let i = 0; i < MAX_LEASES; i++) ids.push((await c.grantLease(30)).id);
  const r = await call(servers[1]!.apiUrl, 'POST', '/v1/leases', { ttl: 30 });
  assert.equal(r.status, 429);
  assert.equal(r.json['error'], 'too-many-leases');
  assert.equal(r.json['maxLeases'], MAX_LEASES);
  assert.match(r.json['message'] as string, new RegExp(`holds ${MAX_LEASES} leases, its maximum \\(--max-leases ${MAX_LEASES}\\)`));
  await assert.rejects(c.grantLease(30), (e: unknown) => e instanceof KvClientError && e.status === 429 && e.code === 'too-many-leases');
  assert.equal((await leaseIds()).length, MAX_LEASES);
  await c.revokeLease(ids[0]!);
  const again = await c.grantLease(30);
  assert.ok(!ids.includes(again.id));
  assert.equal((await leaseIds()).length, MAX_LEASES);
  await revokeAll();
});
