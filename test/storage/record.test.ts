import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { concatBytes as concat } from '../../src/util/bytes.js';
import { EntryType, type ConfState, type Entry, type SnapshotMeta } from '../../src/core/types.js';
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
  PREALLOCATED_HEADER_BYTES,
  type WalRecord,
} from '../../src/storage/wal/record.js';
import { checkProperty } from '../util/property.js';

const idx = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const small = fc.integer({ min: 0, max: 1_000_000 });
const bytes = fc.uint8Array({ maxLength: 300 });

const entriesArb = fc
  .tuple(fc.integer({ min: 1, max: 1e12 }), fc.array(fc.tuple(small, fc.oneof(fc.constantFrom(EntryType.Normal, EntryType.Noop, EntryType.ConfChange), fc.integer({ min: 0, max: 255 }).map((t) => t as EntryType)), bytes), { minLength: 1, maxLength: 20 }))
  .map(([first, xs]) => xs.map(([term, type, data], i): Entry => ({ index: first + i, term, type, data })));

const ids = fc.array(fc.integer({ min: 0, max: 1e9 }), { maxLength: 7 });
const confArb: fc.Arbitrary<ConfState> = fc.record({
  voters: ids,
  outgoing: ids,
  learners: ids,
  context: fc.dictionary(fc.string({ maxLength: 8, unit: 'binary' }), fc.string({ maxLength: 40, unit: 'binary' }), { maxKeys: 5, noNullPrototype: true }),
}).map((c) => ({ ...c })); // plain objects, as the core makes them
/** Snapshot metadata, with a configuration or (as written before configurations) without. */
const metaArb: fc.Arbitrary<SnapshotMeta> = fc.tuple(idx, idx, fc.option(confArb, { nil: undefined })).map(([index, term, conf]) => (conf === undefined ? { index, term } : { index, term, conf }));

/** Any record, with the value it must decode to. */
const recordArb: fc.Arbitrary<{ bytes: Uint8Array; want: WalRecord }> = fc.oneof(
  fc.tuple(idx, idx).map(([seq, firstIndex]) => ({ bytes: encodeSegmentHeader({ seq, firstIndex }), want: { type: RecordType.SegmentHeader, header: { seq, firstIndex } } as WalRecord })),
  fc.tuple(idx, idx, idx).map(([seq, firstIndex, preallocated]) => ({
    bytes: encodeSegmentHeader({ seq, firstIndex, preallocated }),
    want: { type: RecordType.SegmentHeader, header: { seq, firstIndex, preallocated } } as WalRecord,
  })),
  fc.tuple(metaArb, fc.boolean()).map(([meta, reset]) => ({
    bytes: encodeSnapshotMarker({ meta, reset }),
    want: { type: RecordType.Snapshot, marker: { meta, reset } } as WalRecord,
  })),
  fc.tuple(metaArb, bytes).map(([meta, data]) => ({
    bytes: encodeSnapshotFile(meta, data),
    want: { type: RecordType.SnapshotFile, meta, data } as WalRecord,
  })),
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

test('decoded records are exactly what was encoded, configurations and unknown entry types included (no key added, none lost)', () => {
  fc.assert(
    fc.property(recordArb, (rec) => {
      const got = decodeRecord(scanRecords(rec.bytes, 'r.wal', false).records[0]!, 'r.wal');
      assert.deepStrictEqual(got, rec.want);
    }),
    { numRuns: 500 },
  );
});

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
    // -847037902: a configuration context key starting with U+FEFF lost it (the UTF-8 decoder stripped it).
    { numRuns: 300, regressionSeeds: [-847037902] },
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

/** Little-endian helpers to write the old layouts byte by byte, independently of the encoders. */
function f64(v: number): number[] {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, v, true);
  return [...b];
}

test('records in the layouts written before configurations and preallocation still decode (conf undefined)', () => {
  // Type 1: a segment header of an append-only segment: [seq f64][firstIndex f64].
  const head = decodeRecord(scanRecords(frame(RecordType.SegmentHeader, new Uint8Array([...f64(3), ...f64(41)])), 'old.wal', false).records[0]!, 'old.wal');
  assert.deepStrictEqual(head, { type: RecordType.SegmentHeader, header: { seq: 3, firstIndex: 41 } });
  // Type 4: a snapshot marker: [index f64][term f64][reset u8].
  const marker = decodeRecord(scanRecords(frame(RecordType.Snapshot, new Uint8Array([...f64(40), ...f64(7), 1])), 'old.wal', false).records[0]!, 'old.wal');
  assert.deepStrictEqual(marker, { type: RecordType.Snapshot, marker: { meta: { index: 40, term: 7 }, reset: true } });
  assert.ok(marker.type === RecordType.Snapshot && !('conf' in marker.marker.meta));
  // Type 5: a snapshot file: [index f64][term f64][data...].
  const file = decodeRecord(scanRecords(frame(RecordType.SnapshotFile, new Uint8Array([...f64(40), ...f64(7), 9, 8, 7])), 'old.snap', false).records[0]!, 'old.snap');
  assert.deepStrictEqual(normalize(file), { type: RecordType.SnapshotFile, meta: { index: 40, term: 7 }, data: [9, 8, 7] });
  assert.ok(file.type === RecordType.SnapshotFile && file.meta.conf === undefined);
  // And without a configuration the writers still produce exactly those layouts.
  assert.equal(encodeSnapshotMarker({ meta: { index: 40, term: 7 }, reset: true })[12], RecordType.Snapshot);
  assert.equal(encodeSnapshotFile({ index: 40, term: 7 }, new Uint8Array(0))[12], RecordType.SnapshotFile);
  assert.equal(encodeSnapshotMarker({ meta: { index: 40, term: 7, conf: { voters: [1], outgoing: [], learners: [], context: {} } }, reset: true })[12], RecordType.SnapshotWithConf);
  assert.equal(encodeSegmentHeader({ seq: 1, firstIndex: 1, preallocated: 4096 }).length, PREALLOCATED_HEADER_BYTES);
});

