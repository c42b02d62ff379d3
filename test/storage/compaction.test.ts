/**
 * Compactions are written off the WAL path (FileStorage): the write carrying
 * one completes without waiting for its snapshot file, later writes go on,
 * and the snapshot is recorded once its file is durable. A crash before that
 * recovers the previous snapshot with the entries the compaction covers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimDisk } from '../../src/sim/disk.js';
import { applyUpdate } from '../../src/storage/apply-update.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import type { AppendHandle, DirLock, FileSystem, ReadHandle, WriteHandle } from '../../src/storage/fs.js';
import { EMPTY_STATE, type StorageState, type StorageUpdate } from '../../src/storage/types.js';
import { SeededRandom } from '../../src/util/random.js';
import { ents, hs, snap, view } from './helpers.js';

const DIR = '/data';

/** A file system whose snapshot-file writes wait until {@link open} is called. */
class GatedSnapshots implements FileSystem {
  private opened!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.opened = resolve));
  snapshotWrites = 0;
  constructor(private readonly fs: FileSystem) {}
  open(): void {
    this.opened();
  }
  mkdirp(dir: string): Promise<void> {
    return this.fs.mkdirp(dir);
  }
  list(dir: string): Promise<string[]> {
    return this.fs.list(dir);
  }
  readFile(file: string): Promise<Uint8Array> {
    return this.fs.readFile(file);
  }
  openRead(file: string): Promise<ReadHandle> {
    return this.fs.openRead(file);
  }
  openAppend(file: string): Promise<AppendHandle> {
    return this.fs.openAppend(file);
  }
  async openWrite(file: string): Promise<WriteHandle> {
    const h = await this.fs.openWrite(file);
    if (!file.includes('/snap/')) return h;
    return {
      write: async (data, position) => {
        this.snapshotWrites++;
        await this.gate;
        return h.write(data, position);
      },
      resize: (size) => h.resize(size),
      sync: () => h.sync(),
      close: () => h.close(),
    };
  }
  rename(from: string, to: string): Promise<void> {
    return this.fs.rename(from, to);
  }
  remove(file: string): Promise<void> {
    return this.fs.remove(file);
  }
  truncate(file: string, size: number): Promise<void> {
    return this.fs.truncate(file, size);
  }
  syncDir(dir: string): Promise<void> {
    return this.fs.syncDir(dir);
  }
  lock(dir: string): Promise<DirLock> {
    return this.fs.lock(dir);
  }
}

/** Writes `updates` in order, each awaited (a hang fails the test by its timeout). */
async function writeAll(s: FileStorage, updates: readonly StorageUpdate[], state: StorageState = EMPTY_STATE): Promise<StorageState> {
  for (const u of updates) {
    await s.write(u);
    state = applyUpdate(state, u);
  }
  return state;
}

const LOG: StorageUpdate[] = [{ entries: ents(1, 10, 1), hardState: hs(1, null, 8), sync: true }];

test('a compaction does not hold up the writes after it; a crash before its file is durable recovers the entries it covers', { timeout: 10_000 }, async () => {
  const disk = new SimDisk({ random: new SeededRandom(1), tornWriteProbability: 0 });
  const fs = new GatedSnapshots(disk.mount());
  const s = await FileStorage.open(DIR, { fs });
  const before = await writeAll(s, LOG);
  // Its file cannot be written (the gate is shut), yet the write that carries it completes, and so do later ones.
  await s.write({ snapshot: snap(6, 1), sync: true });
  const later: StorageUpdate = { entries: ents(11, 12, 1), hardState: hs(1, null, 10), sync: true };
  await s.write(later);
  assert.ok(fs.snapshotWrites > 0, 'the snapshot file was started');
  disk.crash();
  const r = await FileStorage.open(DIR, { fs: disk.mount() });
  // The same log, not compacted: nothing the compaction covered is lost.
  assert.deepEqual(view(await r.load()), view(applyUpdate(before, later)));
  assert.deepEqual(disk.files().filter((f) => f.includes('/snap/')), [], 'the unfinished snapshot file is gone');
  await r.close();
});

