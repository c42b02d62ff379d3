// The example of docs/STATE-MACHINE.md, kept true: a counter replicated by a one-node cluster.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EMPTY_STATE, MemoryStorage, NotLeaderError, RaftNode, RealClock, Replica, SeededRandom, entropySeed, type StateMachine } from '../../src/index.js';

class Counter implements StateMachine<number> {
  private value = 0;
  apply(command: Uint8Array): number {
    const delta = new DataView(command.buffer, command.byteOffset).getInt32(0, true);
    this.value += delta;
    return this.value;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.value));
  }
  restore(data: Uint8Array): void {
    this.value = Number(new TextDecoder().decode(data));
  }
  read(): number {
    return this.value;
  }
}

const inc = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n, true);
  return b;
};

test('the documented counter example works as written', async () => {
  const clock = new RealClock();
  const node = new RaftNode({
    id: 1,
    voters: [1],
    storage: new MemoryStorage(),
    initialState: EMPTY_STATE,
    clock,
    random: new SeededRandom(entropySeed()),
    transport: { send: () => {} },
    tickMs: 10,
    electionTicks: 10,
    heartbeatTicks: 2,
  });
  const counter = new Counter();
  const replica = new Replica(node, counter, { clock, maxRaftState: 64 });
  replica.start(null);
  await assert.rejects(replica.propose(inc(1)), NotLeaderError, 'nobody leads yet');
  while (!node.isLeader()) await clock.sleep(10);
  assert.equal((await replica.propose(inc(5))).result, 5);
  assert.equal(await replica.read(() => counter.read()), 5);
  for (let i = 0; i < 20; i++) await replica.propose(inc(1));
  assert.equal(await replica.read(() => counter.read()), 25);
  assert.ok(node.status().snapshotIndex > 0, 'it snapshotted by size');
  replica.stop();
  node.stop();
  clock.dispose();
});
