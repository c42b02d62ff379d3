import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { FileStorage, StorageRecoveryError } from '../../src/storage/file-storage.js';
import { LockedError } from '../../src/storage/fs.js';
import { applyUpdate } from '../../src/storage/apply-update.js';
import { EMPTY_STATE, type StorageState, type StorageUpdate } from '../../src/storage/types.js';
import { WalCorruptionError } from '../../src/storage/wal/record.js';
import { ent, ents, hs, snap, view } from './helpers.js';

const root = mkdtempSync(path.join(tmpdir(), 'tsraft-fs-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => path.join(root, `d${n++}`);

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
  assert.deepEqual(view(await s.load()), view(EMPTY_STATE));
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
  truncateSync(wal, size - 7); // cut the last record short
  const warnings: { obj: object; msg: string }[] = [];
  const r = await FileStorage.open(dir, { logger: { warn: (obj, msg) => warnings.push({ obj, msg }), info() {} } });
  assert.deepEqual(view(await r.load()), view(model));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!.msg, /torn/);
  assert.equal((warnings[0]!.obj as { file: string }).file, wal);
  assert.equal(typeof (warnings[0]!.obj as { offset: number }).offset, 'number');
  await r.close();
  assert.equal(statSync(wal).size, (warnings[0]!.obj as { offset: number }).offset, 'the file was cut at the torn record');
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
  buf[buf.length - 60]! ^= 0x40;
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
