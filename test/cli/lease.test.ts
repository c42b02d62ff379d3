/**
 * `tsraft lease grant | keepalive | revoke | list` and `tsraft kv put --lease`
 * against three in-process nodes: the printed lines, the exit codes and the
 * usage errors.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kvCommand } from '../../src/cli/kv.js';
import { leaseGrant, leaseKeepAlive, leaseList, leaseRevoke } from '../../src/cli/lease.js';
import { KvClient } from '../../src/client/index.js';
import { inProcessClusterSuite } from '../api/in-process-cluster.js';
import { capture } from './capture.js';

const servers = inProcessClusterSuite('tsraft-cli-lease-', 'cli-lease-test');

test('grant, put --lease, list, keepalive --once, revoke: lines and exit codes', async () => {
  const flags = { endpoints: servers.map((s) => s.apiUrl).join(',') };
  const g = capture();
  assert.equal(await leaseGrant('30', flags, g.io), 0);
  const m = /^lease (\d+) granted with TTL 30s$/.exec(g.out[0] ?? '');
  assert.ok(m !== null, g.out.join('\n'));
  const id = m[1]!;
  const p = capture();
  assert.equal(await kvCommand('put', ['cli/a', 'v'], { ...flags, lease: id }, p.io), 0);
  const l = capture();
  assert.equal(await leaseList(flags, l.io), 0);
  assert.match(l.out[0]!, /^ID\s+TTL\s+REMAINING\s+KEYS$/);
  assert.ok(l.out.some((line) => new RegExp(`^${id}\\s+30\\s+\\d+\\s+1$`).test(line)), l.out.join('\n'));
  const k = capture();
  assert.equal(await leaseKeepAlive(id, { ...flags, once: true }, k.io), 0);
  assert.deepEqual(k.out, [`lease ${id} kept alive, TTL 30s`]);
  const r = capture();
  assert.equal(await leaseRevoke(id, flags, r.io), 0);
  assert.match(r.out[0]!, new RegExp(`^lease ${id} revoked at revision \\d+: 1 key deleted$`));
  assert.equal(await new KvClient({ endpoints: [servers[0]!.apiUrl] }).get('cli/a'), null);
  // The lease is gone: keepalive and revoke exit 1 with the server's message.
  const gone = capture();
  assert.equal(await leaseKeepAlive(id, { ...flags, once: true }, gone.io), 1);
  assert.match(gone.err[0]!, /lease \d+ does not exist .*\(HTTP 404 lease-not-found\)/);
  const p2 = capture();
  assert.equal(await kvCommand('put', ['cli/b', 'v'], { ...flags, lease: id }, p2.io), 1);
  assert.match(p2.err[0]!, /lease \d+ does not exist/);
});

test('keepalive without --once renews until aborted', async () => {
  const flags = { endpoints: servers.map((s) => s.apiUrl).join(',') };
  const c = new KvClient({ endpoints: [servers[0]!.apiUrl] });
  const { id } = await c.grantLease(1);
  const k = capture();
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 1200);
  assert.equal(await leaseKeepAlive(String(id), flags, k.io, ac.signal), 0);
  assert.ok(k.out.length >= 3, `${k.out.length} renewals in 1.2 s at a third of a 1 s TTL`);
  assert.ok((await c.getLease(id))!.generation >= 3);
});

test('bad arguments are usage errors (exit 2) naming the argument', async () => {
  const flags = { endpoints: servers[0]!.apiUrl };
  for (const [run, re] of [
    [(io: never) => leaseGrant('0', flags, io), /TTL \(seconds\) must be a positive integer, got '0'/],
    [(io: never) => leaseGrant('ten', flags, io), /got 'ten'/],
    [(io: never) => leaseRevoke('x', flags, io), /lease ID must be a positive integer, got 'x'/],
    [(io: never) => leaseKeepAlive('-1', flags, io), /lease ID must be a positive integer, got '-1'/],
    [(io: never) => kvCommand('put', ['k', 'v'], { ...flags, lease: 'abc' }, io), /--lease must be a positive integer, got 'abc'/],
    [(io: never) => kvCommand('append', ['k', 'v'], { ...flags, lease: '3' }, io), /--lease goes with put only/],
  ] as const) {
    const c = capture();
    assert.equal(await run(c.io as never), 2, c.err.join('\n'));
    assert.match(c.err[0]!, re);
  }
  // A TTL above the bound reaches the server and is refused with its message.
  const big = capture();
  assert.equal(await leaseGrant('999999999', flags, big.io), 1);
  assert.match(big.err[0]!, /ttl must be a whole number of seconds from 1 to 31536000.*HTTP 400 invalid/);
});
