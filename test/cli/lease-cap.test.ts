/** `tsraft lease grant` past the store's `--max-leases`: exit 1, and the server's reason on stderr. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { leaseGrant, leaseRevoke } from '../../src/cli/lease.js';
import { inProcessClusterSuite } from '../api/in-process-cluster.js';
import { capture } from './capture.js';

const servers = inProcessClusterSuite('tsraft-cli-lease-cap-', 'cli-lease-cap-test', () => ({ maxLeases: 1 }));

test('a grant past --max-leases exits 1 naming the limit; after a revoke the next grant succeeds', async () => {
  const flags = { endpoints: servers.map((s) => s.apiUrl).join(',') };
  const first = capture();
  assert.equal(await leaseGrant('30', flags, first.io), 0);
  const id = /^lease (\d+) granted/.exec(first.out[0] ?? '')?.[1];
  assert.ok(id !== undefined, first.out.join('\n'));
  const second = capture();
  assert.equal(await leaseGrant('30', flags, second.io), 1);
  assert.deepEqual(second.out, []);
  assert.match(second.err[0] ?? '', /the store holds 1 leases, its maximum \(--max-leases 1\).*\(HTTP 429 too-many-leases\)/);
  assert.equal(await leaseRevoke(id, flags, capture().io), 0);
  const third = capture();
  assert.equal(await leaseGrant('30', flags, third.io), 0, third.err.join('\n'));
});
