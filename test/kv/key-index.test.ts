import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { KeyIndex, SHARDS, shardOf } from '../../src/kv/key-index.js';
import { checkProperty } from '../util/property.js';

test('answers get, set, delete and size exactly as one Map does, for any keys and steps', () => {
  // Short keys collide on purpose; long ones take the hash's two-ended path.
  const key = fc.oneof(fc.string({ maxLength: 3 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ minLength: 60, maxLength: 200 }));
  const step = fc.oneof(fc.record({ set: key, id: fc.nat() }), fc.record({ del: key }), fc.record({ get: key }));
  checkProperty(
    import.meta.url,
    fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
      const index = new KeyIndex();
      const model = new Map<string, number>();
      for (const s of steps) {
        if ('set' in s) {
          index.set(s.set, s.id);
          model.set(s.set, s.id);
        } else if ('del' in s) {
          assert.equal(index.delete(s.del), model.delete(s.del));
        } else {
          assert.equal(index.get(s.get), model.get(s.get));
        }
        assert.equal(index.size, model.size);
      }
      for (const [k, id] of model) assert.equal(index.get(k), id);
    }),
    { numRuns: 200 },
  );
});

test('spreads usual key sets over every shard', () => {
  const sets: Record<string, string[]> = {
    numbered: Array.from({ length: 64_000 }, (_, i) => `key-${i}`),
    'zero-padded': Array.from({ length: 64_000 }, (_, i) => `user/${String(i).padStart(10, '0')}/profile`),
    // Keys longer than what is hashed whole differ only in the middle here: they still spread,
    // because the hashed ends hold the number.
    'long, numbered at both ends': Array.from({ length: 64_000 }, (_, i) => `${i}/${'x'.repeat(100)}/${i}`),
  };
  for (const [name, keys] of Object.entries(sets)) {
    const counts = new Array<number>(SHARDS).fill(0);
    for (const k of keys) counts[shardOf(k)]! += 1;
    const mean = keys.length / SHARDS;
    assert.ok(Math.min(...counts) > mean / 2 && Math.max(...counts) < mean * 2, `${name}: shard sizes ${Math.min(...counts)}..${Math.max(...counts)} around ${mean}`);
  }
});

test('a shard is a number below SHARDS, the same for the same key', () => {
  for (const k of ['', 'a', 'é', '🙂', 'x'.repeat(1000)]) {
    const s = shardOf(k);
    assert.ok(Number.isInteger(s) && s >= 0 && s < SHARDS, `${JSON.stringify(k.slice(0, 10))}: ${s}`);
    assert.equal(shardOf(k), s);
  }
});
