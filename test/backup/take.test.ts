/**
 * takeBackup on an in-process 3-node cluster (simulated network and clock)
 * under concurrent writes: every write acknowledged before the backup was
 * requested is in it, and the snapshot is exactly the state at its index.
 * Also the HTTP handler of `GET /v1/backup`.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { test } from 'node:test';
import { decodeBackup, type Backup } from '../../src/backup/format.js';
import { handleBackupRequest, membersOfConf, takeBackup } from '../../src/backup/take.js';
import type { KvResult } from '../../src/kv/commands.js';
import { KvService } from '../../src/kv/service.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { startNode } from '../../src/node/builder.js';
import { NotLeaderError, ReadIndexError } from '../../src/node/errors.js';
import type { RaftNode } from '../../src/node/raft-node.js';
import type { Replica } from '../../src/node/replica.js';
import { SimMessageNetwork } from '../../src/sim/message-network.js';
import { Scheduler } from '../../src/sim/scheduler.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { SeededRandom } from '../../src/util/random.js';

interface Member {
  readonly id: number;
  readonly node: RaftNode;
  readonly replica: Replica<KvResult>;
  readonly sm: KvStateMachine;
  readonly kv: KvService;
}

for (const seed of [1, 2, 3]) {
  test(`takeBackup under concurrent writes holds every write acknowledged before it (seed ${seed})`, async () => {
    const s = new Scheduler();
    const random = new SeededRandom(seed);
    const net = new SimMessageNetwork(s, random.fork(), { loss: 0, dup: 0, baseMs: 1, jitterMs: 4 });
    const ids = [1, 2, 3];
    const members: Member[] = [];
    await s.run(
      async () => {
        for (const id of ids) {
          const sm = new KvStateMachine();
          const { node, replica } = await startNode({
            id,
            voters: ids,
            profile: 'simulation',
            storage: new MemoryStorage(),
            transport: net.transportFor(id),
            clock: s,
            random: random.fork(),
            stateMachine: sm,
            replica: { maxRaftState: 4000 }, // snapshots happen while backups are taken
          });
          net.attach(id, (m) => node.step(m));
          members.push({ id, node, replica, sm, kv: new KvService(replica, sm, () => s.now()) });
        }
        /** Acknowledged puts, in the order they were acknowledged: key, value, revision. */
        const acked: { key: string; value: string; revision: number }[] = [];
        let stop = false;
        const writer = async (c: number): Promise<void> => {
          for (let n = 0; !stop; n++) {
            const key = `c${c}-${n}`;
            const m = members[(c + n) % members.length]!;
            try {
              const { revision } = await m.kv.put(key, `v${n}`);
              acked.push({ key, value: `v${n}`, revision });
            } catch {
              await s.sleep(20); // no leader yet, or the outcome is unknown: not acknowledged
            }
          }
        };
        const writers = [0, 1, 2, 3].map((c) => writer(c));
        const backups: Backup[] = [];
        for (let round = 0; round < 12; round++) {
          await s.sleep(40 + random.int(80));
          const m = members[round % members.length]!;
          const before = acked.slice(); // acknowledged before the backup is requested
          let b: Backup & { readIndex: number };
          try {
            b = await takeBackup({ replica: m.replica, sm: m.sm, clusterId: 'c', members: [{ name: `n${m.id}`, role: 'voter' }], now: () => s.now() });
          } catch (e) {
            assert.ok(e instanceof NotLeaderError || e instanceof ReadIndexError, String(e));
            continue;
          }
          assert.ok(b.index >= b.readIndex, 'the snapshot is at or after the read point');
          const restored = new KvStateMachine();
          restored.restore(b.data, { index: b.index, term: b.term });
          for (const w of before) {
            assert.ok(w.revision <= b.readIndex, `write ${w.key} acknowledged at revision ${w.revision} before a read point of ${b.readIndex}`);
            assert.equal(restored.get(w.key)?.value, w.value, `write ${w.key} (revision ${w.revision}) acknowledged before the backup at ${b.index} is in it`);
          }
          for (const item of restored.list('')) assert.ok(item.revision <= b.index, `nothing after the backup's index ${b.index} (found ${item.key} at ${item.revision})`);
          // Exactly the state every replica had at that index: compared with a later replay below.
          backups.push(b);
        }
        stop = true;
        await Promise.all(writers);
        assert.ok(backups.length >= 8, `most backups succeeded (${backups.length})`);
        assert.ok(acked.length > 100, `writes kept going (${acked.length})`);
        const indexes = backups.map((b) => b.index);
        assert.ok(new Set(indexes).size > 4, `backups at different points of a moving log: ${indexes.join(',')}`);
        // Writes acknowledged after a backup's index was applied are not in it (the snapshot is not from later).
        for (const b of backups) {
          const restored = new KvStateMachine();
          restored.restore(b.data, { index: b.index, term: b.term });
          for (const w of acked) if (w.revision > b.index) assert.equal(restored.get(w.key), null, `${w.key} at ${w.revision} is after ${b.index}`);
        }
        for (const m of members) {
          m.replica.stop();
          m.node.stop();
        }
      },
      { maxVirtualMs: 120_000 },
    );
  });
}

async function serve(take: () => Promise<Backup>): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => void handleBackupRequest(req, res, take));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { url: `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}/v1/backup`, server };
}

test('GET /v1/backup streams the file with its index and term; 503 without a read point; 405 for other methods', async () => {
  const backup: Backup = { clusterId: 'c1', index: 42, term: 5, members: [], createdAt: 1, data: Uint8Array.from({ length: 3 << 20 }, (_, i) => i & 0xff) };
  const ok = await serve(() => Promise.resolve(backup));
  try {
    const r = await fetch(ok.url);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/octet-stream');
    assert.equal(r.headers.get('tsraft-backup-index'), '42');
    assert.equal(r.headers.get('tsraft-backup-term'), '5');
    const got = decodeBackup(new Uint8Array(await r.arrayBuffer()), ok.url);
    assert.deepEqual(got, backup);
    const post = await fetch(ok.url, { method: 'POST' });
    assert.equal(post.status, 405);
  } finally {
    ok.server.close();
  }
  const down = await serve(() => Promise.reject(new ReadIndexError('read index not confirmed within 5000 ms')));
  try {
    const r = await fetch(down.url);
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.match(((await r.json()) as { message: string }).message, /no consistent read point: read index not confirmed/);
  } finally {
    down.server.close();
  }
});

test('membersOfConf: names and addresses from the context, voters (joint included) then learners', () => {
  const ctx = (name: string): string => JSON.stringify({ name, peer: `${name}:7000`, api: `http://${name}:7100`, uid: 'u', autoPromote: false });
  assert.deepEqual(membersOfConf({ voters: [1, 2], outgoing: [2, 3], learners: [4, 5], context: { 1: ctx('a'), 3: ctx('c'), 4: ctx('d'), 5: 'not json' } }), [
    { name: 'a', role: 'voter', peerAddress: 'a:7000', apiUrl: 'http://a:7100' },
    { name: '2', role: 'voter' },
    { name: 'c', role: 'voter', peerAddress: 'c:7000', apiUrl: 'http://c:7100' },
    { name: 'd', role: 'learner', peerAddress: 'd:7000', apiUrl: 'http://d:7100' },
    { name: '5', role: 'learner' },
  ]);
});
