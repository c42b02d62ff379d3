/**
 * Crash consistency of FileStorage on SimDisk: seeded workloads crashed at
 * thousands of random points (between any two file operations, keeping random
 * prefixes of unsynced writes), torn tails at every byte offset, and flipped
 * bytes in every record.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimCrashError, SimDisk } from '../../src/sim/disk.js';
import { applyUpdate } from '../../src/storage/apply-update.js';
import { DurabilityModel } from '../../src/storage/durability.js';
import { FileStorage, StorageRecoveryError } from '../../src/storage/file-storage.js';
import { EMPTY_STATE, type StorageState, type StorageUpdate } from '../../src/storage/types.js';
import { RecordType, WalCorruptionError, allZero, scanRecords } from '../../src/storage/wal/record.js';
import { SeededRandom, type Random } from '../../src/util/random.js';
import { ent, ents, hs, snap, view } from './helpers.js';
import { genUpdate, lastIndex } from './crash-gen.js';

const DIR = '/data';
const CRASH_TRIALS = Number(process.env['TSRAFT_CRASH_TRIALS'] ?? 5000);

interface TrialResult {
  crashed: 'write' | 'open' | 'end';
  torn: number;
}

async function openRetrying(disk: SimDisk, segmentBytes: number, r: Random): Promise<FileStorage> {
  // Sometimes the machine crashes again during recovery; recovery must survive that too.
  if (r.int(4) === 0) {
    disk.crashAfter(1 + r.int(12));
    try {
      const s = await FileStorage.open(DIR, { fs: disk.mount(), segmentBytes });
      disk.crashAfter(Infinity);
      return s;
    } catch (e) {
      if (!(e instanceof SimCrashError)) throw e;
    }
  }
  return FileStorage.open(DIR, { fs: disk.mount(), segmentBytes });
}

async function trial(seed: number): Promise<TrialResult> {
  const r = new SeededRandom(seed);
  const disk = new SimDisk({ random: r.fork(), tornWriteProbability: 0.5 });
  const segmentBytes = 150 + r.int(1500);
  let acked: StorageState = EMPTY_STATE;
  const model = new DurabilityModel(EMPTY_STATE);
  let inflight: StorageUpdate | undefined;
  let crashed: TrialResult['crashed'] = 'end';
  disk.crashAfter(1 + r.int(200));
  try {
    // Small pieces: crashes land inside snapshot files being written off the WAL path too.
    const s = await FileStorage.open(DIR, { fs: disk.mount(), segmentBytes, snapshotPieceBytes: 1 + r.int(24) });
    const n = 5 + r.int(60);
    for (let i = 0; i < n; i++) {
      const u = genUpdate(r, acked);
      inflight = u;
      model.issued(u);
      await s.write(u);
      model.acknowledged(u);
      acked = applyUpdate(acked, u);
      inflight = undefined;
    }
    disk.crash();
  } catch (e) {
    if (!(e instanceof SimCrashError)) throw e;
    crashed = inflight === undefined ? 'open' : 'write';
  }
  const torn = disk.lastCrash?.tornFiles.length ?? 0;
  const s2 = await openRetrying(disk, segmentBytes, r);
  const got = await s2.load();
  assert.ok(model.allows(got), `seed ${seed}: recovered ${JSON.stringify(view(got))}\nacknowledged ${JSON.stringify(view(acked))}\nin flight ${JSON.stringify(inflight)}`);
  const durable = model.durableState;
  assert.ok(got.hardState.term >= durable.hardState.term, `seed ${seed}: term went backwards`);
  if (got.hardState.term === durable.hardState.term && durable.hardState.vote !== null) assert.equal(got.hardState.vote, durable.hardState.vote, `seed ${seed}: vote changed`);
  // The recovered storage keeps working, and survives another crash with what it acknowledged.
  const next: StorageUpdate = { entries: ents(lastIndex(got) + 1, lastIndex(got) + 2, Math.max(1, got.hardState.term)), sync: true };
  await s2.write(next);
  const after = applyUpdate(got, next);
  disk.crash();
  const s3 = await FileStorage.open(DIR, { fs: disk.mount(), segmentBytes });
  assert.deepEqual(view(await s3.load()), view(after), `seed ${seed}: the write after recovery was lost`);
  await s3.close();
  return { crashed, torn };
}

test(`FileStorage keeps every acknowledged write across ${CRASH_TRIALS} random crashes`, async () => {
  const counts = { write: 0, open: 0, end: 0, torn: 0 };
  for (let seed = 1; seed <= CRASH_TRIALS; seed++) {
    const res = await trial(seed).catch((e: unknown) => {
      throw new Error(`crash trial seed ${seed}: ${(e as Error).message}`, { cause: e });
    });
    counts[res.crashed]++;
    if (res.torn > 0) counts.torn++;
  }
  // The crash points really were spread over the work, not all at the end.
  assert.ok(counts.write > CRASH_TRIALS / 3, JSON.stringify(counts));
  assert.ok(counts.open > 0, JSON.stringify(counts));
  assert.ok(counts.torn > CRASH_TRIALS / 20, JSON.stringify(counts));
});

/** The segment size of the prepared disks: one segment holds their whole log. */
const SEGMENT = 4096;

