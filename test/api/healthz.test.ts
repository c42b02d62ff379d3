/** `/healthz` tells a supervisor the truth: 200 while serving, 503 with the reason once the node is stopping. */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createApiServer } from '../../src/api/http.js';
import type { KvService } from '../../src/kv/service.js';
import { silentLogger } from '../../src/util/log.js';

test('/healthz answers 200 while serving and 503 with the reason once stopping', async () => {
  let stopping: string | null = null;
  const status = () => ({ id: 'n1', role: 'follower' as const, term: 1, leader: null, commitIndex: 0, appliedIndex: 0, lastIndex: 0, members: ['n1'] });
  const server = createApiServer({ kv: {} as KvService, status, logger: silentLogger(), stopping: () => stopping });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`;
  try {
    const ok = await fetch(url);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { ok: true });
    stopping = 'fatal error: ENOSPC: no space left on device, write';
    const r = await fetch(url);
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '1');
    const body = (await r.json()) as Record<string, unknown>;
    assert.equal(body['ok'], false);
    assert.equal(body['error'], 'stopping');
    assert.match(String(body['message']), /shutting down: fatal error: ENOSPC/);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
