/**
 * A node does not keep its latest snapshot in memory once it is durable: the
 * core reads the chunks it sends from the snapshot's file (FileStorage.openSnapshot,
 * storage/snapshot-file-reader.ts). A follower that catches up from that file gets
 * exactly the state the leader compacted; a damaged file stops the leader before
 * a follower could install it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveNodeOptions } from '../../src/core/config.js';
import type { SnapshotMeta } from '../../src/core/types.js';
import { RaftNode, type ApplyItem } from '../../src/node/raft-node.js';
import { SimDisk } from '../../src/sim/disk.js';
import { Scheduler } from '../../src/sim/scheduler.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { WalCorruptionError } from '../../src/storage/wal/record.js';
import { SeededRandom } from '../../src/util/random.js';

const DIR = '/data';
/** Small chunks: the snapshot below goes out in a dozen of them. */
const NODE_OPTIONS = { ...resolveNodeOptions('simulation', { tickMs: 10, electionTicks: 30, heartbeatTicks: 10 }), maxSnapshotChunkBytes: 16 << 10, noopOnElection: false };

interface Cluster {
  readonly s: Scheduler;
  readonly disks: SimDisk[];
  readonly nodes: RaftNode[];
  readonly down: Set<number>;
  /** What each node's apply stream handed out, in order. */
  readonly applied: ApplyItem[][];
  readonly fatal: (unknown | undefined)[];
}

async function cluster(seed: number): Promise<Cluster> {
  const s = new Scheduler();
  const rnd = new SeededRandom(seed);
  const ids = [0, 1, 2];
  const disks = ids.map(() => new SimDisk({ random: rnd.fork(), tornWriteProbability: 0 }));
  const storages = await Promise.all(disks.map((d) => FileStorage.open(DIR, { fs: d.mount(), snapshotPieceBytes: 20_000 })));
  const nodes: RaftNode[] = [];
  const down = new Set<number>();
  const applied: ApplyItem[][] = ids.map(() => []);
  const fatal: (unknown | undefined)[] = ids.map(() => undefined);
  for (const id of ids) {
    const storage = storages[id]!;
    nodes.push(
      new RaftNode({
        id,
        voters: ids,
        storage,
        initialState: await storage.load(),
        clock: s,
        random: rnd.fork(),
        transport: { send: (m) => s.setTimer(1, () => !down.has(m.to) && !down.has(m.from) && nodes[m.to]!.step(m)) },
        onFatal: (err) => (fatal[id] = err),
        ...NODE_OPTIONS,
      }),
    );
  }
  for (const n of nodes) {
    void (async () => {
      for (let item = await n.nextApply(); item !== null; item = await n.nextApply()) applied[n.id]!.push(item);
    })();
  }
  return { s, disks, nodes, down, applied, fatal };
}

/** Bytes that differ at every position, so a chunk in the wrong place shows. */
function stateBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  const r = new SeededRandom(n);
  for (let i = 0; i < n; i++) out[i] = r.int(256);
  return out;
}

/** Elects a leader, cuts one follower off, commits entries without it and compacts them into `state`. */
async function compactWithoutOne(c: Cluster, state: Uint8Array): Promise<{ leader: RaftNode; behind: RaftNode; meta: SnapshotMeta }> {
  const { s, nodes, down } = c;
  while (!nodes.some((n) => n.isLeader())) await s.sleep(10);
  const leader = nodes.find((n) => n.isLeader())!;
  const behind = nodes.find((n) => n !== leader)!;
  down.add(behind.id);
  let last = 0;
  for (let i = 0; i < 20; i++) last = leader.propose(new Uint8Array(300).fill(i))!.index;
  while (leader.status().appliedIndex < last || c.applied[leader.id]!.length < last) await s.sleep(10);
  leader.compact(last, state);
  return { leader, behind, meta: { index: last, term: leader.status().term } };
}

test('once its snapshot is durable, a leader sends it from the file, and a follower behind gets exactly the compacted state', async () => {
  const c = await cluster(3);
  await c.s.run(async () => {
    const state = stateBytes(200_000);
    const { leader, behind, meta } = await compactWithoutOne(c, state);
    // A getter the compiler does not narrow: the source changes while the test waits.
    const source = (n: RaftNode): string | null => n.snapshotSource;
    assert.equal(source(leader), 'memory', 'until its file is written, the core keeps the copy it was given');
    for (let t = 0; t < 100 && source(leader) !== 'storage'; t++) await c.s.sleep(10);
    assert.equal(source(leader), 'storage', 'the copy in memory was dropped for the durable file');

    c.down.delete(behind.id);
    for (let t = 0; t < 300 && !c.applied[behind.id]!.some((i) => i.kind === 'snapshot'); t++) await c.s.sleep(10);
    const installed = c.applied[behind.id]!.find((i) => i.kind === 'snapshot');
    assert.ok(installed !== undefined && installed.kind === 'snapshot', 'the follower installed a snapshot');
    assert.equal(installed.snapshot.meta.index, meta.index);
    assert.deepEqual(Buffer.from(installed.snapshot.data), Buffer.from(state), 'byte for byte what the leader compacted');
    // The follower's own copy goes the same way once it is stored.
    for (let t = 0; t < 100 && behind.snapshotSource !== 'storage'; t++) await c.s.sleep(10);
    assert.equal(behind.snapshotSource, 'storage');
    assert.deepEqual(c.fatal, [undefined, undefined, undefined]);
    for (const n of c.nodes) n.stop();
  });
});

test('a leader whose snapshot file is damaged stops with an error naming the file, before a follower can install the damaged state', async () => {
  const c = await cluster(4);
  await c.s.run(async () => {
    const state = stateBytes(200_000);
    const { leader, behind, meta } = await compactWithoutOne(c, state);
    for (let t = 0; t < 100 && leader.snapshotSource !== 'storage'; t++) await c.s.sleep(10);
    assert.equal(leader.snapshotSource, 'storage');
    // A byte near the end of the data goes bad on the leader's disk.
    const file = `${DIR}/snap/${meta.index.toString(16).padStart(16, '0')}-${meta.term.toString(16).padStart(16, '0')}.snap`;
    const disk = c.disks[leader.id]!;
    const size = (await disk.mount().readFile(file)).length;
    disk.flipByte(file, size - 10, 0x40);

    c.down.delete(behind.id);
    for (let t = 0; t < 300 && c.fatal[leader.id] === undefined; t++) await c.s.sleep(10);
    const err = c.fatal[leader.id];
    assert.ok(err instanceof WalCorruptionError, `the leader stopped on the damage: ${String(err)}`);
    assert.match(err.message, /\.snap: corrupt .*checksum/);
    assert.ok(!c.applied[behind.id]!.some((i) => i.kind === 'snapshot'), 'the follower installed nothing');
    for (const n of c.nodes) n.stop();
  });
});