test('a compaction is recorded once its file is durable: older segments and snapshots then go', { timeout: 10_000 }, async () => {
  const disk = new SimDisk({ random: new SeededRandom(2), tornWriteProbability: 0 });
  const fs = new GatedSnapshots(disk.mount());
  const s = await FileStorage.open(DIR, { fs, segmentBytes: 256, snapshotPieceBytes: 3 });
  let model = await writeAll(
    s,
    Array.from({ length: 10 }, (_, i): StorageUpdate => ({ entries: ents(i + 1, i + 1, 1), hardState: hs(1, null, i), sync: true })),
  );
  const c: StorageUpdate = { snapshot: snap(6, 1, 'a snapshot written in pieces of three bytes'), sync: true };
  await s.write(c);
  model = applyUpdate(model, c);
  const segments = disk.files().filter((f) => f.endsWith('.wal')).length;
  assert.ok(segments > 1, `several segments: ${segments}`);
  fs.open();
  await s.flushSnapshots();
  assert.ok(disk.files().filter((f) => f.endsWith('.wal')).length < segments, 'segments wholly behind the snapshot were deleted');
  model = await writeAll(s, [{ entries: ents(11, 11, 1), sync: true }], model);
  disk.crash();
  const r = await FileStorage.open(DIR, { fs: disk.mount(), segmentBytes: 256 });
  assert.deepEqual(view(await r.load()), view(model));
  assert.deepEqual(
    disk.files().filter((f) => f.includes('/snap/')),
    ['/data/snap/0000000000000006-0000000000000001.snap'],
  );
  await r.close();
});

test('an install that overtakes a compaction being written wins; the compaction is dropped with its file', { timeout: 10_000 }, async () => {
  const disk = new SimDisk({ random: new SeededRandom(3), tornWriteProbability: 0 });
  const fs = new GatedSnapshots(disk.mount());
  const s = await FileStorage.open(DIR, { fs });
  let model = await writeAll(s, LOG);
  await s.write({ snapshot: snap(6, 1), sync: true });
  // The install is written in its own write; its file waits for the gate too.
  const install: StorageUpdate = { snapshot: snap(20, 3), hardState: hs(3, null, 20), sync: true };
  const installed = s.write(install);
  fs.open();
  await installed;
  await s.flushSnapshots();
  model = applyUpdate(model, install);
  await s.close();
  const r = await FileStorage.open(DIR, { fs: disk.mount() });
  assert.deepEqual(view(await r.load()), view(model));
  assert.deepEqual(
    disk.files().filter((f) => f.includes('/snap/')),
    ['/data/snap/0000000000000014-0000000000000003.snap'],
  );
  await r.close();
});

test('close finishes and records a compaction being written', { timeout: 10_000 }, async () => {
  const disk = new SimDisk({ random: new SeededRandom(4), tornWriteProbability: 0 });
  const fs = new GatedSnapshots(disk.mount());
  const s = await FileStorage.open(DIR, { fs });
  let model = await writeAll(s, LOG);
  const c: StorageUpdate = { snapshot: snap(8, 1), sync: true };
  await s.write(c);
  model = applyUpdate(model, c);
  const closed = s.close();
  fs.open();
  await closed;
  const r = await FileStorage.open(DIR, { fs: disk.mount() });
  assert.deepEqual(view(await r.load()), view(model));
  await r.close();
});

test('the next segment is filled with zeros ahead of need and taken at rotation; a crash leaves no spare behind', { timeout: 10_000 }, async () => {
  const disk = new SimDisk({ random: new SeededRandom(5), tornWriteProbability: 0 });
  const s = await FileStorage.open(DIR, { fs: disk.mount(), segmentBytes: 1024 });
  const model = await writeAll(
    s,
    Array.from({ length: 60 }, (_, i): StorageUpdate => ({ entries: ents(i + 1, i + 1, 1), hardState: hs(1, null, i), sync: true })),
  );
  assert.ok(s.stats.segmentsCreated >= 4, JSON.stringify(s.stats));
  // Every segment after the first (created at open) came from a spare.
  assert.equal(s.stats.segmentsFromSpare, s.stats.segmentsCreated - 1, JSON.stringify(s.stats));
  for (const f of disk.files().filter((n) => n.endsWith('.wal'))) assert.equal(disk.fileSize(f), 1024, f);
  disk.crash();
  const r = await FileStorage.open(DIR, { fs: disk.mount(), segmentBytes: 1024 });
  assert.deepEqual(view(await r.load()), view(model));
  assert.ok(!disk.files().some((f) => f.includes('spare')), disk.files().join(' '));
  await r.close();
});
