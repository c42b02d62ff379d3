import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { FileStorage, StorageRecoveryError } from '../../src/storage/file-storage.js';
import { LockedError } from '../../src/storage/fs.js';
import { applyUpdate } from '../../src/storage/apply-update.js';
import { EMPTY_STATE, type StorageState, type StorageUpdate } from '../../src/storage/types.js';
import {
  RecordType,
  WalCorruptionError,
  allZero,
  decodeRecord,
  encodeEntries,
  encodeHardState,
  encodeSegmentHeader,
  encodeSnapshotFile,
  encodeSnapshotMarker,
  scanRecords,
} from '../../src/storage/wal/record.js';
import { EntryType, type Entry, type Snapshot } from '../../src/core/types.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { concatBytes } from '../../src/util/bytes.js';
import { SeededRandom } from '../../src/util/random.js';
import { ent, ents, hs, snap, view } from './helpers.js';

const root = mkdtempSync(path.join(tmpdir(), 'tsraft-fs-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => path.join(root, `d${n++}`);

/** Where the records of a preallocated segment file end (the zeros after them start). */
function recordsEnd(file: string): number {
  const recs = scanRecords(readFileSync(file), file, false, { preallocated: true }).records;
  return recs[recs.length - 1]!.end;
}

/** Applies updates to a fresh storage and to the reference model; returns both. */
async function build(dir: string, updates: StorageUpdate[], segmentBytes = 1 << 20): Promise<{ s: FileStorage; model: StorageState }> {
  const s = await FileStorage.open(dir, { segmentBytes });
  let model = EMPTY_STATE;
  for (const u of updates) {
    await s.write(u);
    model = applyUpdate(model, u);
  }
  return { s, model };
}

test('what was written is what is loaded after reopening', async () => {
  const dir = freshDir();
  const updates: StorageUpdate[] = [
    { hardState: hs(1, 0, 0), sync: true },
    { entries: ents(1, 5, 1), hardState: hs(1, 0, 3), sync: true },
    { entries: [ent(4, 2), ent(5, 2), ent(6, 2)], hardState: hs(2, 1, 3), sync: true }, // overwrite from 4
    { hardState: hs(2, 1, 6), sync: false },
  ];
  const { s, model } = await build(dir, updates);
  // load() gives what was recovered at open, and lets it go at the first write: asked later, it says so.
  await assert.rejects(s.load(), /load after the first write/);
  await s.close();
  const r = await FileStorage.open(dir);
  assert.deepEqual(view(await r.load()), view(model));
  await r.close();
});

test('snapshots: compaction keeps the entries after it, an install over a conflicting log drops them', async () => {
  const dir = freshDir();
  const updates: StorageUpdate[] = [
    { entries: ents(1, 10, 1), hardState: hs(1, null, 8), sync: true },
    { snapshot: snap(6, 1), sync: true }, // local compaction: 7..10 stay
    { entries: ents(11, 12, 1), sync: true },
    { snapshot: snap(20, 3), hardState: hs(3, null, 20), sync: true }, // install beyond the log: reset
    { entries: ents(21, 23, 3), sync: true },
  ];
  const { s, model } = await build(dir, updates);
  await s.close();
  const r = await FileStorage.open(dir);
  const got = await r.load();
  assert.deepEqual(view(got), view(model));
  assert.deepEqual(
    got.entries.map((e) => e.index),
    [21, 22, 23],
  );
  assert.deepEqual(readdirSync(path.join(dir, 'snap')), ['0000000000000014-0000000000000003.snap'], 'older snapshot files are removed');
  await r.close();
});

test('an install whose index the log holds with another term resets the log (Figure 13)', async () => {
  const dir = freshDir();
  const { s, model } = await build(dir, [
    { entries: ents(1, 8, 1), sync: true },
    { snapshot: snap(5, 2), hardState: hs(2, null, 5), sync: true },
  ]);
  await s.close();
  const r = await FileStorage.open(dir);
  const got = await r.load();
  assert.deepEqual(view(got), view(model));
  assert.deepEqual(got.entries, []);
  await r.close();
});

test('segments rotate at the configured size and those wholly behind a snapshot are deleted', async () => {
  const dir = freshDir();
  const s = await FileStorage.open(dir, { segmentBytes: 512 });
  let model = EMPTY_STATE;
  for (let i = 1; i <= 200; i++) {
    const u: StorageUpdate = { entries: [ent(i, 1, 'x'.repeat(40))], hardState: hs(1, 0, i - 1), sync: true };
    await s.write(u);
    model = applyUpdate(model, u);
  }
  const before = readdirSync(path.join(dir, 'wal')).length;
  assert.ok(before > 10, `expected many segments, got ${before}`);
  const u: StorageUpdate = { snapshot: snap(190, 1), sync: true };
  await s.write(u);
  await s.flushSnapshots();
  model = applyUpdate(model, u);
  const segs = readdirSync(path.join(dir, 'wal')).sort();
  const firsts = segs.map((name) => Number.parseInt(name.split('-')[1]!, 16));
  // The first segment left holds index 191 (the first the snapshot does not cover); every earlier one is gone.
  assert.ok(firsts[0]! <= 191 && firsts[1]! > 191, `segments left: ${segs.join(' ')}`);
  assert.equal(s.stats.segmentsDeleted, before - segs.length);
  await s.close();
  const r = await FileStorage.open(dir, { segmentBytes: 512 });
  assert.deepEqual(view(await r.load()), view(model));
  await r.close();
});

test('concurrent writes share one fsync (group commit) and apply in order', async () => {
  const dir = freshDir();
  const s = await FileStorage.open(dir);
  const syncs0 = s.stats.walSyncs;
  const ps: Promise<void>[] = [];
  let model = EMPTY_STATE;
  for (let i = 1; i <= 50; i++) {
    const u: StorageUpdate = { entries: [ent(i, 1)], sync: true };
    model = applyUpdate(model, u);
    ps.push(s.write(u));
  }
  await Promise.all(ps);
  const used = s.stats.walSyncs - syncs0;
  assert.ok(used <= 2, `50 concurrent writes used ${used} fsyncs`);
  await s.close();
  const r = await FileStorage.open(dir);
  assert.deepEqual(view(await r.load()), view(model));
  await r.close();
});

test('a second open of the same directory is refused while the first holds it', async () => {
  const dir = freshDir();
  const s = await FileStorage.open(dir);
  await assert.rejects(FileStorage.open(dir), LockedError);
  await s.close();
  const again = await FileStorage.open(dir);
  await again.close();
});

test('a lock left by a dead process is taken over', async () => {
  const dir = freshDir();
  const s = await FileStorage.open(dir);
  await s.close();
  writeFileSync(path.join(dir, 'LOCK'), '999999999\n'); // no such pid
  const r = await FileStorage.open(dir);
  await r.close();
});

test('a torn last record is truncated, with a warning naming file and offset', async () => {
  const dir = freshDir();
  const { s, model } = await build(dir, [{ entries: ents(1, 3, 1), sync: true }]);
  await s.write({ entries: ents(4, 6, 1), sync: true });
  await s.close();
  const wal = path.join(dir, 'wal', readdirSync(path.join(dir, 'wal'))[0]!);
  const size = statSync(wal).size;
  const end = recordsEnd(wal);
  const buf = readFileSync(wal);
  buf.fill(0, end - 7, end); // the last record's end never reached the disk
  writeFileSync(wal, buf);
  const warnings: { obj: object; msg: string }[] = [];
  const r = await FileStorage.open(dir, { logger: { warn: (obj, msg) => warnings.push({ obj, msg }), info() {} } });
  assert.deepEqual(view(await r.load()), view(model));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!.msg, /torn/);
  assert.equal((warnings[0]!.obj as { file: string }).file, wal);
  assert.equal(typeof (warnings[0]!.obj as { offset: number }).offset, 'number');
  await r.close();
  assert.equal(statSync(wal).size, size, 'a preallocated segment keeps its size');
  assert.ok(allZero(readFileSync(wal), (warnings[0]!.obj as { offset: number }).offset), 'the torn record was zeroed');
});

test('a flipped byte mid-log stops startup with the file, the offset and what was expected', async () => {
  const dir = freshDir();
  const { s } = await build(dir, [
    { entries: ents(1, 3, 1), sync: true },
    { hardState: hs(1, 0, 2), sync: true },
    { entries: ents(4, 5, 1), sync: true },
  ]);
  await s.close();
  const wal = path.join(dir, 'wal', readdirSync(path.join(dir, 'wal'))[0]!);
  const buf = readFileSync(wal);
  buf[recordsEnd(wal) - 60]! ^= 0x40;
  writeFileSync(wal, buf);
  await assert.rejects(FileStorage.open(dir), (e: unknown) => e instanceof WalCorruptionError && e.file === wal && /corrupt at byte offset \d+: expected/.test(e.message));
  // nothing was truncated: the operator still has the evidence
  assert.equal(readFileSync(wal).length, buf.length);
});

test('a missing segment, a missing snapshot file and an unknown file name stop startup', async () => {
  const dir = freshDir();
  const s = await FileStorage.open(dir, { segmentBytes: 256 });
  for (let i = 1; i <= 40; i++) await s.write({ entries: [ent(i, 1, 'y'.repeat(30))], sync: true });
  await s.write({ snapshot: snap(10, 1), sync: true });
  await s.close();
  const walDir = path.join(dir, 'wal');
  const segs = readdirSync(walDir).sort();
  assert.ok(segs.length >= 3);
  const middle = path.join(walDir, segs[1]!);
  const saved = readFileSync(middle);
  rmSync(middle);
  await assert.rejects(FileStorage.open(dir), (e: unknown) => e instanceof StorageRecoveryError && /segments are missing/.test(e.message));
  writeFileSync(middle, saved);
  const snapFile = path.join(dir, 'snap', readdirSync(path.join(dir, 'snap'))[0]!);
  const snapBytes = readFileSync(snapFile);
  rmSync(snapFile);
  await assert.rejects(FileStorage.open(dir), (e: unknown) => e instanceof StorageRecoveryError && e.message.includes(snapFile));
  const bad = Buffer.from(snapBytes);
  bad[bad.length - 2]! ^= 1;
  writeFileSync(snapFile, bad);
  await assert.rejects(FileStorage.open(dir), (e: unknown) => e instanceof WalCorruptionError && e.file === snapFile);
  writeFileSync(snapFile, snapBytes);
  writeFileSync(path.join(walDir, 'garbage.wal'), 'x');
  await assert.rejects(FileStorage.open(dir), /not a WAL segment name/);
  rmSync(path.join(walDir, 'garbage.wal'));
  const ok = await FileStorage.open(dir);
  await ok.close();
});

// ---- preallocated segments -------------------------------------------------------

const CONF = { voters: [1, 2, 3], outgoing: [1, 2], learners: [4], context: { '1': 'n1@10.0.0.1:7001', '4': 'n4 \u00e9' } };

test('segments are preallocated to their full size, recorded in their header; a write bigger than that gets a segment of its own', async () => {
  const dir = freshDir();
  const s = await FileStorage.open(dir, { segmentBytes: 4096 });
  let model = EMPTY_STATE;
  const writes: StorageUpdate[] = [];
  for (let i = 1; i <= 60; i++) writes.push({ entries: [ent(i, 1, 'z'.repeat(100))], hardState: hs(1, 0, i - 1), sync: true });
  writes.push({ entries: [ent(61, 1, 'big'.repeat(3000))], sync: true }); // 9 KB: more than a segment
  writes.push({ entries: [ent(62, 1)], sync: true });
  for (const u of writes) {
    await s.write(u);
    model = applyUpdate(model, u);
  }
  const walDir = path.join(dir, 'wal');
  const segs = readdirSync(walDir).sort();
  assert.ok(segs.length >= 3, segs.join(' '));
  for (const name of segs) {
    const file = path.join(walDir, name);
    const bytes = readFileSync(file);
    const head = decodeRecord(scanRecords(bytes, file, false, { preallocated: true }).records[0]!, file);
    assert.ok(head.type === RecordType.SegmentHeader);
    assert.equal(bytes.length, head.header.preallocated, `${name} is as long as its header says`);
    assert.ok(head.header.preallocated! >= 4096);
  }
  assert.ok(segs.some((name) => statSync(path.join(walDir, name)).size > 9000), 'the big write got a bigger segment');
  await s.close();
  const r = await FileStorage.open(dir, { segmentBytes: 4096 });
  assert.deepEqual(view(await r.load()), view(model));
  await r.close();
});

test('a fresh data directory starts with one preallocated segment, full size before any write', async () => {
  const dir = freshDir();
  const s = await FileStorage.open(dir, { segmentBytes: 1 << 16 });
  const segs = readdirSync(path.join(dir, 'wal'));
  assert.deepEqual(segs, ['0000000000000001-0000000000000001.wal']);
  assert.equal(statSync(path.join(dir, 'wal', segs[0]!)).size, 1 << 16);
  await s.close();
});

/** A log of several segments; returns its directory, the model and the segment files, oldest first. */
async function rotatedLog(): Promise<{ dir: string; model: StorageState; segs: string[] }> {
  const dir = freshDir();
  const { s, model } = await build(
    dir,
    Array.from({ length: 40 }, (_, k): StorageUpdate => ({ entries: ents(3 * k + 1, 3 * k + 3, 1 + (k >> 3)), hardState: hs(1 + (k >> 3), 0, 3 * k), sync: true })),
    1024,
  );
  await s.close();
  const segs = readdirSync(path.join(dir, 'wal'))
    .sort()
    .map((n) => path.join(dir, 'wal', n));
  return { dir, model, segs };
}

test('a rotated log recovers exactly, and keeps working', async () => {
  const { dir, model, segs } = await rotatedLog();
  assert.ok(segs.length >= 4, `${segs.length} segments`);
  const r = await FileStorage.open(dir, { segmentBytes: 1024 });
  assert.deepEqual(view(await r.load()), view(model));
  const u: StorageUpdate = { entries: ents(121, 130, 9), sync: true };
  await r.write(u);
  await r.close();
  const again = await FileStorage.open(dir, { segmentBytes: 1024 });
  assert.deepEqual(view(await again.load()), view(applyUpdate(model, u)));
  await again.close();
});

/** Asserts that opening `dir` is refused as a cut segment, naming the file, its size and the expected size. */
async function assertCut(dir: string, file: string, size: number, expected: number | undefined, what: string): Promise<void> {
  await assert.rejects(
    FileStorage.open(dir, { segmentBytes: 1024 }),
    (e: unknown) =>
      e instanceof StorageRecoveryError &&
      e.message.startsWith(`${file}: the WAL segment was cut short: it is ${size} bytes, expected `) &&
      (expected === undefined || e.message.includes(`the ${expected} bytes its header says it was preallocated to`)) &&
      e.message.includes('lost data that may have been acknowledged') &&
      e.message.includes('remove this member from the cluster and add it back with an empty data directory') &&
      e.message.includes('docs/OPERATIONS.md'),
    what,
  );
}

test('a segment cut at any record boundary or inside any record is refused, naming file, size and expected size', async () => {
  const { dir, model, segs } = await rotatedLog();
  const seed = Number(process.env['TSRAFT_TEST_SEED'] ?? 1);
  const rnd = new SeededRandom(seed);
  let cuts = 0;
  for (const file of [segs[0]!, segs[Math.floor(segs.length / 2)]!, segs[segs.length - 1]!]) {
    const whole = readFileSync(file);
    const recs = scanRecords(whole, file, false, { preallocated: true }).records;
    const offsets = new Set<number>([0, 1, 12, 13, 30]);
    for (const rec of recs) {
      offsets.add(rec.offset).add(rec.end).add(rec.offset + 6).add(rec.offset + 13);
      offsets.add(rec.offset + 1 + rnd.int(rec.end - rec.offset - 1)); // somewhere inside it
    }
    const zerosFrom = recs[recs.length - 1]!.end;
    if (whole.length - zerosFrom > 1) offsets.add(zerosFrom + 1 + rnd.int(whole.length - zerosFrom - 1)); // among the zeros after the records
    offsets.add(Math.floor(whole.length / 2)).add(whole.length - 1);
    for (const at of [...offsets].sort((a, b) => a - b)) {
      if (at >= whole.length) continue;
      truncateSync(file, at);
      try {
        // Cuts inside the header leave no header to say the expected size; every other cut is measured against it.
        await assertCut(dir, file, at, at >= recs[0]!.end ? whole.length : undefined, `seed ${seed}: ${path.basename(file)} cut to ${at} bytes`);
      } finally {
        writeFileSync(file, whole);
      }
      cuts++;
    }
  }
  assert.ok(cuts > 60, `${cuts} cuts`);
  // The evidence is intact: with every file restored, the log loads as written.
  const r = await FileStorage.open(dir, { segmentBytes: 1024 });
  assert.deepEqual(view(await r.load()), view(model));
  await r.close();
});

test('a torn last write inside a preallocated segment (garbage, then zeros) is repaired at every cut', async () => {
  const dir = freshDir();
  const { s, model } = await build(dir, [{ entries: ents(1, 3, 1), hardState: hs(1, 0, 1), sync: true }], 4096);
  const wal = path.join(dir, 'wal', readdirSync(path.join(dir, 'wal'))[0]!);
  const before = recordsEnd(wal);
  const u: StorageUpdate = { entries: ents(4, 6, 1), hardState: hs(1, 0, 3), sync: true };
  await s.write(u);
  await s.close();
  const whole = readFileSync(wal);
  const after = recordsEnd(wal);
  for (let keep = 1; keep < after - before; keep++) {
    const torn = Buffer.from(whole);
    torn.fill(0, before + keep, after);
    writeFileSync(wal, torn);
    const warnings: object[] = [];
    const r = await FileStorage.open(dir, { logger: { warn: (o) => warnings.push(o), info() {} } });
    const got = await r.load();
    // The write held two records: an entries record and a hard state; a prefix of them may survive whole.
    const entriesEnd = before + (after - before - 37);
    assert.deepEqual(view(got), view(keep >= entriesEnd - before ? applyUpdate(model, { entries: u.entries!, sync: true }) : model), `kept ${keep} bytes`);
    assert.equal(warnings.length, keep === entriesEnd - before ? 0 : 1, `kept ${keep} bytes`);
    await r.close();
    const repaired = readFileSync(wal);
    assert.equal(repaired.length, whole.length);
    assert.ok(allZero(repaired, keep >= entriesEnd - before ? entriesEnd : before), `kept ${keep}: the torn bytes are zeroed`);
  }
  writeFileSync(wal, whole);
});

test('a data directory written before preallocation and configurations (old record layouts) still loads, and continues in a new segment', async () => {
  const dir = freshDir();
  mkdirSync(path.join(dir, 'wal'), { recursive: true });
  mkdirSync(path.join(dir, 'snap'), { recursive: true });
  // Old layouts: append-only segments (header without a preallocated size), snapshot markers and files without a configuration.
  const seg1 = concatBytes([encodeSegmentHeader({ seq: 1, firstIndex: 1 }), encodeHardState(hs(0, null, 0)), encodeEntries(ents(1, 6, 1)), encodeHardState(hs(1, 0, 5))]);
  const seg2 = concatBytes([
    encodeSegmentHeader({ seq: 2, firstIndex: 7 }),
    encodeHardState(hs(1, 0, 5)),
    encodeEntries(ents(7, 9, 2)),
    encodeSnapshotMarker({ meta: { index: 4, term: 1 }, reset: false }),
    encodeHardState(hs(2, 1, 8)),
  ]);
  const torn = encodeEntries(ents(10, 11, 2)).subarray(0, 20); // and a torn tail
  writeFileSync(path.join(dir, 'wal', '0000000000000001-0000000000000001.wal'), seg1);
  writeFileSync(path.join(dir, 'wal', '0000000000000002-0000000000000007.wal'), concatBytes([seg2, torn]));
  writeFileSync(path.join(dir, 'snap', '0000000000000004-0000000000000001.snap'), encodeSnapshotFile({ index: 4, term: 1 }, new TextEncoder().encode('old')));
  for (const b of [seg1, seg2]) assert.equal(b[12], RecordType.SegmentHeader);
  const want = {
    hardState: hs(2, 1, 8),
    snapshot: { meta: { index: 4, term: 1 }, data: new TextEncoder().encode('old') },
    entries: [...ents(5, 6, 1), ...ents(7, 9, 2)],
  };
  const warnings: object[] = [];
  const s = await FileStorage.open(dir, { segmentBytes: 4096, logger: { warn: (o) => warnings.push(o), info() {} } });
  const got = await s.load();
  assert.deepEqual(view(got), view(want));
  assert.equal('conf' in got.snapshot!.meta, false, 'no configuration');
  assert.equal(warnings.length, 1, 'the torn tail of the old segment is cut off');
  assert.equal(statSync(path.join(dir, 'wal', '0000000000000002-0000000000000007.wal')).size, seg2.length);
  // The old segment is never written again: the next write goes to a new, preallocated one.
  const names = readdirSync(path.join(dir, 'wal')).sort();
  assert.deepEqual(names.slice(0, 2), ['0000000000000001-0000000000000001.wal', '0000000000000002-0000000000000007.wal']);
  assert.equal(names[2], '0000000000000003-000000000000000a.wal');
  assert.equal(statSync(path.join(dir, 'wal', names[2]!)).size, 4096);
  const u: StorageUpdate = { entries: ents(10, 12, 2), hardState: hs(2, 1, 11), sync: true };
  await s.write(u);
  await s.close();
  const r = await FileStorage.open(dir, { segmentBytes: 4096 });
  assert.deepEqual(view(await r.load()), view(applyUpdate(want, u)));
  await r.close();
});

test('snapshot metadata keeps its configuration through FileStorage: marker, snapshot file, checkpoints of later segments', async () => {
  const dir = freshDir();
  const withConf: Snapshot = { meta: { index: 5, term: 1, conf: CONF }, data: new TextEncoder().encode('s5') };
  const { s, model } = await build(
    dir,
    [{ entries: ents(1, 8, 1), hardState: hs(1, 0, 6), sync: true }, { snapshot: withConf, sync: true }, ...Array.from({ length: 30 }, (_, k): StorageUpdate => ({ entries: [ent(9 + k, 1, 'w'.repeat(80))], sync: true }))],
    1024,
  );
  await s.close();
  const snapFile = path.join(dir, 'snap', '0000000000000005-0000000000000001.snap');
  assert.equal(readFileSync(snapFile)[12], RecordType.SnapshotFileWithConf);
  // The segment that recorded the snapshot is still there: drop it by compacting further, through the same conf.
  const r = await FileStorage.open(dir, { segmentBytes: 1024 });
  const got = await r.load();
  assert.deepEqual(got.snapshot!.meta, withConf.meta);
  assert.deepEqual(view(got), view(model));
  const later: Snapshot = { meta: { index: 30, term: 1, conf: { ...CONF, outgoing: [] } }, data: new TextEncoder().encode('s30') };
  await r.write({ snapshot: later, sync: true });
  await r.write({ entries: [ent(39, 1)], sync: true });
  await r.close();
  const segs = readdirSync(path.join(dir, 'wal')).sort();
  assert.ok(Number.parseInt(segs[0]!.split('-')[1]!, 16) > 1, 'the first segments were deleted: the configuration survives in checkpoints');
  const r2 = await FileStorage.open(dir, { segmentBytes: 1024 });
  const got2 = await r2.load();
  assert.deepEqual(got2.snapshot!.meta, later.meta);
  assert.equal(got2.entries[0]!.index, 31);
  await r2.close();
  // A snapshot file whose configuration differs from the marker's is damage.
  const laterFile = path.join(dir, 'snap', '000000000000001e-0000000000000001.snap');
  writeFileSync(laterFile, encodeSnapshotFile({ index: 30, term: 1, conf: CONF }, new TextEncoder().encode('s30')));
  await assert.rejects(FileStorage.open(dir, { segmentBytes: 1024 }), (e: unknown) => e instanceof WalCorruptionError && e.file === laterFile);
});

test('entries of type ConfChange, and of types storage does not know, round-trip', async () => {
  const dir = freshDir();
  const data = new Uint8Array([1, 2, 3, 0, 255]);
  const entries: Entry[] = [
    { index: 1, term: 1, type: EntryType.Normal, data },
    { index: 2, term: 1, type: EntryType.ConfChange, data },
    { index: 3, term: 1, type: EntryType.Noop, data: new Uint8Array(0) },
    { index: 4, term: 1, type: 9 as EntryType, data },
  ];
  const { s, model } = await build(dir, [{ entries, sync: true }]);
  await s.close();
  const r = await FileStorage.open(dir);
  const got = await r.load();
  assert.deepEqual(view(got), view(model));
  assert.deepEqual(
    got.entries.map((e) => e.type),
    [0, 2, 1, 9],
  );
  await r.close();
});

test('MemoryStorage keeps snapshot configurations', async () => {
  const m = new MemoryStorage();
  await m.write({ entries: ents(1, 3, 1), sync: true });
  await m.write({ snapshot: { meta: { index: 2, term: 1, conf: CONF }, data: new Uint8Array([7]) }, sync: true });
  const got = await m.load();
  assert.deepEqual(got.snapshot!.meta, { index: 2, term: 1, conf: CONF });
  assert.deepEqual(new MemoryStorage(got).snapshotState().snapshot!.meta.conf, CONF);
});

test('a snapshot keeps the configuration it carries across a restart (and a marker without one still reads)', async () => {
  const dir = freshDir();
  const conf = { voters: [0, 3], outgoing: [0, 1, 2], learners: [4], context: { '3': 'n3' } };
  const { s } = await build(dir, [
    { entries: ents(1, 8, 1), hardState: hs(1, null, 8), sync: true },
    { snapshot: { meta: { index: 6, term: 1, conf }, data: new Uint8Array([1, 2]) }, sync: true },
  ]);
  await s.close();
  const r = await FileStorage.open(dir);
  assert.deepEqual((await r.load()).snapshot?.meta, { index: 6, term: 1, conf });
  await r.close();
  const dir2 = freshDir();
  const { s: s2 } = await build(dir2, [{ entries: ents(1, 3, 1), hardState: hs(1, null, 3), sync: true }, { snapshot: snap(2, 1), sync: true }]);
  await s2.close();
  const r2 = await FileStorage.open(dir2);
  assert.deepEqual((await r2.load()).snapshot?.meta, { index: 2, term: 1 });
  await r2.close();
});
