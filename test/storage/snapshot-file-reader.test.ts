/**
 * FileStorage.openSnapshot and SnapshotFileReader on a real disk: the data of a
 * durable snapshot read back in any pieces, byte for byte; every byte checked
 * against the file's CRC before the piece reaching the end is handed out.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import type { Snapshot } from '../../src/core/types.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { WalCorruptionError } from '../../src/storage/wal/record.js';
import { SeededRandom } from '../../src/util/random.js';
import { ents, hs } from './helpers.js';

const root = mkdtempSync(path.join(tmpdir(), 'tsraft-snapreader-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

function bytes(n: number, seed: number): Uint8Array {
  const r = new SeededRandom(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = r.int(256);
  return out;
}

/** A storage holding entries 1..20 of term 2 and, durable, the compaction `snap` of the first `index` of them. */
async function withSnapshot(index: number, data: Uint8Array): Promise<{ storage: FileStorage; snap: Snapshot; dir: string }> {
  const dir = path.join(root, `s${dirs++}`);
  const storage = await FileStorage.open(dir, { snapshotPieceBytes: 7_000 });
  await storage.write({ entries: ents(1, 20, 2), hardState: hs(2, 1, 20), sync: true });
  const snap: Snapshot = { meta: { index, term: 2, conf: { voters: [1, 2, 3], outgoing: [], learners: [], context: {} } }, data };
  await storage.write({ snapshot: snap, sync: true });
  // A compaction's file is written in the background.
  await storage.flushSnapshots();
  return { storage, snap, dir };
}

function snapFile(dir: string, s: Snapshot): string {
  return path.join(dir, 'snap', `${s.meta.index.toString(16).padStart(16, '0')}-${s.meta.term.toString(16).padStart(16, '0')}.snap`);
}

test('the data of a durable snapshot reads back byte for byte, in order, out of order and clamped at the ends', async () => {
  const data = bytes(50_000, 1);
  const { storage, snap } = await withSnapshot(10, data);
  const reader = await storage.openSnapshot(snap.meta);
  assert.ok(reader !== null);
  assert.equal(reader.length, data.length);
  const pieces: Uint8Array[] = [];
  for (let off = 0; off < data.length; off += 4096) pieces.push(reader.subarray(off, off + 4096));
  assert.deepEqual(Buffer.concat(pieces), Buffer.from(data));
  const r = new SeededRandom(7);
  for (let i = 0; i < 200; i++) {
    const a = r.int(data.length + 10);
    const b = a + r.int(9000);
    assert.deepEqual(Buffer.from(reader.subarray(a, b)), Buffer.from(data.subarray(a, b)), `bytes ${a}..${b}`);
  }
  assert.equal(reader.subarray(data.length, data.length + 5).length, 0);
  reader.close();
  assert.throws(() => reader.subarray(0, 10), /closed/);
  await storage.close();
});

test('a first read far into the file checks everything before it too', async () => {
  const data = bytes(30_000, 2);
  const { storage, snap } = await withSnapshot(10, data);
  const reader = (await storage.openSnapshot(snap.meta))!;
  assert.deepEqual(Buffer.from(reader.subarray(29_000, 30_000)), Buffer.from(data.subarray(29_000)));
  reader.close();
  await storage.close();
});

test('a reader keeps reading a snapshot whose file a newer snapshot removed; asked for the older one then, storage has none', async () => {
  const data = bytes(20_000, 3);
  const { storage, snap, dir } = await withSnapshot(10, data);
  const reader = (await storage.openSnapshot(snap.meta))!;
  const newer: Snapshot = { meta: { index: 15, term: 2 }, data: bytes(1000, 4) };
  await storage.write({ snapshot: newer, sync: true });
  await storage.flushSnapshots();
  assert.throws(() => readFileSync(snapFile(dir, snap)), /ENOENT/, 'the older file is gone');
  assert.deepEqual(Buffer.from(reader.subarray(0, data.length)), Buffer.from(data));
  assert.equal(await storage.openSnapshot(snap.meta), null);
  const r2 = (await storage.openSnapshot(newer.meta))!;
  assert.deepEqual(Buffer.from(r2.subarray(0, 1000)), Buffer.from(newer.data));
  reader.close();
  r2.close();
  await storage.close();
});

test('damaged data: every piece before the end reads, the piece reaching the end throws, every time', async () => {
  const data = bytes(40_000, 5);
  const { storage, snap, dir } = await withSnapshot(10, data);
  const file = snapFile(dir, snap);
  const raw = readFileSync(file);
  raw[raw.length - 20_000]! ^= 0x01;
  writeFileSync(file, raw);
  const reader = (await storage.openSnapshot(snap.meta))!;
  for (let off = 0; off < 36_000; off += 4000) reader.subarray(off, off + 4000);
  for (let i = 0; i < 2; i++) assert.throws(() => reader.subarray(36_000, 40_000), (e: unknown) => e instanceof WalCorruptionError && e.file === file && /checksum/.test(e.message));
  reader.close();
  await storage.close();
});

test('a snapshot file whose start is not the snapshot asked for is refused when opened', async () => {
  const { storage, snap, dir } = await withSnapshot(10, bytes(5000, 6));
  const file = snapFile(dir, snap);
  const raw = readFileSync(file);
  raw[14]! ^= 0x01; // inside the metadata: the index
  writeFileSync(file, raw);
  await assert.rejects(storage.openSnapshot(snap.meta), (e: unknown) => e instanceof WalCorruptionError && /metadata of snapshot 10/.test(e.message));
  raw[14]! ^= 0x01;
  writeFileSync(file, raw.subarray(0, 1000));
  await assert.rejects(storage.openSnapshot(snap.meta), (e: unknown) => e instanceof WalCorruptionError && /record length matching the file's 1000 bytes/.test(e.message));
  writeFileSync(file, raw.subarray(0, 40));
  await assert.rejects(storage.openSnapshot(snap.meta), (e: unknown) => e instanceof WalCorruptionError && /69-byte start of snapshot 10/.test(e.message));
  await storage.close();
});
