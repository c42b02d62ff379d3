import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { EntryType, MessageType, type Entry, type Message } from '../../src/core/types.js';
import { decode, encode } from '../../src/util/codec.js';
import { MessageValidationError, validateMessage } from '../../src/transport/validate.js';
import { oneOfEach } from './helpers.js';
import { checkProperty } from '../util/property.js';

/** Asserts that validating `x` fails on `field`, with a message matching `re` if given. */
function rejects(x: unknown, field: string, re?: RegExp): void {
  assert.throws(
    () => validateMessage(x),
    (e: unknown) => {
      assert.ok(e instanceof MessageValidationError, `expected a MessageValidationError, got ${String(e)}`);
      assert.equal(e.field, field, e.message);
      if (field !== '') assert.match(e.message, new RegExp(`field ${field.replace(/[.[\]]/g, '\\$&')}`));
      if (re !== undefined) assert.match(e.message, re);
      return true;
    },
  );
}

/** `m` with `key` replaced (or removed, for undefined). */
function withField(m: Message, key: string, value: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...m };
  if (value === undefined) delete copy[key];
  else copy[key] = value;
  return copy;
}

const byType = (t: MessageType): Message => oneOfEach(1, 2).find((m) => m.type === t)!;

test('every message type is accepted, before and after a msgpack round trip, and comes back equal', () => {
  const all = oneOfEach(1, 2);
  assert.deepEqual(new Set(all.map((m) => m.type)), new Set(Object.values(MessageType)), 'the sample covers every type');
  for (const m of all) {
    assert.deepEqual(validateMessage(m), m);
    assert.deepEqual(validateMessage(decode(encode(m))), m);
  }
});

test('random well-formed messages are accepted', () => {
  const n = fc.nat({ max: Number.MAX_SAFE_INTEGER });
  const base = { term: fc.integer({ min: 100, max: 1e9 }), from: fc.nat(1000), to: fc.nat(1000) };
  const appArb = fc
    .record({ ...base, prevIndex: fc.nat(1e12), prevTerm: fc.nat(99), commit: n, datas: fc.array(fc.tuple(fc.uint8Array({ maxLength: 50 }), fc.boolean()), { maxLength: 10 }) })
    .map(({ datas, ...r }): Message => {
      // Entry terms never decrease, start at prevTerm and never exceed the message's term
      // (a well-formed AppendEntries carries no entry from a later term than its own).
      const entries: Entry[] = datas.map(([data, noop], i) => ({ index: r.prevIndex + 1 + i, term: Math.min(r.prevTerm + i, r.term), type: noop ? EntryType.Noop : EntryType.Normal, data }));
      return { type: MessageType.App, ...r, entries };
    });
  const msgArb: fc.Arbitrary<Message> = fc.oneof(
    fc.record({ ...base, lastIndex: n, lastTerm: n }).map((r): Message => ({ type: MessageType.Vote, ...r })),
    fc.record({ ...base, lastIndex: n, lastTerm: n, transfer: fc.boolean() }).map((r): Message => ({ type: MessageType.Vote, ...r })),
    fc.record({ ...base, lastIndex: n }).map((r): Message => ({ type: MessageType.TimeoutNow, ...r })),
    fc.record({ ...base, granted: fc.boolean() }).map((r): Message => ({ type: MessageType.VoteResp, ...r })),
    appArb,
    fc.record({ ...base, success: fc.boolean(), index: n, hintTerm: n, hintIndex: n }).map((r): Message => ({ type: MessageType.AppResp, ...r })),
    fc.record({ ...base, commit: n, ctx: n }).map((r): Message => ({ type: MessageType.Heartbeat, ...r })),
    fc.record({ ...base, ctx: n }).map((r): Message => ({ type: MessageType.HeartbeatResp, ...r })),
    fc
      .record({ ...base, index: n, mterm: fc.nat(99), offset: fc.nat(1e6), data: fc.uint8Array({ maxLength: 100 }), extra: fc.nat(1000) })
      .map(({ index, mterm, offset, data, extra, ...r }): Message => ({ type: MessageType.Snap, ...r, meta: { index, term: mterm }, offset, data, size: offset + data.length + extra })),
    fc
      .record({
        ...base,
        index: n,
        mterm: fc.nat(99),
        voters: fc.array(fc.nat(1000), { minLength: 1, maxLength: 7 }),
        outgoing: fc.array(fc.nat(1000), { maxLength: 7 }),
        learners: fc.array(fc.nat(1000), { maxLength: 3 }),
        context: fc.dictionary(fc.nat(1000).map(String), fc.string(), { noNullPrototype: true }),
      })
      .map(({ index, mterm, voters, outgoing, learners, context, ...r }): Message => ({
        type: MessageType.Snap,
        ...r,
        meta: { index, term: mterm, conf: { voters, outgoing, learners, context } },
        offset: 0,
        data: new Uint8Array(0),
        size: 0,
      })),
    fc.record({ ...base, snapIndex: n, offset: n, done: fc.boolean(), index: n }).map((r): Message => ({ type: MessageType.SnapResp, ...r })),
    fc.record({ ...base, ctx: n, lease: fc.boolean() }, { requiredKeys: ['term', 'from', 'to', 'ctx'] }).map((r): Message => ({ type: MessageType.ReadIndex, ...r })),
    fc.record({ ...base, ctx: n, index: fc.integer({ min: -1, max: 1e12 }) }).map((r): Message => ({ type: MessageType.ReadIndexResp, ...r })),
  );
  checkProperty(
    import.meta.url,
    fc.property(msgArb, (m) => {
      assert.deepEqual(validateMessage(decode(encode(m))), m);
    }),
    // -374430214: once built an AppendEntries of term 100 whose last entry had term 101.
    { numRuns: 1000, regressionSeeds: [-374430214] },
  );
});