/** Where the records of a preallocated segment end (the zeros after them start). */
async function recordsEnd(disk: SimDisk, wal: string): Promise<number> {
  const recs = scanRecords(await disk.mount().readFile(wal), wal, false, { preallocated: true }).records;
  return recs[recs.length - 1]!.end;
}

/** A disk with a small log holding every record type, and the state it holds. */
async function preparedDisk(): Promise<{ disk: SimDisk; state: StorageState; wal: string }> {
  const disk = new SimDisk({ random: new SeededRandom(7), tornWriteProbability: 0 });
  const s = await FileStorage.open(DIR, { fs: disk.mount(), segmentBytes: SEGMENT });
  const updates: StorageUpdate[] = [
    { entries: ents(1, 4, 1), hardState: hs(1, 0, 2), sync: true },
    { snapshot: snap(2, 1), sync: true },
    { hardState: hs(2, 1, 3), sync: true },
    { entries: [ent(5, 2), ent(6, 2)], sync: true },
    { hardState: hs(2, 1, 6), sync: true },
  ];
  let state = EMPTY_STATE;
  for (const u of updates) {
    await s.write(u);
    state = applyUpdate(state, u);
  }
  await s.close();
  const wal = disk.files().find((f) => f.endsWith('.wal'))!;
  return { disk, state, wal };
}

test('a torn last record is recovered at every byte offset it can be cut at', async () => {
  const u: StorageUpdate = { entries: ents(7, 9, 2), sync: true };
  const probe = await preparedDisk();
  const before = await recordsEnd(probe.disk, probe.wal);
  const s0 = await FileStorage.open(DIR, { fs: probe.disk.mount(), segmentBytes: SEGMENT });
  await s0.write(u);
  const len = (await recordsEnd(probe.disk, probe.wal)) - before; // the bytes this write adds
  const whole = await probe.disk.mount().readFile(probe.wal);
  await s0.close();
  for (let keep = 0; keep <= len; keep++) {
    const { disk, state, wal } = await preparedDisk();
    const s = await FileStorage.open(DIR, { fs: disk.mount(), segmentBytes: SEGMENT });
    disk.keepUnsynced = () => keep;
    disk.crashAfter(2); // the write goes through; power fails at the fsync
    await assert.rejects(s.write(u), SimCrashError);
    const kept = await disk.mount().readFile(wal);
    assert.equal(kept.length, SEGMENT, 'a preallocated segment keeps its size');
    assert.ok(allZero(kept, before + keep) && Buffer.compare(kept.subarray(0, before + keep), whole.subarray(0, before + keep)) === 0, `the first ${keep} bytes of the write survive`);
    const warnings: object[] = [];
    const r = await FileStorage.open(DIR, { fs: disk.mount(), segmentBytes: SEGMENT, logger: { warn: (o) => warnings.push(o), info() {} } });
    const got = await r.load();
    if (keep === len) {
      assert.deepEqual(view(got), view(applyUpdate(state, u)), 'a complete record survives');
      assert.equal(warnings.length, 0);
    } else {
      assert.deepEqual(view(got), view(state), `cut after ${keep} bytes`);
      assert.deepEqual(warnings, keep === 0 ? [] : [{ file: wal, offset: before, size: SEGMENT }]);
      const repaired = await disk.mount().readFile(wal);
      assert.equal(repaired.length, SEGMENT);
      assert.ok(allZero(repaired, before), 'the torn bytes are zeroed');
    }
    await r.close();
  }
  assert.ok(len > 60, `the record is ${len} bytes`);
});

