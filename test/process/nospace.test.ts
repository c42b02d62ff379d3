/**
 * No zombies, and the space quota, on real `tsraft serve` processes.
 *
 * ENOSPC: node n2's data directory is a small tmpfs; under a write load it
 * fills, and n2 must exit with the storage exit code within a second of its
 * failure (never linger answering /healthz) while the others keep serving;
 * after the space is freed and n2 restarted, every acknowledged write is
 * there, through the cluster and in n2's own state.
 *
 * Quota: a write above --quota-bytes raises NOSPACE on every node; deletes
 * still work; the alarm survives restarts; `tsraft alarm disarm` clears it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { KvClient, KvClientError } from '../../src/client/index.js';
import { ExitCode } from '../../src/server/exit-codes.js';
import { ProcessCluster, cliResult, sleep } from './harness.js';


/** Why a tmpfs cannot be mounted here (not root, no CAP_SYS_ADMIN, a container), or null if it can. */
function cannotMount(): string | null {
  const probe = mkdtempSync(path.join(tmpdir(), 'tsraft-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe], { stdio: 'pipe' });
    return null;
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    return `cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): ${(err.stderr?.toString('utf8').trim() || err.message).split('\n')[0]}`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

function umount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    // not mounted (any more)
  }
}

const cli = cliResult;

test('ENOSPC under load: the node exits with code 74 within a second, the others serve, nothing acknowledged is lost', { timeout: 90_000 }, async (t) => {
  const why = cannotMount();
  if (why !== null) {
    t.skip(why);
    return;
  }
  let mounted: string | null = null;
  const c = await ProcessCluster.start(3, {
    prepare: (pc) => {
      const dir = pc.nodes[1]!.dataDir;
      mkdirSync(dir, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dir], { stdio: 'pipe' });
      mounted = dir;
      // Also when the cluster fails to start (the finally below is not reached then).
      t.after(() => umount(dir));
    },
  });
  try {
    const victim = 1;
    const acked = new Map<string, string>();
    let stop = false;
    let exitedAt = 0;
    let exitCode: number | null = null;
    const exited = c.exited(victim).then((code) => {
      exitedAt = Date.now();
      exitCode = code;
    });
    // Four writers of 4 KB values through every node until the victim has died.
    const writers = [0, 1, 2, 3].map(async (w) => {
      const kv = new KvClient({ endpoints: [...c.endpoints.slice(w % 3), ...c.endpoints.slice(0, w % 3)], timeoutMs: 5000, requestTimeoutMs: 1500, clientId: `nospace-${w}` });
      for (let n = 0; !stop; n++) {
        const key = `w${w}-${n}`;
        const value = `${key}:${'x'.repeat(4096)}`;
        try {
          await kv.put(key, value);
          acked.set(key, value);
        } catch (e) {
          if (!(e instanceof KvClientError)) throw e;
        }
      }
    });
    const deadline = Date.now() + 30_000;
    while (exitedAt === 0 && Date.now() < deadline) await sleep(50);
    assert.notEqual(exitedAt, 0, `n2 did not exit within 30 s of load on a 3 MB tmpfs (a zombie?):\n${c.nodes[victim]!.stderr.slice(-2000)}`);
    await exited;
    c.nodes[victim]!.proc = null;
    const stderr = c.nodes[victim]!.stderr;
    assert.equal(exitCode, ExitCode.storageIo, `exit code 74 (storage I/O failure):\n${stderr.slice(-2000)}`);
    // The fatal log line: error level, naming the cause; the process ended within a second of it.
    const line = stderr.split('\n').find((l) => l.includes('"exitCode":74'));
    assert.ok(line !== undefined, `an error-level log line with the exit code:\n${stderr.slice(-2000)}`);
    const logged = JSON.parse(line) as { level: number; time: number; msg: string; cause: string };
    assert.equal(logged.level, 50);
    assert.equal(logged.cause, 'storage I/O failure');
    assert.match(logged.msg, /ENOSPC/);
    assert.ok(exitedAt - logged.time < 1500, `exited ${exitedAt - logged.time} ms after the fatal error`);
    assert.match(stderr, /tsraft serve: stopped: storage I\/O failure: ENOSPC.*\(exit code 74\)/);
    // The others keep serving writes while n2 is down.
    await sleep(300);
    const survivors = new KvClient({ endpoints: [c.endpoints[0]!, c.endpoints[2]!], timeoutMs: 5000 });
    await survivors.put('after-n2-died', 'yes');
    const keptWriting = acked.size;
    await sleep(500);
    stop = true;
    await Promise.all(writers);
    assert.ok(acked.size > keptWriting, 'writes were acknowledged after n2 died');
    // Free space (as an operator would), restart n2: it recovers and catches up.
    execFileSync('mount', ['-o', 'remount,size=256m', c.nodes[victim]!.dataDir], { stdio: 'pipe' });
    c.spawn(victim);
    await c.waitHealthy([victim]);
    const kv = new KvClient({ endpoints: c.endpoints, timeoutMs: 10_000 });
    for (const [k, v] of acked) assert.equal((await kv.get(k))?.value, v, `acknowledged ${k} read through the cluster`);
    const leader = await c.waitLeader();
    const target = Number((await c.status(leader))?.['commitIndex']);
    const until = Date.now() + 15_000;
    while (Number((await c.status(victim))?.['appliedIndex'] ?? 0) < target && Date.now() < until) await sleep(50);
    const own = new KvClient({ endpoints: [c.endpoints[victim]!], timeoutMs: 5000, discover: false });
    for (const [k, v] of acked) {
      const r = await fetch(`${c.endpoints[victim]}/v1/kv/${encodeURIComponent(k)}?consistency=stale`);
      assert.equal(r.status, 200, `${k} on n2`);
      assert.equal(((await r.json()) as { value: string }).value, v, `acknowledged ${k} in n2's own state`);
    }
    assert.equal((await own.get('after-n2-died'))?.value, 'yes');
    t.diagnostic(`${acked.size} acknowledged writes, all present after the restart`);
  } finally {
    await c.stopAll();
    if (mounted !== null) umount(mounted);
    await c.destroy();
  }
});