test('a missing field is named, for every field of every type', () => {
  for (const m of oneOfEach(1, 2)) {
    for (const key of Object.keys(m)) {
      // Optional: a vote's transfer flag and a read index's lease flag (absent = false).
      if (key === 'transfer' || key === 'lease') {
        assert.equal((validateMessage(withField(m, key, undefined)) as { transfer?: boolean; lease?: boolean })[key], undefined);
        continue;
      }
      // A missing `type` is reported as a bad type; any other field by its own name.
      rejects(withField(m, key, undefined), key, key === 'type' ? /message type/ : /nothing/);
    }
  }
});

test('wrong types are named', () => {
  rejects(withField(byType(MessageType.Vote), 'term', '5'), 'term', /non-negative safe integer, got a string/);
  rejects(withField(byType(MessageType.Vote), 'lastIndex', 1.5), 'lastIndex');
  rejects(withField(byType(MessageType.Vote), 'lastTerm', -1), 'lastTerm', /got -1/);
  rejects(withField(byType(MessageType.Vote), 'from', Number.MAX_SAFE_INTEGER + 1), 'from');
  rejects(withField(byType(MessageType.Vote), 'to', Number.NaN), 'to');
  rejects(withField(byType(MessageType.Heartbeat), 'commit', null), 'commit', /got null/);
  rejects(withField(byType(MessageType.VoteResp), 'granted', 1), 'granted', /boolean/);
  rejects(withField(byType(MessageType.AppResp), 'success', 'true'), 'success', /boolean/);
  rejects(withField(byType(MessageType.AppResp), 'index', -1), 'index', /got -1/);
  rejects(withField(byType(MessageType.SnapResp), 'done', 0), 'done', /boolean/);
  rejects(withField(byType(MessageType.Snap), 'data', [1, 2, 3]), 'data', /bytes, got an array/);
  rejects(withField(byType(MessageType.Snap), 'data', 'abc'), 'data', /bytes/);
  rejects(withField(byType(MessageType.Snap), 'meta', 7), 'meta', /object/);
  rejects(withField(byType(MessageType.Snap), 'meta', { index: 1 }), 'meta.term');
  rejects(withField(byType(MessageType.App), 'entries', {}), 'entries', /array/);
  rejects(withField(byType(MessageType.ReadIndex), 'ctx', true), 'ctx');
  rejects(withField(byType(MessageType.Vote), 'type', 15), 'type', /message type/);
  rejects(withField(byType(MessageType.Vote), 'transfer', 1), 'transfer', /boolean/);
  rejects({ ...byType(MessageType.ReadIndex), lease: 'yes' }, 'lease', /boolean/);
  const snapMsg = byType(MessageType.Snap) as Extract<Message, { type: 7 }>;
  const conf = { voters: [1, 2], outgoing: [], learners: [3], context: { '3': 'n3' } };
  assert.deepEqual((validateMessage({ ...snapMsg, meta: { ...snapMsg.meta, conf } }) as typeof snapMsg).meta.conf, conf);
  rejects({ ...snapMsg, meta: { ...snapMsg.meta, conf: { ...conf, voters: [] } } }, 'meta.conf.voters', /at least one voter/);
  rejects({ ...snapMsg, meta: { ...snapMsg.meta, conf: { ...conf, learners: [-1] } } }, 'meta.conf.learners[0]', /node id/);
  rejects({ ...snapMsg, meta: { ...snapMsg.meta, conf: { ...conf, context: { '3': 7 } } } }, 'meta.conf.context.3', /string/);
  rejects(withField(byType(MessageType.Vote), 'type', '1'), 'type');
  rejects(null, '', /object, got null/);
  rejects([1, 2], '', /object, got an array/);
  rejects(new Uint8Array(3), '', /object/);
  rejects('hello', '', /object/);
});

