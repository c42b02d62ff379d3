// The example of docs/STATE-MACHINE.md, kept true: a counter replicated by a one-node cluster.
// The doc's three code blocks of "A counter, end to end" appear below as written (only the
// import differs); the first test checks that they still do.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { MemoryStorage, NotLeaderError, RealClock, SeededRandom, entropySeed, startNode, type StateMachine } from '../../src/index.js';

class Counter implements StateMachine<number> {
  private value = 0;
  apply(command: Uint8Array): number {
    const delta = new DataView(command.buffer, command.byteOffset).getInt32(0, true);
    this.value += delta;
    return this.value; // the proposer gets the value after its own increment
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

/** Non-blank lines, trimmed (the test indents what the doc does not). */
const lines = (text: string): string[] =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');

test('docs/STATE-MACHINE.md: the counter example is the code of this test', () => {
  // From the source, not dist/: compiled code differs from what was written.
  const doc = readFileSync(new URL('../../../docs/STATE-MACHINE.md', import.meta.url), 'utf8');
  const self = lines(readFileSync(new URL('../../../test/node/state-machine-example.test.ts', import.meta.url), 'utf8')).join('\n');
  const section = doc.slice(doc.indexOf('## A counter, end to end'));
  const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].slice(0, 3).map((m) => m[1]!);
  assert.equal(blocks.length, 3, 'the doc has the three blocks of the example');
  for (const block of blocks) {
    const code = lines(block).filter((l) => !l.startsWith('import '));
    assert.ok(self.includes(code.join('\n')), `the doc's block is not in this test as written:\n${code.join('\n')}`);
  }
});

test('the documented counter example works as written', async () => {
  const clock = new RealClock();
  const counter = new Counter();
  const { node, replica } = await startNode({
    id: 1,
    voters: [1],
    profile: 'production',
    options: { electionTicks: 10, heartbeatTicks: 2 }, // elect within 100–200 ms
    storage: new MemoryStorage(),
    transport: { send: () => {} },
    clock,
    random: new SeededRandom(entropySeed()),
    stateMachine: counter,
    replica: { maxRaftState: 64 }, // snapshot once 64 bytes of log pile up
  });
  await assert.rejects(replica.propose(inc(1)), NotLeaderError, 'nobody leads yet');

  while (!node.isLeader()) await clock.sleep(10);
  const { result } = await replica.propose(inc(5)); // 5
  const now = await replica.read(() => counter.read()); // linearizable: 5

  assert.equal(result, 5);
  assert.equal(now, 5);
  for (let i = 0; i < 20; i++) await replica.propose(inc(1));
  assert.equal(await replica.read(() => counter.read()), 25);
  assert.ok(node.status().snapshotIndex > 0, 'it snapshotted by size');
  replica.stop();
  node.stop();
  clock.dispose();
});