test('a write above --quota-bytes raises NOSPACE on every node; deletes work; the alarm survives restarts; tsraft alarm disarm clears it', { timeout: 90_000 }, async () => {
  const c = await ProcessCluster.start(3, { extraArgs: ['--quota-bytes', '20000'] });
  try {
    const kv = new KvClient({ endpoints: c.endpoints, timeoutMs: 10_000 });
    for (let i = 0; i < 3; i++) await kv.put(`big${i}`, 'x'.repeat(6000));
    await assert.rejects(kv.put('big3', 'x'.repeat(6000)), (e: unknown) => e instanceof KvClientError && e.status === 507 && e.code === 'no-space' && /20000 bytes/.test(e.message));
    const everyNode = async (what: string): Promise<void> => {
      for (const [i, u] of c.endpoints.entries()) {
        const one = new KvClient({ endpoints: [u], discover: false, timeoutMs: 10_000 });
        assert.deepEqual((await one.alarms()).map((a) => a.alarm), ['NOSPACE'], `${what}: n${i + 1} lists NOSPACE`);
        await assert.rejects(one.put(`small-${i}`, '1'), (e: unknown) => e instanceof KvClientError && e.status === 507, `${what}: n${i + 1} refuses a put`);
      }
    };
    await everyNode('after the breach');
    // Deletes go through while the alarm is active.
    assert.deepEqual((await kv.delete('big0')).deleted, true);
    // Restart every node (SIGTERM, clean exit 0): the alarm is replicated state, it is still there.
    for (let i = 0; i < 3; i++) {
      c.signal(i, 'SIGTERM');
      assert.equal(await c.exited(i), 0, `n${i + 1} stopped cleanly`);
      c.nodes[i]!.proc = null;
    }
    for (let i = 0; i < 3; i++) c.spawn(i);
    await c.waitHealthy();
    await c.waitLeader();
    await everyNode('after a restart of every node');
    const eps = c.endpoints.join(',');
    const list = await cli(['alarm', 'list', '--endpoints', eps]);
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /NOSPACE/);
    const listJson = await cli(['alarm', 'list', '--json', '--endpoints', eps]);
    assert.deepEqual((JSON.parse(listJson.out) as { alarms: { alarm: string; quotaBytes: number }[] }).alarms.map((a) => [a.alarm, a.quotaBytes]), [['NOSPACE', 20000]]);
    const disarm = await cli(['alarm', 'disarm', '--endpoints', eps]);
    assert.equal(disarm.code, 0, disarm.err);
    assert.match(disarm.out, /disarmed NOSPACE/);
    for (const u of c.endpoints) {
      const one = new KvClient({ endpoints: [u], discover: false, timeoutMs: 10_000 });
      assert.deepEqual(await one.alarms(), [], `${u} has no alarm after disarm`);
    }
    await kv.put('fits', 'x'.repeat(6000)); // 12 KB + 6 KB: under the quota
    await assert.rejects(kv.put('too-much', 'x'.repeat(6000)), (e: unknown) => e instanceof KvClientError && e.status === 507, 'still at the quota: the next big write raises it again');
    assert.match((await cli(['alarm', 'list', '--endpoints', eps])).out, /NOSPACE/);
  } finally {
    await c.destroy();
  }
});
