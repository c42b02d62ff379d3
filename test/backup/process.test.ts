/**
 * End to end with real processes: `tsraft backup` from a 3-node cluster
 * under a write load, `tsraft restore` into a new one-node cluster, and
 * every write acknowledged at or below the backup's revision is there.
 *
 * It needs the server to serve `GET /v1/backup`; until that route is wired
 * (a 404), the test is skipped with a message saying so.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KvClient } from '../../src/client/index.js';
import { issueCertificate } from '../../src/security/certs.js';
import { ProcessCluster, cliResult, freePort, sleep } from '../process/harness.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

const run = cliResult;

test('tsraft backup under load, tsraft restore, serve: every acknowledged write at or below the backup revision is there', async (t) => {
  const cluster = await ProcessCluster.start(3);
  const restoredDir = path.join(cluster.root, 'restored');
  let restored: ReturnType<typeof spawn> | null = null;
  try {
    const probe = await fetch(`${cluster.endpoints[0]!}/v1/backup`, { method: 'GET' });
    await probe.arrayBuffer();
    if (probe.status === 404) {
      t.skip('GET /v1/backup answers 404: the backup route is not wired into the server yet (src/api/http.ts); this test runs once it is');
      return;
    }

    const acked: { key: string; value: string; revision: number }[] = [];
    let stop = false;
    const writer = async (c: number): Promise<void> => {
      const eps = cluster.endpoints;
      const kv = new KvClient({ endpoints: [...eps.slice(c % 3), ...eps.slice(0, c % 3)], timeoutMs: 4000, requestTimeoutMs: 1500, clientId: `bw${c}` });
      for (let n = 0; !stop; n++) {
        const key = `own-${c}-${n}`;
        try {
          const { revision } = await kv.put(key, `v${n}`);
          acked.push({ key, value: `v${n}`, revision });
        } catch {
          // not acknowledged
        }
      }
    };
    const writers = [0, 1, 2, 3].map((c) => writer(c));
    await sleep(1500);
    const file = path.join(cluster.root, 'cluster.backup');
    const ackedBefore = acked.length;
    const b = await run(['backup', '--endpoints', cluster.endpoints.join(','), file]);
    await sleep(500); // writes go on after the backup
    stop = true;
    await Promise.all(writers);
    assert.equal(b.code, 0, b.err);
    const m = /index \(revision\) (\d+), term (\d+), (\d+) keys, (\d+) bytes written to/.exec(b.out);
    assert.ok(m !== null, b.out);
    const index = Number(m[1]);
    assert.ok(ackedBefore > 20, `the load was running (${ackedBefore} writes acknowledged before the backup)`);
    for (const w of acked.slice(0, ackedBefore)) assert.ok(w.revision <= index, `${w.key} acknowledged before the backup at revision ${w.revision} > ${index}`);
    assert.ok(acked.some((w) => w.revision > index), 'writes continued past the backup');

    const listen = `127.0.0.1:${await freePort()}`;
    const api = `127.0.0.1:${await freePort()}`;
    // The restored node's peer certificate, from the cluster's CA (any CA would do for a one-node cluster).
    const tlsDir = path.join(cluster.root, 'r1-tls');
    await issueCertificate({ caDir: cluster.caDir, name: 'r1', outDir: tlsDir });
    const r = await run(['restore', file, '--data', restoredDir, '--id', 'r1', '--listen', listen, '--api', api, '--cluster-id', 'restored', '--tls-dir', tlsDir]);
    assert.equal(r.code, 0, r.err);
    const serveLine = r.out.split('\n').find((l) => l.trim().startsWith('tsraft serve '));
    assert.ok(serveLine !== undefined, r.out);
    const args = serveLine.trim().split(/\s+/).slice(1);
    restored = spawn(process.execPath, [CLI, ...args, '--heartbeat-ms', '50', '--election-ms', '500', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    restored.stderr!.on('data', (x: Buffer) => (stderr += x.toString('utf8')));
    const kv = new KvClient({ endpoints: [`http://${api}`], timeoutMs: 10_000 });
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await kv.get('own-0-0');
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`the restored node did not serve: ${(e as Error).message}\n${stderr}`, { cause: e });
        await sleep(100);
      }
    }
    let present = 0;
    for (const w of acked) {
      const item = await kv.get(w.key);
      if (w.revision <= index) {
        assert.equal(item?.value, w.value, `${w.key} acknowledged at revision ${w.revision} <= ${index} is in the restored cluster`);
        present++;
      } else {
        assert.equal(item, null, `${w.key} at revision ${w.revision} came after the backup at ${index}`);
      }
    }
    assert.ok(present >= ackedBefore);
    const w = await kv.put('after-restore', 'x');
    assert.ok(w.revision > index, 'the restored cluster accepts writes, numbered after the backup');
  } finally {
    if (restored !== null) {
      restored.kill('SIGKILL');
      await new Promise((res) => (restored!.exitCode !== null || restored!.signalCode !== null ? res(null) : restored!.once('exit', res)));
    }
    rmSync(restoredDir, { recursive: true, force: true });
    await cluster.destroy();
  }
});
