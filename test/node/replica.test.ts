import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntryType, type Entry } from '../../src/core/types.js';
import type { ApplyItem, RaftNode } from '../../src/node/raft-node.js';
import { NotLeaderError } from '../../src/node/errors.js';
import { Replica, type StateMachine } from '../../src/node/replica.js';
import { Scheduler } from '../../src/sim/scheduler.js';
import { SeededRandom } from '../../src/util/random.js';
import { RealClock } from '../../src/util/clock.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A stand-in leader: records proposals, and applies what the test hands it. */
class FakeNode {
  readonly id = 7;
  term = 3;
  readonly proposed: Uint8Array[] = [];
  private waiter: ((items: ApplyItem[] | null) => void) | null = null;
  /** Items handed out while the replica was not waiting (it yields the event loop now and then), as RaftNode queues them. */
  private readonly queued: ApplyItem[] = [];
  isLeader(): boolean {
    return true;
  }
  propose(data: Uint8Array): { index: number; term: number } {
    this.proposed.push(data);
    return { index: 10 + this.proposed.length, term: this.term };
  }
  onRoleChange(): () => void {
    return () => {};
  }
  nextApplyBatch(): Promise<ApplyItem[] | null> {
    if (this.queued.length > 0) return Promise.resolve(this.queued.splice(0));
    return new Promise((resolve) => (this.waiter = resolve));
  }
  apply(entries: Entry[]): void {
    this.deliver(entries.map((entry) => ({ kind: 'entry', entry })));
  }
  deliver(items: ApplyItem[]): void {
    const w = this.waiter;
    this.waiter = null;
    if (w !== null) w(items);
    else this.queued.push(...items);
  }
}

/** Echoes each command: the result says which command it was. */
const echo: StateMachine<string> = { apply: (c) => dec(c), snapshot: () => new Uint8Array(), restore: () => {} };

test('a proposal of an earlier run of the same node is not taken for this run’s (sim regression)', async () => {
  const clock = new Scheduler();
  const node = new FakeNode();
  // The run before the restart proposed "old" as its first proposal; it is still in the log.
  const before = new Replica(node as unknown as RaftNode, echo, { clock, random: new SeededRandom(1) });
  void before.propose(enc('old')).catch(() => {});
  before.stop();
  const oldEntry = node.proposed[0]!;
  // The restarted run proposes "new", also its first proposal.
  const after = new Replica(node as unknown as RaftNode, echo, { clock, random: new SeededRandom(2) });
  after.start(null);
  const answer = after.propose(enc('new'));
  const newEntry = node.proposed[1]!;
  // The old entry commits first (at the index the new run's leader did not place anything).
  node.apply([{ index: 9, term: 2, type: EntryType.Normal, data: oldEntry }]);
  await new Promise((r) => setImmediate(r));
  node.apply([{ index: 12, term: 3, type: EntryType.Normal, data: newEntry }]);
  const r = await answer;
  assert.equal(r.result, 'new', 'the restarted run got the result of the old run’s command');
  assert.equal(r.index, 12);
  after.stop();
});

test('a leader that refuses a proposal (a leadership transfer in progress) rejects it with NotLeaderError (sim membership regression)', async () => {
  const clock = new Scheduler();
  const node = new FakeNode();
  node.propose = (): { index: number; term: number } => null as unknown as { index: number; term: number };
  const replica = new Replica(node as unknown as RaftNode, echo, { clock, random: new SeededRandom(3) });
  replica.start(null);
  await assert.rejects(replica.propose(enc('x')), (e: unknown) => e instanceof NotLeaderError && e.leader === null);
  replica.stop();
});

/** A state machine whose snapshots take `pieces` calls; it records how far it had applied when each began. */
function slowSnapshots(pieces: number): StateMachine<string> & { applied: string[]; begun: number[] } {
  const sm = {
    applied: [] as string[],
    begun: [] as number[],
    apply: (c: Uint8Array) => {
      sm.applied.push(dec(c));
      return dec(c);
    },
    snapshot: () => enc(`n=${sm.applied.length}`),
    restore: (data: Uint8Array) => {
      sm.applied = Array.from({ length: Number(dec(data).slice(2)) }, () => 'restored');
    },
    snapshotIncrementally: () => {
      const n = sm.applied.length;
      sm.begun.push(n);
      let left = pieces;
      return () => (--left > 0 ? null : enc(`n=${n}`));
    },
  };
  return sm;
}

class CompactingNode extends FakeNode {
  readonly compacted: { index: number; data: string }[] = [];
  compact(index: number, data: Uint8Array): void {
    this.compacted.push({ index, data: dec(data) });
  }
  applySnapshot(index: number, data: Uint8Array): void {
    this.deliver([{ kind: 'snapshot', snapshot: { meta: { index, term: 3 }, data } }]);
  }
}

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0));
};
const entries = (from: number, to: number): Entry[] => Array.from({ length: to - from + 1 }, (_, k) => ({ index: from + k, term: 3, type: EntryType.Normal, data: enc(`e${from + k}`) }));

test('a snapshot written piece by piece lets entries apply meanwhile, and compacts at the index it began at', async () => {
  const node = new CompactingNode();
  const sm = slowSnapshots(5);
  const r = new Replica(node as unknown as RaftNode, sm, { clock: new RealClock(), random: new SeededRandom(1), maxRaftState: 1 });
  r.start(null);
  node.apply(entries(1, 3));
  await turns(1);
  assert.deepEqual(sm.begun, [3], 'the snapshot began after the first batch');
  node.apply(entries(4, 5));
  await turns(1);
  assert.equal(r.applied, 5, 'entries applied while the snapshot was being written');
  assert.deepEqual(node.compacted, [], 'not done yet');
  await turns(10);
  assert.deepEqual(node.compacted, [{ index: 3, data: 'n=3' }], 'compacted at the index the snapshot describes, once');
  node.apply(entries(6, 6));
  await turns(10);
  assert.deepEqual(sm.begun, [3, 6], 'the next snapshot begins only after the first is done');
  r.stop();
});

