import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntryType, type Entry } from '../../src/core/types.js';
import type { ApplyItem, RaftNode } from '../../src/node/raft-node.js';
import { NotLeaderError } from '../../src/node/errors.js';
import { Replica, type StateMachine } from '../../src/node/replica.js';
import { Scheduler } from '../../src/sim/scheduler.js';
import { SeededRandom } from '../../src/util/random.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A stand-in leader: records proposals, and applies what the test hands it. */
class FakeNode {
  readonly id = 7;
  term = 3;
  readonly proposed: Uint8Array[] = [];
  private waiter: ((items: ApplyItem[] | null) => void) | null = null;
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
    return new Promise((resolve) => (this.waiter = resolve));
  }
  apply(entries: Entry[]): void {
    this.waiter?.(entries.map((entry) => ({ kind: 'entry', entry })));
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
