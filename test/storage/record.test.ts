import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { concatBytes as concat } from '../../src/util/bytes.js';
import { EntryType, type Entry } from '../../src/core/types.js';
import {
  HEADER_BYTES,
  RecordType,
  WalCorruptionError,
  decodeRecord,
  encodeEntries,
  encodeHardState,
  encodeSegmentHeader,
  encodeSnapshotFile,
  encodeSnapshotMarker,
  frame,
  scanRecords,
  type WalRecord,
} from '../../src/storage/wal/record.js';
import { checkProperty } from '../util/property.js';

const idx = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const small = fc.integer({ min: 0, max: 1_000_000 });
const bytes = fc.uint8Array({ maxLength: 300 });

const entriesArb = fc
  .tuple(fc.integer({ min: 1, max: 1e12 }), fc.array(fc.tuple(small, fc.constantFrom(EntryType.Normal, EntryType.Noop), bytes), { minLength: 1, maxLength: 20 }))
  .map(([first, xs]) => xs.map(([term, type, data], i): Entry => ({ index: first + i, term, type, data })));

/** Any record, with the value it must decode to. */
const recordArb: fc.Arbitrary<{ bytes: Uint8Array; want: WalRecord }> = fc.oneof(
  fc.tuple(idx, idx).map(([seq, firstIndex]) => ({ bytes: encodeSegmentHeader({ seq, firstIndex }), want: { type: RecordType.SegmentHeader, header: { seq, firstIndex } } as WalRecord })),
  fc.tuple(idx, fc.option(small, { nil: null }), idx).map(([term, vote, commit]) => ({
    bytes: encodeHardState({ term, vote, commit }),
    want: { type: RecordType.HardState, hardState: { term, vote, commit } } as WalRecord,
  })),
  fc.tuple(idx, idx, fc.boolean()).map(([index, term, reset]) => ({
    bytes: encodeSnapshotMarker({ meta: { index, term }, reset }),
    want: { type: RecordType.Snapshot, marker: { meta: { index, term }, reset } } as WalRecord,
  })),
  entriesArb.map((entries) => ({ bytes: encodeEntries(entries), want: { type: RecordType.Entries, entries } as WalRecord })),
  fc.tuple(idx, idx, bytes).map(([index, term, data]) => ({
    bytes: encodeSnapshotFile({ index, term }, data),
    want: { type: RecordType.SnapshotFile, meta: { index, term }, data } as WalRecord,
  })),
);

function normalize(r: WalRecord): unknown {
  return JSON.parse(JSON.stringify(r, (_k, v: unknown) => (v instanceof Uint8Array ? Array.from(v) : v)));
}

test('every record type round-trips exactly through frame, scan and decode', () => {
  checkProperty(
    import.meta.url,
    fc.property(fc.array(recordArb, { minLength: 1, maxLength: 12 }), (recs) => {
      const file = concat(recs.map((r) => r.bytes));
      const scan = scanRecords(file, 'f.wal', false);
      assert.equal(scan.tornAt, undefined);
      assert.equal(scan.records.length, recs.length);
      scan.records.forEach((raw, i) => assert.deepEqual(normalize(decodeRecord(raw, 'f.wal')), normalize(recs[i]!.want)));
    }),
    { numRuns: 300 },
  );
});

test('random bytes: the reader returns records or throws only WalCorruptionError, and terminates', () => {
  checkProperty(
    import.meta.url,
    fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (junk, tornOk) => {
      try {
        const scan = scanRecords(junk, 'junk.wal', tornOk);
        for (const r of scan.records) {
          try {
            decodeRecord(r, 'junk.wal');
          } catch (e) {
            assert.ok(e instanceof WalCorruptionError, String(e));
          }
        }
      } catch (e) {
        assert.ok(e instanceof WalCorruptionError, String(e));
      }
    }),
    { numRuns: 2000 },
  );
});

test('a valid log cut anywhere is its intact records plus at most a torn tail', () => {
  checkProperty(
    import.meta.url,
    fc.property(fc.array(recordArb, { minLength: 1, maxLength: 8 }), fc.nat(), (recs, cutSeed) => {
      const file = concat(recs.map((r) => r.bytes));
      const cut = cutSeed % (file.length + 1);
      const scan = scanRecords(file.subarray(0, cut), 'cut.wal', true);
      let off = 0;
      let whole = 0;
      for (const r of recs) {
        if (off + r.bytes.length > cut) break;
        off += r.bytes.length;
        whole++;
      }
      assert.equal(scan.records.length, whole);
      assert.equal(scan.tornAt, off === cut ? undefined : off);
      // Without tolerance, the same cut is a corruption naming that offset.
      if (off !== cut) assert.throws(() => scanRecords(file.subarray(0, cut), 'cut.wal', false), (e: unknown) => e instanceof WalCorruptionError && e.offset === off);
    }),
    { numRuns: 500 },
  );
});

test('a flipped byte is caught: mid-log as corruption naming file and offset, in the last record as a torn tail', () => {
  checkProperty(
    import.meta.url,
    fc.property(fc.array(recordArb, { minLength: 2, maxLength: 6 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (recs, where, mask) => {
      const file = concat(recs.map((r) => r.bytes));
      const pos = where % file.length;
      const bad = file.slice();
      bad[pos]! ^= mask;
      const lastStart = file.length - recs[recs.length - 1]!.bytes.length;
      let start = 0;
      for (const r of recs) {
        if (pos < start + r.bytes.length) break;
        start += r.bytes.length;
      }
      if (pos >= lastStart) {
        // The last record: either reported torn at its start, or (a length byte grew) torn there too.
        const scan = scanRecords(bad, 'x.wal', true);
        assert.equal(scan.tornAt, lastStart);
        assert.equal(scan.records.length, recs.length - 1);
      } else {
        assert.throws(
          () => scanRecords(bad, 'x.wal', true),
          (e: unknown) => e instanceof WalCorruptionError && e.file === 'x.wal' && e.offset === start && /corrupt at byte offset/.test(e.message),
        );
      }
    }),
    { numRuns: 1000 },
  );
});

test('zero padding after the last record is a torn tail, not corruption', () => {
  const rec = encodeHardState({ term: 1, vote: 2, commit: 3 });
  const padded = concat([rec, new Uint8Array(50)]);
  const scan = scanRecords(padded, 'p.wal', true);
  assert.equal(scan.records.length, 1);
  assert.equal(scan.tornAt, rec.length);
});

test('a payload that does not fit its type is reported, not misread', () => {
  const raw = scanRecords(frame(RecordType.HardState, new Uint8Array(5)), 'h.wal', false).records[0]!;
  assert.throws(() => decodeRecord(raw, 'h.wal'), /h\.wal: corrupt at byte offset 0: expected a well-formed record/);
  const unknown = scanRecords(frame(99 as never, new Uint8Array(0)), 'u.wal', false).records[0]!;
  assert.throws(() => decodeRecord(unknown, 'u.wal'), /unknown record type 99/);
  assert.equal(HEADER_BYTES, 13);
});
