import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { TsraftServer } from '../../src/server/server.js';
import { silentLogger } from '../../src/util/log.js';

test('snapshots taken are counted in tsraft_snapshots_total, are not kept in memory once durable, and the store reads the same after them', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'tsraft-snapmetric-'));
  const s = await TsraftServer.start(
    { name: 'n1', clusterId: 'm', dataDir: path.join(root, 'n1'), listen: { host: '127.0.0.1', port: 0 }, api: { host: '127.0.0.1', port: 0 }, members: [{ name: 'n1', raft: { host: '127.0.0.1', port: 0 } }], insecurePeers: true, maxRaftState: 2000, heartbeatTicks: 5, electionTicks: 30 },
    { logger: silentLogger() },
  );
  try {
    while (!s.node.isLeader()) await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 50; i++) assert.equal((await fetch(`${s.apiUrl}/v1/kv/k${i}`, { method: 'PUT', body: JSON.stringify({ value: 'x'.repeat(200) }) })).status, 200);
    let taken = 0;
    for (let t = 0; t < 100 && taken < 3; t++) {
      const m = /^tsraft_snapshots_total\{kind="taken"[^}]*\} (\d+)/m.exec(await (await fetch(`${s.apiUrl}/metrics`)).text());
      taken = m === null ? 0 : Number(m[1]);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(taken >= 3, `50 writes of ~250 bytes past a 2,000-byte threshold take several snapshots (${taken})`);
    assert.ok(s.node.status().snapshotIndex > 0, 'the log was compacted');
    // Once a snapshot is durable, the node reads it from its file to send it, instead of keeping it in memory.
    const memory = async (): Promise<number> => Number(/^tsraft_snapshot_memory_bytes(?:\{[^}]*\})? (\d+)/m.exec(await (await fetch(`${s.apiUrl}/metrics`)).text())?.[1] ?? NaN);
    for (let t = 0; t < 100 && (await memory()) !== 0; t++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await memory(), 0, 'no snapshot bytes kept in memory');
    assert.equal(s.node.snapshotSource, 'storage');
    const items = ((await (await fetch(`${s.apiUrl}/v1/kv?prefix=k`)).json()) as { items: unknown[] }).items;
    assert.equal(items.length, 50);
  } finally {
    await s.stop();
    rmSync(root, { recursive: true, force: true });
  }
});
