import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeId } from '../../src/core/types.js';
import { startNode } from '../../src/node/builder.js';
import type { ApplyItem, RaftNode } from '../../src/node/raft-node.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { TcpTransport } from '../../src/transport/tcp.js';
import { RealClock } from '../../src/util/clock.js';
import { SeededRandom } from '../../src/util/random.js';
import { pattern, waitFor } from './helpers.js';

/**
 * The transport under real Raft traffic: every message the core produces
 * (votes, appends, heartbeats, snapshot chunks, read indexes) must pass
 * validation on the other side, so this also checks that the validator is not
 * stricter than the core.
 */
test('three RaftNodes over TCP elect, replicate, serve a follower read, and catch a late node up by snapshot', async () => {
  const ids: NodeId[] = [1, 2, 3];
  const nodes = new Map<NodeId, RaftNode>();
  const applied = new Map<NodeId, ApplyItem[]>();
  const transports = new Map<NodeId, TcpTransport>();
  const clock = new RealClock();
  for (const id of ids) {
    transports.set(
      id,
      await TcpTransport.start({
        clusterId: 'raft-over-tcp',
        nodeId: id,
        listen: { host: '127.0.0.1', port: 0 },
        peers: new Map(),
        onMessage: (m) => nodes.get(id)?.step(m),
        random: new SeededRandom(100 + id),
        reconnectMinMs: 10,
        reconnectMaxMs: 100,
      }),
    );
  }
  for (const [a, ta] of transports) for (const [b, tb] of transports) if (a !== b) ta.setPeer(b, tb.address);

  const start = async (id: NodeId): Promise<RaftNode> => {
    const { node } = await startNode({
      id,
      voters: ids,
      profile: 'simulation',
      options: { tickMs: 10, electionTicks: 30, heartbeatTicks: 5, noopOnElection: true, maxSnapshotChunkBytes: 1000 },
      storage: new MemoryStorage(),
      clock,
      random: new SeededRandom(id),
      transport: transports.get(id)!,
    });
    nodes.set(id, node);
    const items: ApplyItem[] = [];
    applied.set(id, items);
    void (async () => {
      for (let b = await node.nextApplyBatch(); b !== null; b = await node.nextApplyBatch()) items.push(...b);
    })();
    return node;
  };

  try {
    // Node 3 stays down at first.
    await start(1);
    await start(2);
    await waitFor('a leader', () => [...nodes.values()].some((n) => n.isLeader()), 10_000);
    const leader = [...nodes.values()].find((n) => n.isLeader())!;
    const follower = [...nodes.values()].find((n) => n !== leader)!;

    for (let i = 0; i < 30; i++) assert.notEqual(leader.propose(pattern(100, i)), null);
    const last = leader.status().lastIndex;
    await waitFor('both applied', () => leader.status().appliedIndex === last && follower.status().appliedIndex === last);

    // A linearizable read through the follower: ReadIndex and ReadIndexResp over the wire.
    assert.ok((await follower.readIndex()) >= last);

    // The leader compacts, so node 3 can only be brought up to date by a snapshot (5 chunks of 1000 bytes).
    const snapshot = pattern(5000, 7);
    leader.compact(last, snapshot);
    await waitFor('compacted', () => leader.status().snapshotIndex === last);
    const n3 = await start(3);
    await waitFor('node 3 caught up', () => n3.status().appliedIndex === last, 10_000);
    const snapItem = applied.get(3)!.find((it) => it.kind === 'snapshot');
    assert.ok(snapItem?.kind === 'snapshot');
    assert.deepEqual(snapItem.snapshot.data, snapshot);

    // And it keeps up with new writes.
    const later = leader.propose(new Uint8Array([1, 2, 3]));
    assert.ok(later !== null);
    await waitFor('node 3 applies new entries', () => n3.status().appliedIndex >= later.index);

    for (const [id, t] of transports) {
      for (const [peer, s] of t.stats()) assert.equal(s.rejected, 0, `node ${id} rejected messages from ${peer}`);
      assert.ok([...t.stats().values()].some((s) => s.received > 0), `node ${id} received nothing`);
    }
  } finally {
    for (const n of nodes.values()) n.stop();
    clock.dispose();
    await Promise.all([...transports.values()].map((t) => t.close()));
  }
});
