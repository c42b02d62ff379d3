/**
 * `tsraft restore FILE`: a backup seeds a new data directory that a real
 * TsraftServer starts from as a one-node cluster holding every key.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { writeBackupFile, type Backup } from '../../src/backup/format.js';
import { RestoreError, seedDataDir } from '../../src/backup/restore.js';
import { FORCE_FLAG, restoreCommand } from '../../src/cli/backup.js';
import { encodeCommand } from '../../src/kv/commands.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { nodeIdOf } from '../../src/server/config.js';
import { TsraftServer } from '../../src/server/server.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { silentLogger } from '../../src/util/log.js';
import { capture } from '../cli/capture.js';

/** A KV state with `n` keys (some overwritten, one deleted), as a backup at its last index. */
function makeBackup(n: number): { backup: Backup; expected: Map<string, string> } {
  const sm = new KvStateMachine();
  const expected = new Map<string, string>();
  let index = 0;
  const put = (key: string, value: string): void => {
    sm.apply(encodeCommand({ op: 'put', key, value, time: 1000 + index }), { index: ++index, term: 3 });
    expected.set(key, value);
  };
  for (let i = 0; i < n; i++) put(`k${i}`, `v${i}`);
  for (let i = 0; i < n; i += 7) put(`k${i}`, `w${i}`);
  sm.apply(encodeCommand({ op: 'delete', key: 'k1', time: 5000 }), { index: ++index, term: 4 });
  expected.delete('k1');
  return { backup: { clusterId: 'old', index, term: 4, members: [{ name: 'n1', role: 'voter' }], createdAt: Date.now(), data: sm.snapshot() }, expected };
}

