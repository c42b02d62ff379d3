import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveNodeOptions } from '../../src/core/config.js';
import { EntryType, MessageType, type AppMsg, type Entry, type Message, type VoteMsg } from '../../src/core/types.js';
import { RaftNode, type ApplyItem } from '../../src/node/raft-node.js';
import { NodeClock } from '../../src/sim/node-clock.js';
import { Scheduler } from '../../src/sim/scheduler.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { EMPTY_STATE, type LogStorage, type StorageState, type StorageUpdate } from '../../src/storage/types.js';
import { SeededRandom } from '../../src/util/random.js';

/** Every node option: the core's defaults, with the lab's timing. */
const NODE_OPTIONS = resolveNodeOptions('simulation', { tickMs: 10, electionTicks: 30, heartbeatTicks: 10 });

/** Storage whose writes complete only when the test says so. */
class GatedStorage implements LogStorage {
  readonly inner = new MemoryStorage();
  readonly pending: { update: StorageUpdate; release: () => void }[] = [];
  load(): Promise<StorageState> {
    return this.inner.load();
  }
  write(update: StorageUpdate): Promise<void> {
    return new Promise((resolve) => {
      this.pending.push({
        update,
        release: () => {
          void this.inner.write(update).then(resolve);
        },
      });
    });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function entry(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array([index]) };
}

function flush(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

test('a vote leaves only after the vote is durable', async () => {
  const storage = new GatedStorage();
  const sent: Message[] = [];
  const s = new Scheduler();
  const node = new RaftNode({ id: 1, voters: [0, 1, 2], storage, initialState: EMPTY_STATE, clock: s, random: new SeededRandom(1), transport: { send: (m) => sent.push(m) }, ...NODE_OPTIONS });
  const vote: VoteMsg = { type: MessageType.Vote, term: 5, from: 0, to: 1, lastIndex: 0, lastTerm: 0 };
  const got: { reply?: Message | null } = {};
  void node.handleRequest(vote).then((r) => (got.reply = r));
  await flush();
  assert.equal(got.reply, undefined, 'no reply before the write completes');
  assert.equal(storage.pending.length, 1);
  assert.deepEqual(storage.pending[0]!.update.hardState, { term: 5, vote: 0, commit: 0 });
  assert.equal(storage.pending[0]!.update.sync, true);
  storage.pending[0]!.release();
  await flush();
  const r = got.reply as Message | null | undefined;
  assert.ok(r !== undefined && r !== null && r.type === MessageType.VoteResp && r.granted);
  assert.deepEqual((await storage.inner.load()).hardState, { term: 5, vote: 0, commit: 0 });
  node.stop();
});

test('a sole voter that wins its election sends nothing of its new term before the term is durable (sim seed 32392)', async () => {
  // Voter 1 alone, learner 2: node 1 elects itself in one step, and its first append to 2 claims term 1.
  const conf = { voters: [1], outgoing: [], learners: [2], context: {} };
  const initial: StorageState = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: { meta: { index: 0, term: 0, conf }, data: new Uint8Array(0) }, entries: [] };
  const storage = new GatedStorage();
  const sent: Message[] = [];
  const s = new Scheduler();
  await s.run(async () => {
    const node = new RaftNode({ id: 1, voters: [1], storage, initialState: initial, clock: s, random: new SeededRandom(1), transport: { send: (m) => sent.push(m) }, ...NODE_OPTIONS });
    while (!node.isLeader()) await s.sleep(10);
    await s.sleep(1);
    assert.ok(storage.pending.length >= 1);
    assert.equal(storage.pending[0]!.update.hardState?.term, 1);
    assert.equal(sent.length, 0, 'the append to the learner waits for term 1 to be durable');
    storage.pending[0]!.release();
    await s.sleep(1);
    assert.ok(sent.some((m) => m.type === MessageType.App && m.term === 1 && m.to === 2), 'then it goes out');
    node.stop();
  });
});

test('an append is acknowledged only after its entries are durable', async () => {
  const storage = new GatedStorage();
  const s = new Scheduler();
  const node = new RaftNode({ id: 1, voters: [0, 1, 2], storage, initialState: EMPTY_STATE, clock: s, random: new SeededRandom(1), transport: { send: () => {} }, ...NODE_OPTIONS });
  const app: AppMsg = { type: MessageType.App, term: 1, from: 0, to: 1, prevIndex: 0, prevTerm: 0, entries: [entry(1, 1), entry(2, 1)], commit: 0 };
  const got: { reply?: Message | null } = {};
  void node.handleRequest(app).then((r) => (got.reply = r));
  await flush();
  assert.equal(got.reply, undefined);
  assert.deepEqual(storage.pending[0]!.update.entries?.map((e) => e.index), [1, 2]);
  storage.pending[0]!.release();
  await flush();
  const r = got.reply as Message | null | undefined;
  assert.ok(r && r.type === MessageType.AppResp && r.success && r.index === 2);
  assert.deepEqual((await storage.inner.load()).entries.map((e) => e.index), [1, 2]);
  node.stop();
});

test('a node stopped while a write is in flight sends nothing afterwards', async () => {
  const storage = new GatedStorage();
  const sent: Message[] = [];
  const s = new Scheduler();
  const node = new RaftNode({ id: 1, voters: [0, 1, 2], storage, initialState: EMPTY_STATE, clock: s, random: new SeededRandom(1), transport: { send: (m) => sent.push(m) }, ...NODE_OPTIONS });
  const got: { reply?: Message | null } = {};
  void node.handleRequest({ type: MessageType.Vote, term: 2, from: 0, to: 1, lastIndex: 0, lastTerm: 0 }).then((r) => (got.reply = r));
  await flush();
  node.stop(); // a crash: the write may or may not reach the disk, but nothing may be said
  storage.pending[0]!.release();
  await flush();
  assert.equal(got.reply, null);
  assert.deepEqual(sent, []);
});

test('a restarted node applies what it knew was committed without waiting for a leader', async () => {
  const s = new Scheduler();
  const initial: StorageState = { hardState: { term: 3, vote: 0, commit: 4 }, snapshot: null, entries: [1, 2, 3, 4, 5, 6].map((i) => entry(i, 3)) };
  const node = new RaftNode({ id: 1, voters: [0, 1, 2], storage: new MemoryStorage(initial), initialState: initial, clock: s, random: new SeededRandom(1), transport: { send: () => {} }, ...NODE_OPTIONS });
  const got: number[] = [];
  for (let i = 0; i < 4; i++) {
    const item = await node.nextApply();
    assert.ok(item !== null && item.kind === 'entry');
    got.push(item.entry.index);
  }
  assert.deepEqual(got, [1, 2, 3, 4]);
  assert.equal(node.status().commitIndex, 4);
  node.stop();
});

test('a state machine that stops reading never stalls elections, heartbeats or the others', async () => {
  const s = new Scheduler();
  const rnd = new SeededRandom(42);
  const ids = [0, 1, 2];
  const nodes: RaftNode[] = [];
  let deliveries = 0;
  for (const id of ids) {
    nodes.push(
      new RaftNode({
        id,
        voters: ids,
        storage: new MemoryStorage(),
        initialState: EMPTY_STATE,
        clock: s,
        random: rnd.fork(),
        transport: {
          send: (m) =>
            s.setTimer(1, () => {
              deliveries++;
              nodes[m.to]!.step(m);
            }),
        },
        ...NODE_OPTIONS,
        applyBuffer: 16,
        noopOnElection: false,
      }),
    );
  }
  const applied: number[][] = [[], [], []];
  const consume = async (i: number, limit: number): Promise<void> => {
    while (applied[i]!.length < limit) {
      const item: ApplyItem | null = await nodes[i]!.nextApply();
      if (item === null) return;
      if (item.kind === 'entry') applied[i]!.push(item.entry.index);
    }
  };
  await s.run(async () => {
    while (!nodes.some((n) => n.isLeader())) await s.sleep(10);
    const leader = nodes.find((n) => n.isLeader())!;
    const slow = nodes.find((n) => !n.isLeader())!; // this follower's state machine reads nothing
    const others = nodes.filter((n) => n !== slow);
    for (const n of others) void consume(n.id, 500);
    const term = leader.term;
    for (let i = 0; i < 500; i++) {
      assert.ok(leader.propose(new Uint8Array([i & 0xff])) !== null);
      if (i % 50 === 49) await s.sleep(20);
    }
    await s.sleep(5000);
    for (const n of others) assert.equal(applied[n.id]!.length, 500);
    assert.equal(slow.status().commitIndex, 500, 'the slow node still replicates and commits');
    assert.ok(slow.status().appliedIndex <= 16 + 1, `handed out ${slow.status().appliedIndex}, more than its buffer`);
    assert.ok(nodes.every((n) => n.term === term), 'no election happened');
    // Now it reads: everything arrives, in order.
    await Promise.all([consume(slow.id, 500), s.sleep(2000)]);
    assert.deepEqual(applied[slow.id], Array.from({ length: 500 }, (_, i) => i + 1));
    for (const n of nodes) n.stop();
  });
  assert.ok(deliveries > 0);
});

/** Storage that holds writes while `hold` is set, and passes them through otherwise. */
/** Completes every held write, in order. */
function releaseAll(st: GatedStorage): void {
  for (const p of st.pending.splice(0)) p.release();
}

class SwitchableStorage extends GatedStorage {
  hold = false;
  override write(update: StorageUpdate): Promise<void> {
    const p = super.write(update);
    if (!this.hold) this.pending.shift()!.release();
    return p;
  }
}

/** Three nodes on {@link SwitchableStorage}, messages delivered after 1 ms unless either end is `down`. */
function switchableCluster(seed: number): { s: Scheduler; storages: SwitchableStorage[]; nodes: RaftNode[]; down: Set<number> } {
  const s = new Scheduler();
  const rnd = new SeededRandom(seed);
  const ids = [0, 1, 2];
  const storages = ids.map(() => new SwitchableStorage());
  const nodes: RaftNode[] = [];
  const down = new Set<number>();
  for (const id of ids) {
    nodes.push(
      new RaftNode({
        id,
        voters: ids,
        storage: storages[id]!,
        initialState: EMPTY_STATE,
        clock: s,
        random: rnd.fork(),
        transport: { send: (m) => s.setTimer(1, () => !down.has(m.to) && !down.has(m.from) && nodes[m.to]!.step(m)) },
        ...NODE_OPTIONS,
        noopOnElection: false,
      }),
    );
  }
  return { s, storages, nodes, down };
}

test("a leader sends its new entries while writing them, and counts itself only once they are durable", async () => {
  const { s, storages, nodes, down } = switchableCluster(5);
  await s.run(async () => {
    while (!nodes.some((n) => n.isLeader())) await s.sleep(10);
    await s.sleep(200);
    const leader = nodes.find((n) => n.isLeader())!;
    const [f1, f2] = nodes.filter((n) => n !== leader);
    const st = storages[leader.id]!;

    // Both followers up: they alone are a majority, so the entry commits before the leader's disk has it.
    st.hold = true;
    const a = leader.propose(new Uint8Array([1]))!;
    await s.sleep(20);
    assert.deepEqual(st.pending[0]?.update.entries?.map((e) => e.index), [a.index], "the leader's write is still in flight");
    assert.ok(f1!.entryAt(a.index) !== undefined && f2!.entryAt(a.index) !== undefined, 'the followers got the entry meanwhile');
    assert.equal(leader.status().commitIndex, a.index);
    st.hold = false;
    releaseAll(st);
    await s.sleep(20);

    // One follower down: the leader's own write is needed for a majority.
    down.add(f2!.id);
    st.hold = true;
    const b = leader.propose(new Uint8Array([2]))!;
    await s.sleep(50);
    assert.ok(f1!.entryAt(b.index) !== undefined);
    assert.equal(leader.status().commitIndex, a.index, 'no commit before the leader itself is durable');
    st.hold = false;
    releaseAll(st);
    await s.sleep(20);
    assert.equal(leader.status().commitIndex, b.index);
    for (const n of nodes) n.stop();
  });
});

test("a leader's entries go out, commit and apply while its own earlier writes are still in flight", async () => {
  const { s, storages, nodes } = switchableCluster(7);
  await s.run(async () => {
    while (!nodes.some((n) => n.isLeader())) await s.sleep(10);
    await s.sleep(200);
    const leader = nodes.find((n) => n.isLeader())!;
    const st = storages[leader.id]!;
    const applied: number[] = [];
    void (async () => {
      for (;;) {
        const items = await leader.nextApplyBatch();
        if (items === null) return;
        for (const it of items) if (it.kind === 'entry') applied.push(it.entry.index);
      }
    })();

    // The leader's disk stops answering: its followers alone are a majority.
    st.hold = true;
    const a = leader.propose(new Uint8Array([1]))!;
    await s.sleep(20);
    assert.equal(leader.status().commitIndex, a.index);
    assert.ok(applied.includes(a.index), `entry ${a.index} applied while the leader's write of it is in flight (applied: ${applied.join(',')})`);
    // The next entry does not wait for that write either.
    const b = leader.propose(new Uint8Array([2]))!;
    await s.sleep(20);
    assert.equal(leader.status().commitIndex, b.index);
    assert.ok(applied.includes(b.index));
    const held = st.pending.flatMap((p) => p.update.entries ?? []).map((e) => e.index);
    assert.ok(held.includes(a.index) && held.includes(b.index), `both writes still in flight: ${held.join(',')}`);
    st.hold = false;
    releaseAll(st);
    await s.sleep(20);
    for (const n of nodes) n.stop();
  });
});

test('with lease reads, a leader whose timers fired late ticks up to its clock before a lease read: a pause cannot stretch its lease', async () => {
  const s = new Scheduler();
  const rnd = new SeededRandom(7);
  const ids = [0, 1, 2];
  const clocks = ids.map(() => new NodeClock(s));
  const nodes: RaftNode[] = [];
  let cut: number | null = null;
  for (const id of ids) {
    nodes.push(
      new RaftNode({
        id,
        voters: ids,
        storage: new MemoryStorage(),
        initialState: EMPTY_STATE,
        clock: clocks[id]!,
        random: rnd.fork(),
        transport: {
          send: (m) => {
            if (m.from === cut || m.to === cut) return;
            s.setTimer(1, () => nodes[m.to]!.step(m));
          },
        },
        ...NODE_OPTIONS,
        checkQuorum: true,
        leaseReads: true,
        maxClockDriftPpm: 0,
      }),
    );
  }
  await s.run(async () => {
    while (!nodes.some((n) => n.isLeader())) await s.sleep(10);
    const leader = nodes.find((n) => n.isLeader())!;
    await s.sleep(500); // the election no-op commits, heartbeat rounds are answered
    const applied = await leader.readIndex({ lease: true });
    assert.equal(leader.leaseReadsServed, 1, 'a live leader answers from its lease');
    assert.ok(applied >= 1);
    // The leader's process stops for three election timeouts: its timers wait, its clock runs on.
    // The others cannot hear it and elect another leader meanwhile.
    cut = leader.id;
    clocks[leader.id]!.pause();
    await s.sleep(3 * NODE_OPTIONS.electionTicks * NODE_OPTIONS.tickMs);
    assert.ok(nodes.some((n) => n !== leader && n.isLeader()), 'another leader was elected');
    // Before any late timer runs, a lease read: the ticks its clock says are due come first.
    const read = leader.readIndex({ lease: true });
    read.catch(() => {});
    assert.equal(leader.leaseReadsServed, 1, 'the lease had expired: no read from it');
    assert.equal(leader.isLeader(), false, 'and the ticks it caught up with made it step down (check quorum)');
    await assert.rejects(read);
    for (const n of nodes) n.stop();
  });
});