test('a flipped byte in any record mid-log stops startup naming file and offset; in the last record it is truncated', async () => {
  const { state, wal } = await preparedDisk();
  const bytes = await (await preparedDisk()).disk.mount().readFile(wal);
  const recs = scanRecords(bytes, wal, false, { preallocated: true }).records;
  assert.ok(recs.length >= 8, 'header, checkpoint, entries, hard states and a snapshot marker');
  const types = new Set(recs.map((x) => x.type));
  assert.deepEqual(
    [...types].sort(),
    [RecordType.Entries, RecordType.HardState, RecordType.Snapshot, RecordType.PreallocatedSegmentHeader],
  );
  const lastRec = recs[recs.length - 1]!;
  let refused = 0;
  let truncated = 0;
  for (const rec of recs) {
    for (let off = rec.offset; off < rec.end; off++) {
      const { disk } = await preparedDisk();
      disk.flipByte(wal, off, 0x5a);
      if (rec === lastRec) {
        const s = await FileStorage.open(DIR, { fs: disk.mount() });
        // The last record was the final hard state: without it, the one before holds.
        assert.deepEqual(view(await s.load()), view({ ...state, hardState: hs(2, 1, 3) }));
        await s.close();
        truncated++;
      } else {
        await assert.rejects(
          FileStorage.open(DIR, { fs: disk.mount() }),
          (e: unknown) => e instanceof WalCorruptionError && e.file === wal && e.offset === rec.offset && e.message.includes(`corrupt at byte offset ${rec.offset}`),
          `flip at ${off} in record at ${rec.offset} (type ${rec.type})`,
        );
        refused++;
      }
    }
  }
  assert.ok(refused > 100 && truncated > 10);
});

test('on the sim disk too, a segment cut below its preallocated size is refused, whatever the cut; a cut newest segment included', async () => {
  const disk = new SimDisk({ random: new SeededRandom(3), tornWriteProbability: 0 });
  const s = await FileStorage.open(DIR, { fs: disk.mount(), segmentBytes: 512 });
  const conf = { voters: [0, 1, 2], outgoing: [], learners: [3], context: { '3': 'learner' } };
  for (let i = 1; i <= 30; i++) await s.write({ entries: [ent(i, 1, 'q'.repeat(30))], hardState: hs(1, 0, i - 1), sync: true });
  await s.write({ snapshot: { meta: { index: 12, term: 1, conf }, data: new Uint8Array([1]) }, sync: true });
  await s.close();
  const segs = disk.files().filter((f) => f.endsWith('.wal'));
  assert.ok(segs.length >= 3, segs.join(' '));
  for (const wal of [segs[0]!, segs[segs.length - 1]!]) {
    const whole = await disk.mount().readFile(wal);
    const recs = scanRecords(whole, wal, false, { preallocated: true }).records;
    for (const at of [...recs.map((x) => x.offset), ...recs.map((x) => x.offset + 5), recs[recs.length - 1]!.end, whole.length - 1]) {
      const d = new SimDisk({ random: new SeededRandom(3), tornWriteProbability: 0 });
      const fs = d.mount();
      for (const f of disk.files()) {
        await fs.mkdirp(f.slice(0, f.lastIndexOf('/')));
        const h = await fs.openAppend(f);
        await h.append(await disk.mount().readFile(f));
        await h.sync();
        await fs.syncDir(f.slice(0, f.lastIndexOf('/')));
      }
      await fs.truncate(wal, at);
      await assert.rejects(
        FileStorage.open(DIR, { fs: d.mount(), segmentBytes: 512 }),
        (e: unknown) => e instanceof StorageRecoveryError && e.message.startsWith(`${wal}: the WAL segment was cut short: it is ${at} bytes`) && e.message.includes('add it back with an empty data directory'),
        `${wal} cut to ${at}`,
      );
    }
  }
  const r = await FileStorage.open(DIR, { fs: disk.mount(), segmentBytes: 512 });
  assert.deepEqual((await r.load()).snapshot!.meta, { index: 12, term: 1, conf });
  await r.close();
});