test('a snapshot installed from the leader while one is being written drops the one being written', async () => {
  const node = new CompactingNode();
  const sm = slowSnapshots(6);
  const r = new Replica(node as unknown as RaftNode, sm, { clock: new RealClock(), random: new SeededRandom(1), maxRaftState: 1 });
  r.start(null);
  node.apply(entries(1, 2));
  await turns(2);
  assert.deepEqual(sm.begun, [2]);
  node.applySnapshot(10, enc('n=10'));
  await turns(12);
  assert.equal(r.applied, 10);
  assert.deepEqual(node.compacted, [], 'the snapshot of index 2 was never handed to Raft after the install of 10');
  r.stop();
});

test('snapshotJitter spreads snapshots around maxRaftState, so members that share a log do not all snapshot at once', async () => {
  const gaps = async (seed: number, jitter: number): Promise<number[]> => {
    const node = new CompactingNode();
    const r = new Replica(node as unknown as RaftNode, echo, { clock: new RealClock(), random: new SeededRandom(seed), maxRaftState: 10_000, snapshotJitter: jitter });
    r.start(null);
    // Entries of 84 bytes of data: 100 bytes each as the replica counts them.
    for (let i = 1; i <= 2000; i++) {
      node.apply([{ index: i, term: 3, type: EntryType.Normal, data: enc('x'.repeat(84)) }]);
      await new Promise((res) => setImmediate(res));
    }
    r.stop();
    return node.compacted.map((c, k) => (c.index - (k === 0 ? 0 : node.compacted[k - 1]!.index)) * 100);
  };
  assert.deepEqual(new Set(await gaps(1, 0)), new Set([10_000]), 'without jitter, every 10,000 bytes');
  const a = await gaps(1, 0.25);
  const b = await gaps(2, 0.25);
  for (const g of [...a, ...b]) assert.ok(g >= 7_500 && g <= 12_600, `a gap of ${g} bytes is within 25 % (plus one entry) of 10,000`);
  assert.ok(new Set([...a, ...b]).size > 4, `gaps vary: ${a.join(', ')} / ${b.join(', ')}`);
  assert.notDeepEqual(a, b, 'two members (two seeds) snapshot at different points of the same log');
});

test('a snapshot from the leader is installed a piece per turn: reads meanwhile see the state before it, whole, and the entries after it wait', async () => {
  const node = new CompactingNode();
  const sm = {
    state: 'old',
    applied: [] as string[],
    pieces: 0,
    apply: (c: Uint8Array) => {
      sm.applied.push(dec(c));
      return dec(c);
    },
    snapshot: () => enc(sm.state),
    restore: (): void => {
      throw new Error('restored in one call');
    },
    restoreIncrementally: (data: Uint8Array) => {
      let left = 5;
      return () => {
        sm.pieces++;
        if (--left > 0) return false;
        sm.state = dec(data);
        return true;
      };
    },
  };
  const r = new Replica(node as unknown as RaftNode, sm, { clock: new RealClock(), random: new SeededRandom(1), maxRaftState: -1 });
  r.start(null);
  node.apply(entries(1, 2));
  await turns(1);
  node.deliver([{ kind: 'snapshot', snapshot: { meta: { index: 10, term: 3 }, data: enc('new') } }, ...entries(11, 12).map((entry) => ({ kind: 'entry' as const, entry }))]);
  await turns(1);
  assert.ok(sm.pieces >= 1 && sm.pieces < 5, `the install is under way (${sm.pieces} pieces)`);
  assert.equal(r.applied, 2, 'the applied index is the one before the snapshot until it is installed');
  assert.equal(await r.read(() => sm.state, 'stale'), 'old');
  assert.deepEqual(sm.applied, ['e1', 'e2'], 'nothing after the snapshot applied yet');
  await turns(10);
  assert.equal(sm.pieces, 5);
  assert.equal(sm.state, 'new');
  assert.equal(r.applied, 12);
  assert.deepEqual(sm.applied, ['e1', 'e2', 'e11', 'e12']);
  r.stop();
});

test('a backlog of committed entries is applied with turns of the event loop in between, not in one go', async () => {
  // A node that always has 256 more committed entries, as one catching up on the log does.
  const total = 10_000;
  let handed = 0;
  const node = {
    id: 7,
    term: 3,
    isLeader: () => false,
    onRoleChange: () => () => {},
    nextApplyBatch: (): Promise<ApplyItem[] | null> => {
      if (handed >= total) return new Promise(() => {});
      const batch = entries(handed + 1, Math.min(total, handed + 256)).map((entry) => ({ kind: 'entry' as const, entry }));
      handed += batch.length;
      return Promise.resolve(batch);
    },
  };
  const sm = slowSnapshots(1);
  let appliedWhenTimerRan = -1;
  setTimeout(() => (appliedWhenTimerRan = sm.applied.length), 0);
  const r = new Replica(node as unknown as RaftNode, sm, { clock: new RealClock(), random: new SeededRandom(1), maxRaftState: -1 });
  r.start(null);
  for (let i = 0; i < 200 && r.applied < total; i++) await turns(1);
  assert.equal(r.applied, total);
  assert.ok(appliedWhenTimerRan > 0 && appliedWhenTimerRan < total, `a timer ran while the backlog was being applied (after ${appliedWhenTimerRan} of ${total})`);
  r.stop();
});