test('ReadIndexResp may carry index -1 (refused), but nothing lower', () => {
  const m = byType(MessageType.ReadIndexResp);
  assert.equal(validateMessage(withField(m, 'index', -1)).type, MessageType.ReadIndexResp);
  rejects(withField(m, 'index', -2), 'index', /-1/);
});

test('entries must be well-formed, consecutive from prevIndex + 1, with sane terms', () => {
  const app = byType(MessageType.App) as Extract<Message, { type: 3 }>;
  const es = app.entries;
  const withEntries = (entries: unknown[]): Record<string, unknown> => withField(app, 'entries', entries);
  rejects(withEntries([es[0], es[2], es[1]]), 'entries[1].index', /expected 9 .*got 10/);
  rejects(withEntries([es[0], { ...es[1]!, index: 8 }]), 'entries[1].index', /consecutively/);
  rejects(withEntries([es[1], es[2]]), 'entries[0].index', /expected 8/);
  rejects(withEntries([es[0], { ...es[1]!, term: 2 }]), 'entries[1].term', /must not decrease/);
  rejects(withEntries([{ ...es[0]!, term: app.term + 1 }]), 'entries[0].term', /above the message's term/);
  rejects(withEntries([{ ...es[0]!, type: 3 }]), 'entries[0].type', /entry type/);
  rejects(withEntries([{ ...es[0]!, data: 'x' }]), 'entries[0].data', /bytes/);
  rejects(withEntries([es[0], null]), 'entries[1]', /object/);
  const { data: _dropped, ...noData } = es[0]!;
  rejects(withEntries([noData]), 'entries[0].data', /nothing/);
  rejects(withField(app, 'prevTerm', app.term + 1), 'prevTerm', /above/);
});

test('a snapshot chunk must lie within the snapshot', () => {
  const snap = byType(MessageType.Snap) as Extract<Message, { type: 7 }>;
  rejects({ ...snap, offset: snap.size - snap.data.length + 1 }, 'data', /past the snapshot size/);
  rejects({ ...snap, meta: { index: 1, term: snap.term + 1 } }, 'meta.term', /above/);
  // The receiver allocates the whole snapshot on its first chunk: a size no node can hold is refused here.
  rejects({ ...snap, offset: 0, size: 2 ** 32 + 1 }, 'size', /larger than a node can hold/);
});

test('unknown fields are dropped and inherited ones are not trusted', () => {
  const hb = byType(MessageType.Heartbeat);
  const got = validateMessage({ ...hb, extra: 'x', __evil: { a: 1 } });
  assert.deepEqual(got, hb);
  assert.equal(Object.hasOwn(got, 'extra'), false);
  // A field present only on the prototype counts as missing.
  const proto = { term: 1 };
  const obj: Record<string, unknown> = Object.create(proto) as Record<string, unknown>;
  Object.assign(obj, withField(hb, 'term', undefined));
  rejects(obj, 'term', /nothing/);
});

test('msgpack input that is not a message never gets through', () => {
  checkProperty(
    import.meta.url,
    fc.property(fc.anything({ withTypedArray: true, withNullPrototype: true, withBigInt: true }), (x) => {
      try {
        const m = validateMessage(x);
        // Only possible if fast-check happened to build a real message.
        assert.ok(Object.values(MessageType).includes(m.type));
      } catch (e) {
        assert.ok(e instanceof MessageValidationError, String(e));
      }
    }),
    { numRuns: 2000 },
  );
});

test('sparse arrays are refused: a hole is a missing element, not one to skip (found by test/fuzz/wire.test.ts)', () => {
  const prop = byType(MessageType.Prop) as Extract<Message, { type: typeof MessageType.Prop }>;
  const data = [...prop.data];
  delete data[0];
  rejects({ ...prop, data }, 'data[0]', /expected bytes, got nothing/);
  const snap = oneOfEach(1, 2).filter((m) => m.type === MessageType.Snap)[1] as Extract<Message, { type: typeof MessageType.Snap }>;
  const voters = [...snap.meta.conf!.voters];
  delete voters[1];
  rejects({ ...snap, meta: { ...snap.meta, conf: { ...snap.meta.conf!, voters } } }, 'meta.conf.voters[1]', /expected a node id, got nothing/);
});
