import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, PROFILES } from '../../src/core/config.js';
import { EntryType } from '../../src/core/types.js';
import { startNode } from '../../src/node/builder.js';
import type { StateMachine } from '../../src/node/replica.js';
import { Scheduler } from '../../src/sim/scheduler.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { LogStorage, StorageState } from '../../src/storage/types.js';
import { SeededRandom } from '../../src/util/random.js';

const recovered: StorageState = {
  hardState: { term: 3, vote: 1, commit: 6 },
  snapshot: { meta: { index: 5, term: 2 }, data: new TextEncoder().encode('five') },
  entries: [{ index: 6, term: 3, type: EntryType.Normal, data: new Uint8Array([6]) }],
};

/** Remembers what it was restored from and what it applied. */
class Recorder implements StateMachine<null> {
  restoredFrom: string | null = null;
  readonly applied: number[] = [];
  apply(_c: Uint8Array, meta: { index: number }): null {
    this.applied.push(meta.index);
    return null;
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
  restore(data: Uint8Array): void {
    this.restoredFrom = new TextDecoder().decode(data);
  }
}

const base = (storage: LogStorage) => ({ id: 1, voters: [1, 2, 3], storage, transport: { send: () => {} }, clock: new Scheduler(), random: new SeededRandom(1) });

test('startNode: the profile with overrides, storage recovered, the replica restored from the snapshot and applying', async () => {
  const sm = new Recorder();
  const seen: StorageState[] = [];
  const s = new Scheduler();
  const { node, replica, recovered: got, options } = await startNode({ ...base(new MemoryStorage(recovered)), clock: s, profile: 'production', options: { electionTicks: 50 }, onRecovered: (st) => seen.push(st), stateMachine: sm });
  assert.deepEqual(options, { ...PROFILES.production, electionTicks: 50 });
  assert.deepEqual(got, recovered);
  assert.equal(seen.length, 1, 'onRecovered saw the recovered state once');
  assert.equal(node.term, 3, 'the node starts from the recovered hard state');
  assert.equal(sm.restoredFrom, 'five', 'the state machine was restored from the recovered snapshot');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sm.applied, [6], 'and applies the committed entry after it');
  assert.equal(replica.applied, 6);
  replica.stop();
  node.stop();
});

test('startNode: a bad option is a ConfigError naming it, before storage is touched', async () => {
  let loaded = false;
  const storage: LogStorage = { load: () => ((loaded = true), Promise.resolve(recovered)), write: () => Promise.resolve(), close: () => Promise.resolve() };
  await assert.rejects(startNode({ ...base(storage), profile: 'lab', options: { heartbeatTicks: 40 } }), (e: unknown) => e instanceof ConfigError && e.option === 'heartbeatTicks');
  assert.equal(loaded, false);
});

test('startNode: onRecovered may refuse the state; nothing starts', async () => {
  const clock = new Scheduler();
  const sm = new Recorder();
  await assert.rejects(
    startNode({ ...base(new MemoryStorage(recovered)), clock, profile: 'simulation', onRecovered: () => { throw new Error('refused'); }, stateMachine: sm }),
    /refused/,
  );
  assert.equal(sm.restoredFrom, null, 'no replica was started');
  assert.equal(clock.pending, 0, 'no node is ticking');
});

test('startNode without a state machine: the caller drains the apply stream', async () => {
  const { node, ...rest } = await startNode({ ...base(new MemoryStorage(recovered)), profile: 'lab' });
  assert.ok(!('replica' in rest));
  const batch = await node.nextApplyBatch();
  assert.deepEqual(batch?.map((i) => (i.kind === 'entry' ? i.entry.index : -1)), [6]);
  node.stop();
});
