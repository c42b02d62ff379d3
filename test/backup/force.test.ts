/**
 * `tsraft restore --from-data DIR --unsafe-force-new-cluster`: a stopped
 * survivor's snapshot and whole log (committed or not) become the state of
 * a new one-node cluster; its files are left as they were.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { commandOf } from '../../src/backup/envelope.js';
import { RestoreError, replaySurvivor } from '../../src/backup/restore.js';
import { FORCE_FLAG, restoreCommand } from '../../src/cli/backup.js';
import { EntryType, type Entry } from '../../src/core/types.js';
import { encodeCommand } from '../../src/kv/commands.js';
import { KvService } from '../../src/kv/service.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { startNode } from '../../src/node/builder.js';
import { nodeIdOf } from '../../src/server/config.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { RealClock } from '../../src/util/clock.js';
import { SeededRandom } from '../../src/util/random.js';

/** Every file under `dir` with its bytes, to tell whether anything changed. */
function snapshotTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(path.relative(dir, p), readFileSync(p).toString('base64'));
    }
  };
  walk(dir);
  return out;
}

/** Runs a real one-node cluster on FileStorage in `dataDir/raft`, writes keys, stops it; returns its state's digest. */
async function liveRun(dataDir: string, keys: number): Promise<{ digest: string; revision: number }> {
  const storage = await FileStorage.open(path.join(dataDir, 'raft'));
  const clock = new RealClock();
  const sm = new KvStateMachine();
  const { node, replica } = await startNode({
    id: nodeIdOf('n1'),
    voters: [nodeIdOf('n1')],
    profile: 'production',
    options: { electionTicks: 10, heartbeatTicks: 2 },
    storage,
    transport: { send: () => {} },
    clock,
    random: new SeededRandom(5),
    stateMachine: sm,
    replica: { maxRaftState: 2000 }, // a few snapshots along the way: the replay starts from one
  });
  try {
    while (!node.isLeader()) await clock.sleep(10);
    const kv = new KvService(replica, sm);
    for (let i = 0; i < keys; i++) await kv.put(`k${i}`, `v${i}`, { clientId: 'c', seq: i + 1 });
    await kv.delete('k3');
    assert.ok(node.status().snapshotIndex > 0, 'the run snapshotted');
    return { digest: sm.digest(), revision: sm.revision };
  } finally {
    replica.stop();
    node.stop();
    await storage.close();
    clock.dispose();
  }
}

test('a survivor replays into exactly the state its replica had (the envelope is read as the Replica writes it)', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'tsraft-force-'));
  try {
    const dir = path.join(root, 'n1');
    const live = await liveRun(dir, 120);
    const before = snapshotTree(dir);
    const r = await replaySurvivor(dir);
    const sm = new KvStateMachine();
    sm.restore(r.data, { index: r.index, term: r.term });
    assert.equal(sm.digest(), live.digest, 'same keys, revisions and sessions as the live state machine');
    assert.equal(r.index, live.revision);
    assert.ok(r.snapshotIndex > 0 && r.replayed > 0, 'from a snapshot and the log after it');
    assert.deepEqual(snapshotTree(dir), before, 'the survivor\'s files are untouched');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test(`${FORCE_FLAG}: committed and uncommitted entries of the survivor are in the new cluster, which says so`, async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'tsraft-force-'));
  try {
    const dir = path.join(root, 'n1');
    await liveRun(dir, 60);
    writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ clusterId: 'old', name: 'n1' }));
    // Entries the survivor appended but never saw committed: a leader's last proposals before the others died.
    const st = await FileStorage.open(path.join(dir, 'raft'));
    const state = await st.load();
    const last = state.entries[state.entries.length - 1]!;
    const sample = state.entries.find((e) => e.type === EntryType.Normal && e.data.length > 17)!;
    const envelope = sample.data.subarray(0, sample.data.length - commandOf(sample.data).length);
    const ghosts: Entry[] = [1, 2, 3].map((i) => {
      const cmd = encodeCommand({ op: 'put', key: `ghost${i}`, value: `g${i}`, time: Date.now() });
      const data = new Uint8Array(envelope.length + cmd.length);
      data.set(envelope);
      data.set(cmd, envelope.length);
      return { index: last.index + i, term: last.term, type: EntryType.Normal, data };
    });
    await st.write({ entries: ghosts, sync: true });
    await st.close();
    const commit = state.hardState.commit;
    assert.ok(commit <= last.index);

    // Refused while a live process holds the survivor's lock.
    const held = await FileStorage.open(path.join(dir, 'raft'));
    await assert.rejects(replaySurvivor(dir), (e: unknown) => e instanceof RestoreError && /locked by process/.test(e.message) && /Stop that node first/.test(e.message));
    await held.close();

    const out: string[] = [];
    const err: string[] = [];
    const newDir = path.join(root, 'new');
    const code = await restoreCommand(undefined, { fromData: dir, unsafeForceNewCluster: true, data: newDir, id: 'm1', listen: '127.0.0.1:7001', api: '127.0.0.1:7101', clusterId: 'reborn' }, { out: (l) => out.push(l), err: (l) => err.push(l) });
    assert.equal(code, 0, err.join('\n'));
    const text = out.join('\n');
    assert.match(text, /WARNING: forcing a new cluster/);
    assert.match(text, new RegExp(`up to index ${last.index + 3}`));
    assert.match(text, new RegExp(`${last.index + 3 - commit} entries after that are included although the lost majority may never have committed them`));
    assert.match(text, /Acknowledged writes this node never received are lost/);
    assert.match(text, /tsraft serve --id m1 --data \S+ --listen 127\.0\.0\.1:7001 --api 127\.0\.0\.1:7101 --cluster-id reborn --peers m1=127\.0\.0\.1:7001/);

    const seeded = await FileStorage.open(path.join(newDir, 'raft'));
    const s = await seeded.load();
    await seeded.close();
    assert.equal(s.snapshot!.meta.index, last.index + 3);
    assert.deepEqual(s.snapshot!.meta.conf?.voters, [nodeIdOf('m1')]);
    const sm = new KvStateMachine();
    sm.restore(s.snapshot!.data, s.snapshot!.meta);
    for (let i = 0; i < 60; i++) assert.equal(sm.get(`k${i}`)?.value, i === 3 ? undefined : `v${i}`, `k${i}`);
    for (const i of [1, 2, 3]) assert.equal(sm.get(`ghost${i}`)?.value, `g${i}`, 'uncommitted entries are replayed too');
    assert.equal(JSON.parse(readFileSync(path.join(newDir, 'meta.json'), 'utf8')).clusterId, 'reborn');

    // The survivor's own cluster id is refused for the new cluster.
    const again = await restoreCommand(undefined, { fromData: dir, unsafeForceNewCluster: true, data: path.join(root, 'x'), id: 'm1', listen: '127.0.0.1:7001', api: '127.0.0.1:7101', clusterId: 'old' }, { out: () => {}, err: (l) => err.push(l) });
    assert.equal(again, 2);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