async function waitLeader(s: TsraftServer): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!s.node.isLeader()) {
    if (Date.now() > deadline) throw new Error('the restored node did not elect itself');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('restore FILE into an empty directory: a real server starts as a one-node cluster with every key, and keeps counting revisions from the backup', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'tsraft-restore-'));
  try {
    const { backup, expected } = makeBackup(200);
    const file = path.join(root, 'b.backup');
    await writeBackupFile(file, backup);
    const dataDir = path.join(root, 'r1');
    const c = capture();
    const code = await restoreCommand(file, { data: dataDir, id: 'r1', listen: '127.0.0.1:0', api: '127.0.0.1:0', clusterId: 'new' }, c.io);
    assert.equal(code, 0, c.err.join('\n'));
    assert.ok(c.out.some((l) => l.includes(`index (revision) ${backup.index}`) && l.includes(`${expected.size} keys`)), c.out.join('\n'));
    assert.ok(c.out.some((l) => l.trim() === `tsraft serve --id r1 --data ${dataDir} --listen 127.0.0.1:0 --api 127.0.0.1:0 --cluster-id new --peers r1=127.0.0.1:0 --tls-dir TLS_DIR`), c.out.join('\n'));
    assert.ok(c.out.some((l) => l.includes('tsraft certs node r1 --ca CA_DIR --out TLS_DIR')), c.out.join('\n'));

    const meta = JSON.parse(readFileSync(path.join(dataDir, 'meta.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(meta['clusterId'], 'new');
    assert.equal(meta['name'], 'r1');
    assert.equal(meta['id'], nodeIdOf('r1'));
    assert.match(String(meta['uid']), /^[0-9a-f]{32}$/);

    // The storage holds the snapshot with this node alone as the configuration, committed.
    const st = await FileStorage.open(path.join(dataDir, 'raft'));
    const loaded = await st.load();
    await st.close();
    assert.deepEqual(loaded.snapshot?.meta.conf?.voters, [nodeIdOf('r1')]);
    assert.equal(loaded.snapshot?.meta.index, backup.index);
    assert.equal(loaded.hardState.commit, backup.index);
    assert.deepEqual(JSON.parse(loaded.snapshot!.meta.conf!.context[String(nodeIdOf('r1'))]!), { name: 'r1', peer: '127.0.0.1:0', api: 'http://127.0.0.1:0', uid: meta['uid'], autoPromote: false });

    const cfg = {
      name: 'r1',
      clusterId: 'new',
      dataDir,
      listen: { host: '127.0.0.1', port: 0 },
      api: { host: '127.0.0.1', port: 0 },
      members: [{ name: 'r1', raft: { host: '127.0.0.1', port: 0 } }],
      heartbeatTicks: 2,
      electionTicks: 10,
      insecurePeers: true, // one node: no peers to authenticate
    };
    let server = await TsraftServer.start(cfg, { logger: silentLogger() });
    try {
      await waitLeader(server);
      for (const [k, v] of expected) assert.equal((await server.kv.get(k))?.value, v, `key ${k}`);
      assert.equal(await server.kv.get('k1'), null, 'a key deleted before the backup stays deleted');
      const all = await server.kv.list('', 'linearizable');
      assert.equal(all.length, expected.size);
      const w = await server.kv.put('after', 'x');
      assert.ok(w.revision > backup.index, `a new write's revision ${w.revision} follows the backup's ${backup.index}`);
      // And through the HTTP API.
      const r = await fetch(`${server.apiUrl}/v1/kv/k0`);
      assert.equal(r.status, 200);
      // A restart recovers the same state from the seeded directory.
      await server.stop();
      server = await TsraftServer.start(cfg, { logger: silentLogger() });
      await waitLeader(server);
      assert.equal((await server.kv.get('k2'))?.value, 'v2');
      assert.equal((await server.kv.get('after'))?.value, 'x');
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('restore refuses a non-empty data directory, the old cluster id, a bad name, a corrupt file, and leaves nothing behind', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'tsraft-restore-'));
  try {
    const { backup } = makeBackup(5);
    const file = path.join(root, 'b.backup');
    await writeBackupFile(file, backup);
    const base = { id: 'r1', listen: '127.0.0.1:7000', api: '127.0.0.1:7100', clusterId: 'new' };

    const full = path.join(root, 'full');
    mkdirSync(full);
    writeFileSync(path.join(full, 'meta.json'), '{}');
    let c = capture();
    assert.equal(await restoreCommand(file, { ...base, data: full }, c.io), 1);
    assert.match(c.err.join('\n'), /is not empty \(it holds meta\.json\); restore only into a new, empty directory/);
    assert.deepEqual(readdirSync(full), ['meta.json'], 'untouched');

    c = capture();
    assert.equal(await restoreCommand(file, { ...base, data: path.join(root, 'a'), clusterId: 'old' }, c.io), 2);
    assert.match(c.err.join('\n'), /NEW id/);

    c = capture();
    assert.equal(await restoreCommand(file, { ...base, data: path.join(root, 'a'), id: 'bad name' }, c.io), 1);
    assert.match(c.err.join('\n'), /--id/);

    c = capture();
    assert.equal(await restoreCommand(file, { ...base, clusterId: 'new' }, c.io), 2, 'missing --data');
    assert.match(c.err.join('\n'), /missing --data/);

    const cut = path.join(root, 'cut.backup');
    writeFileSync(cut, readFileSync(file).subarray(0, 40));
    c = capture();
    assert.equal(await restoreCommand(cut, { ...base, data: path.join(root, 'a') }, c.io), 1);
    assert.match(c.err.join('\n'), /cut\.backup: truncated/);

    // An empty existing directory is fine.
    const empty = path.join(root, 'empty');
    mkdirSync(empty);
    await seedDataDir({ ...base, name: 'r1', dataDir: empty }, backup);
    await assert.rejects(seedDataDir({ ...base, name: 'r1', dataDir: empty }, backup), RestoreError, 'not twice');
    assert.deepEqual(readdirSync(root).sort(), ['b.backup', 'cut.backup', 'empty', 'full']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test(`restore --from-data refuses without ${FORCE_FLAG} and says what it would cost`, async () => {
  const c = capture();
  assert.equal(await restoreCommand(undefined, { fromData: '/nonexistent', data: '/tmp/x', id: 'r1', listen: '127.0.0.1:1', api: '127.0.0.1:2', clusterId: 'new' }, c.io), 2);
  const text = c.err.join('\n');
  assert.ok(text.includes(FORCE_FLAG));
  assert.match(text, /LOST/);
  assert.match(text, /never have committed/);
});
