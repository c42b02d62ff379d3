/** The configuration a snapshot carries survives every storage that keeps snapshot metadata. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfState } from '../../src/core/types.js';
import { Persister } from '../../src/lab/persister.js';
import { PersisterStorage } from '../../src/lab/persister-storage.js';
import { encode } from '../../src/util/codec.js';
import { ents, hs, view } from './helpers.js';

const CONF: ConfState = { voters: [0, 1, 2], outgoing: [0, 1], learners: [5], context: { '5': 'n5@host:9' } };

test('PersisterStorage keeps a snapshot configuration across a reload, and states without one as before', async () => {
  const p = new Persister();
  const s = new PersisterStorage(p);
  await s.write({ entries: ents(1, 4, 1), hardState: hs(1, 0, 3), sync: true });
  await s.write({ snapshot: { meta: { index: 3, term: 1 }, data: new Uint8Array([1]) }, sync: true });
  const plain = PersisterStorage.read(p);
  assert.deepEqual(plain.snapshot!.meta, { index: 3, term: 1 });
  assert.equal('conf' in plain.snapshot!.meta, false);
  // Without a configuration the blob's header is exactly the old five-element one.
  assert.deepEqual([...p.readRaftState().subarray(0, encode([1, 0, 3, 3, 1]).length)], [...encode([1, 0, 3, 3, 1])]);
  await s.write({ snapshot: { meta: { index: 4, term: 1, conf: CONF }, data: new Uint8Array([2]) }, sync: true });
  const again = PersisterStorage.read(p);
  assert.deepEqual(again.snapshot!.meta, { index: 4, term: 1, conf: CONF });
  assert.deepEqual(view(await new PersisterStorage(p).load()), view(await s.load()));
});