test('a damaged configuration is reported as a malformed record, never misread', () => {
  const good = encodeSnapshotMarker({ meta: { index: 5, term: 2, conf: { voters: [1, 2], outgoing: [], learners: [], context: { '1': 'a' } } }, reset: false });
  // Re-frame the payload with a voter count far beyond the payload (the CRC then matches: only the layout is wrong).
  const payload = good.slice(13);
  new DataView(payload.buffer).setUint32(17, 1_000_000, true);
  const raw = scanRecords(frame(RecordType.SnapshotWithConf, payload), 'c.wal', false).records[0]!;
  assert.throws(() => decodeRecord(raw, 'c.wal'), (e: unknown) => e instanceof WalCorruptionError && /well-formed record/.test(e.message));
  const badUtf8 = good.slice(13);
  badUtf8[badUtf8.length - 1] = 0xff; // the context value 'a' becomes an invalid UTF-8 byte
  const raw2 = scanRecords(frame(RecordType.SnapshotWithConf, badUtf8), 'c.wal', false).records[0]!;
  assert.throws(() => decodeRecord(raw2, 'c.wal'), /not valid UTF-8/);
});

test('preallocated: records then zeros end cleanly; a last write cut anywhere leaves its whole records and one torn tail', () => {
  fc.assert(
    fc.property(fc.array(recordArb, { minLength: 1, maxLength: 8 }), fc.nat(), fc.nat({ max: 300 }), (recs, cutSeed, slack) => {
      const log = concat(recs.map((r) => r.bytes));
      const file = new Uint8Array(log.length + slack + 1);
      // The records are written; a crash keeps a prefix of the last ones, then zeros to the preallocated end.
      const cut = cutSeed % (log.length + 1);
      file.set(log.subarray(0, cut));
      const scan = scanRecords(file, 'p.wal', true, { preallocated: true });
      let off = 0;
      let whole = 0;
      for (const r of recs) {
        if (off + r.bytes.length > cut) break;
        off += r.bytes.length;
        whole++;
      }
      // A kept prefix that happens to equal its record with zeros after is that record, whole.
      const partial = recs[whole];
      const zeroTail = partial !== undefined && cut > off && concat([log.subarray(off, cut), new Uint8Array(off + partial.bytes.length - cut)]).every((b, i) => b === partial.bytes[i]);
      // A kept prefix of nothing but zero bytes (a length field's low bytes, say) leaves the file as if that write never began.
      const nothingKept = log.subarray(off, cut).every((b) => b === 0);
      assert.equal(scan.records.length, whole + (zeroTail ? 1 : 0));
      assert.equal(scan.tornAt, nothingKept || zeroTail ? undefined : off);
      if (!nothingKept && !zeroTail) assert.throws(() => scanRecords(file, 'p.wal', false, { preallocated: true }), (e: unknown) => e instanceof WalCorruptionError && e.offset === off);
    }),
    { numRuns: 1000 },
  );
});

test('preallocated: data after a zero record header is a torn tail in the last segment, corruption elsewhere', () => {
  const rec = encodeHardState({ term: 1, vote: 2, commit: 3 });
  const file = new Uint8Array(rec.length + 100);
  file.set(rec);
  file[rec.length + 40] = 7;
  assert.deepEqual(scanRecords(file, 'z.wal', true, { preallocated: true }).tornAt, rec.length);
  assert.throws(() => scanRecords(file, 'z.wal', false, { preallocated: true }), (e: unknown) => e instanceof WalCorruptionError && e.offset === rec.length);
  assert.equal(scanRecords(file.subarray(0, rec.length + 40), 'z.wal', false, { preallocated: true }).tornAt, undefined);
});

test('-1 reads only as "no vote": anywhere else a record holding it is malformed, never misread', () => {
  const read = (bytes: Uint8Array): unknown => decodeRecord(scanRecords(bytes, 'n.wal', false).records[0]!, 'n.wal');
  assert.deepEqual(read(encodeHardState({ term: 3, vote: null, commit: 2 })), { type: RecordType.HardState, hardState: { term: 3, vote: null, commit: 2 } });
  assert.throws(() => read(encodeHardState({ term: -1, vote: null, commit: 2 })), /n\.wal: corrupt at byte offset 0: expected a well-formed record.*-1/);
  assert.throws(() => read(encodeHardState({ term: 3, vote: 1, commit: -1 })), /-1/);
  assert.throws(() => read(encodeEntries([{ index: 5, term: -1, type: EntryType.Normal, data: new Uint8Array(1) }])), /-1/);
  assert.throws(() => read(encodeSnapshotMarker({ meta: { index: -1, term: 2 }, reset: false })), /-1/);
});
