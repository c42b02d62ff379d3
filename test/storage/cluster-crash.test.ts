/**
 * Whole nodes on FileStorage over SimDisk, crashed (power loss: unsynced
 * writes lost or torn, sometimes in the middle of a write) and restarted from
 * what their disks kept, while a client keeps proposing. Nothing a cluster
 * committed may be lost or changed, and every restarted node rejoins.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Message } from '../../src/core/types.js';
import { startNode } from '../../src/node/builder.js';
import type { RaftNode } from '../../src/node/raft-node.js';
import { SimCrashError, SimDisk } from '../../src/sim/disk.js';
import { Scheduler } from '../../src/sim/scheduler.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { SeededRandom } from '../../src/util/random.js';

const SEEDS = Number(process.env['TSRAFT_CLUSTER_CRASH_SEEDS'] ?? 30);
/** The core's defaults (the simulation profile's) with the lab's timing. */
const OPTIONS = { tickMs: 10, electionTicks: 30, heartbeatTicks: 10, noopOnElection: true };
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

interface Stats {
  crashes: number;
  midWrite: number;
  committed: number;
}

async function run(seed: number): Promise<Stats> {
  const s = new Scheduler();
  const rnd = new SeededRandom(seed);
  const ids = [0, 1, 2];
  const disks = ids.map(() => new SimDisk({ random: rnd.fork(), tornWriteProbability: 0.5 }));
  const nodes: (RaftNode | null)[] = [null, null, null];
  /** index → value, as applied by anyone, ever. */
  const committed = new Map<number, string>();
  const lastApplied = [0, 0, 0];
  const stats: Stats = { crashes: 0, midWrite: 0, committed: 0 };
  let failure: Error | null = null;
  const check = (cond: boolean, msg: string): void => {
    if (!cond && failure === null) failure = new Error(`seed ${seed}: ${msg}`);
  };

  const transport = {
    send: (m: Message) => {
      s.setTimer(1 + rnd.int(4), () => nodes[m.to]?.step(m));
    },
  };

  const start = async (id: number): Promise<void> => {
    const storage = await FileStorage.open('/data', { fs: disks[id]!.mount(), segmentBytes: 600 + rnd.int(2000) });
    let node: RaftNode | null = null;
    const started = await startNode({
      id,
      voters: ids,
      profile: 'simulation',
      options: OPTIONS,
      storage,
      clock: s,
      random: rnd.fork(),
      transport,
      onFatal: (err) => {
        check(err instanceof SimCrashError, `node ${id} failed: ${String(err)}`);
        if (node !== null && nodes[id] === node) {
          nodes[id] = null;
          stats.midWrite++;
        }
      },
    });
    node = started.node;
    const initialState = started.recovered;
    nodes[id] = node;
    lastApplied[id] = initialState.snapshot?.meta.index ?? 0;
    void (async () => {
      for (;;) {
        const items = await node.nextApplyBatch();
        if (items === null) return;
        for (const it of items) {
          if (it.kind === 'snapshot') {
            lastApplied[id] = it.snapshot.meta.index;
            continue;
          }
          const k = it.entry.index;
          check(k === lastApplied[id]! + 1, `node ${id} applied ${k} after ${lastApplied[id]}`);
          lastApplied[id] = k;
          const v = dec(it.entry.data);
          const prev = committed.get(k);
          check(prev === undefined || prev === v, `index ${k}: node ${id} applied "${v}" but "${prev}" was committed there`);
          committed.set(k, v);
          // Compact now and then, so restarts also begin from snapshots.
          if (k % 25 === 0 && nodes[id] === node) node.compact(k, enc(`upto${k}`));
        }
      }
    })();
  };

  await s.run(async () => {
    for (const id of ids) await start(id);
    let value = 0;
    const client = (async () => {
      while (failure === null && s.now() < 12_000) {
        const leader = nodes.find((n) => n?.isLeader());
        if (leader) leader.propose(enc(`v${value++}`));
        await s.sleep(5 + rnd.int(20));
      }
    })();
    while (s.now() < 10_000) {
      await s.sleep(200 + rnd.int(1200));
      const id = rnd.int(3);
      const node = nodes[id];
      if (node === null || node === undefined) continue;
      stats.crashes++;
      if (rnd.int(2) === 0) {
        // Power fails a few file operations from now: maybe inside a write.
        disks[id]!.crashAfter(1 + rnd.int(6));
        await s.sleep(50);
        if (nodes[id] === node) {
          node.stop();
          disks[id]!.crash();
          nodes[id] = null;
        }
      } else {
        node.stop();
        disks[id]!.crash();
        nodes[id] = null;
      }
      await s.sleep(100 + rnd.int(900));
      if (nodes[id] === null) await start(id);
    }
    for (const id of ids) if (nodes[id] === null) await start(id);
    await client;
    // Healed: a last value commits everywhere, and every node catches up with it.
    let final: { index: number } | null = null;
    for (let t = 0; t < 200 && failure === null; t++) {
      const leader = nodes.find((n) => n?.isLeader());
      if (final === null && leader) final = leader.propose(enc('final'));
      if (final !== null && lastApplied.every((a) => a >= final!.index)) break;
      await s.sleep(100);
    }
    check(final !== null && lastApplied.every((a) => a >= final!.index), `not every node rejoined: applied ${lastApplied.join(',')}, final ${final?.index}`);
    for (const n of nodes) n?.stop();
  });
  if (failure !== null) throw failure;
  stats.committed = committed.size;
  return stats;
}

test(`nodes on FileStorage lose nothing committed across power failures and rejoin (${SEEDS} seeds)`, async () => {
  const total: Stats = { crashes: 0, midWrite: 0, committed: 0 };
  for (let seed = 1; seed <= SEEDS; seed++) {
    // Every run is a function of its seed; a failure names it (check() does, a throw may not).
    const st = await run(seed).catch((e: unknown) => {
      throw new Error((e as Error).message.startsWith(`seed ${seed}:`) ? (e as Error).message : `seed ${seed}: ${(e as Error).message}`, { cause: e });
    });
    total.crashes += st.crashes;
    total.midWrite += st.midWrite;
    total.committed += st.committed;
  }
  assert.ok(total.crashes >= SEEDS * 5, JSON.stringify(total));
  assert.ok(total.midWrite > 0, `no crash landed inside a write: ${JSON.stringify(total)}`);
  assert.ok(total.committed > SEEDS * 100, JSON.stringify(total));
});
