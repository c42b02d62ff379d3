/** The store's off-heap records (src/kv/record-store.ts): what goes in comes out, slots are reused, and a pin keeps released records intact. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MAX_SLOT_BYTES, RecordStore } from '../../src/kv/record-store.js';

type Rec = { value: string; create: number; mod: number; lease: number | undefined };

function check(store: RecordStore, id: number, r: Rec): void {
  // Lone surrogates are not UTF-8: they come back as U+FFFD, as from any UTF-8 store.
  const value = Buffer.from(r.value).toString();
  assert.equal(store.value(id), value);
  assert.equal(store.valueBytes(id), Buffer.byteLength(r.value));
  assert.equal(store.createRevision(id), r.create);
  assert.equal(store.modRevision(id), r.mod);
  assert.equal(store.lease(id), r.lease);
  const out = Buffer.alloc(store.valueBytes(id) + 3, 0xee);
  assert.equal(store.copyValue(id, out, 3), store.valueBytes(id));
  assert.equal(out.subarray(3).toString(), value);
}

const sizes = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 300, max: MAX_SLOT_BYTES + 100 }));
const valueArb = fc.oneof(
  sizes.map((n) => 'x'.repeat(n)),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
);
const recArb = fc.record({
  value: valueArb,
  create: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  mod: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  lease: fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
});

test('adds, updates in place and releases in any order: every live record reads back exactly, from strings or from bytes', () => {
  const step = fc.oneof(
    fc.record({ add: recArb, fromBytes: fc.boolean() }),
    fc.record({ release: fc.nat() }),
    fc.record({ update: fc.nat(), to: recArb }),
  );
  fc.assert(
    fc.property(fc.array(step, { maxLength: 120 }), (steps) => {
      const store = new RecordStore();
      const live = new Map<number, Rec>();
      for (const s of steps) {
        if ('add' in s) {
          const r = s.add;
          const bytes = Buffer.from(r.value);
          const id = s.fromBytes ? store.addBytes(Buffer.concat([Buffer.from('pad'), bytes]), 3, bytes.length, r.create, r.mod, r.lease) : store.add(r.value, bytes.length, r.create, r.mod, r.lease);
          assert.ok(!live.has(id), `id ${id} handed out twice`);
          live.set(id, r);
        } else if ('update' in s) {
          if (live.size === 0) continue;
          const id = [...live.keys()][s.update % live.size]!;
          const r = { ...s.to, create: live.get(id)!.create };
          store.update(id, r.value, Buffer.byteLength(r.value), r.mod, r.lease);
          live.set(id, r);
        } else if (live.size > 0) {
          const id = [...live.keys()][s.release % live.size]!;
          store.release(id);
          live.delete(id);
        }
        assert.equal(store.stats.records, live.size);
      }
      for (const [id, r] of live) check(store, id, r);
    }),
  );
});

test('released ids and slots are reused: a store that keeps its size does not grow', () => {
  const store = new RecordStore();
  const ids: number[] = [];
  for (let i = 0; i < 1000; i++) ids.push(store.add('v'.repeat(256), 256, i, i, undefined));
  const pages = store.stats.pageBytes;
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < ids.length; i++) {
      const next = store.add('w'.repeat(250), 250, i, round, undefined);
      store.release(ids[i]!);
      ids[i] = next;
    }
  }
  assert.equal(store.stats.records, 1000);
  assert.ok(store.stats.pageBytes <= pages + 64 * 1024, `pages ${store.stats.pageBytes} after 20,000 overwrites, ${pages} at first`);
  assert.ok(Math.max(...ids) < 1001, 'ids are reused');
  assert.equal(store.value(ids[7]!), 'w'.repeat(250));
});

test('a pinned store keeps released records readable and unreused until the last pin goes', () => {
  const store = new RecordStore();
  const a = store.add('old value', 9, 1, 1, 5);
  const unpin1 = store.pin();
  const unpin2 = store.pin();
  store.release(a);
  const b = store.add('new value', 9, 1, 2, undefined);
  assert.notEqual(b, a, 'a released id is not reused while pinned');
  check(store, a, { value: 'old value', create: 1, mod: 1, lease: 5 });
  unpin1();
  unpin1(); // twice is once
  const c = store.add('third', 5, 3, 3, undefined);
  assert.notEqual(c, a, 'still pinned by the other');
  check(store, a, { value: 'old value', create: 1, mod: 1, lease: 5 });
  assert.throws(() => store.update(b, 'x', 1, 9, undefined), /updated in place while a snapshot pinned the store/);
  unpin2();
  assert.equal(store.pinned, false);
  assert.equal(store.stats.records, 2);
  assert.equal(store.add('fourth', 6, 4, 4, undefined), a, 'freed once unpinned');
});
