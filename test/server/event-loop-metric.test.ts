import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { TsraftServer } from '../../src/server/server.js';
import { silentLogger } from '../../src/util/log.js';

function quantile(text: string, q: string): number {
  const m = new RegExp(`^tsraft_event_loop_delay_seconds\\{quantile="${q}"[^}]*\\} ([^\\s]+)`, 'm').exec(text);
  assert.ok(m !== null, `tsraft_event_loop_delay_seconds{quantile="${q}"} in /metrics`);
  return Number(m[1]);
}

test('tsraft_event_loop_delay_seconds reports how late the event loop was since the last scrape, not the sampling interval', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'tsraft-eld-'));
  const s = await TsraftServer.start(
    { name: 'n1', clusterId: 'm', dataDir: path.join(root, 'n1'), listen: { host: '127.0.0.1', port: 0 }, api: { host: '127.0.0.1', port: 0 }, members: [{ name: 'n1', raft: { host: '127.0.0.1', port: 0 } }], insecurePeers: true },
    { logger: silentLogger() },
  );
  try {
    const scrape = async (): Promise<string> => (await fetch(`${s.apiUrl}/metrics`)).text();
    await scrape();
    await new Promise((r) => setTimeout(r, 300));
    const calm = await scrape();
    assert.ok(quantile(calm, '0.5') < 0.005, `an idle loop is late by well under the 10 ms interval (p50 ${quantile(calm, '0.5')} s)`);
    // Block the loop for 120 ms between two timer ticks.
    await new Promise((r) => setTimeout(r, 50));
    const until = performance.now() + 120;
    while (performance.now() < until);
    await new Promise((r) => setTimeout(r, 50));
    const blocked = await scrape();
    const max = quantile(blocked, '1');
    assert.ok(max >= 0.1 && max < 0.5, `the 120 ms block shows as the maximum (${max} s)`);
    // The scrape reset the histogram.
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(quantile(await scrape(), '1') < 0.1);
  } finally {
    await s.stop();
    rmSync(root, { recursive: true, force: true });
  }
});
