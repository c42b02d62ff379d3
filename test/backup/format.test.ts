import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { crc32c } from '@node-rs/crc32';
import { BACKUP_VERSION, BackupFormatError, decodeBackup, encodeBackup, readBackupFile, writeBackupFile, type Backup } from '../../src/backup/format.js';

const sample: Backup = {
  clusterId: 'prod-1',
  index: 1234,
  term: 7,
  members: [
    { name: 'n1', role: 'voter', peerAddress: '10.0.0.1:7000', apiUrl: 'http://10.0.0.1:7100' },
    { name: 'n4', role: 'learner' },
  ],
  createdAt: 1_700_000_000_000,
  data: Uint8Array.from({ length: 300 }, (_, i) => (i * 31) & 0xff),
};

function refuses(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => decodeBackup(bytes, 'b.backup'),
    (e: unknown) => e instanceof BackupFormatError && e.message.startsWith('b.backup: ') && pattern.test(e.message),
  );
}

/** Recomputes the trailing checksum, so a test can reach the checks after it. */
function resealed(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(out.length - 4, crc32c(out.subarray(0, out.length - 4)), true);
  return out;
}

test('a backup round-trips through the format and through a file', async () => {
  const bytes = encodeBackup(sample);
  assert.deepEqual(decodeBackup(bytes, 'x'), sample);
  const dir = mkdtempSync(path.join(tmpdir(), 'tsraft-bk-'));
  try {
    const file = path.join(dir, 'b.backup');
    assert.equal(await writeBackupFile(file, sample), bytes.length);
    assert.deepEqual(readdirSync(dir), ['b.backup'], 'no temporary file left behind');
    assert.deepEqual(new Uint8Array(readFileSync(file)), bytes);
    assert.deepEqual(await readBackupFile(file), sample);
    // Replacing an existing file.
    await writeBackupFile(file, { ...sample, index: 99, data: new Uint8Array() });
    assert.equal((await readBackupFile(file)).index, 99);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an empty snapshot and an empty member list round-trip', () => {
  const b: Backup = { ...sample, members: [], data: new Uint8Array() };
  assert.deepEqual(decodeBackup(encodeBackup(b), 'x'), b);
});

test('a truncated backup is refused as truncated at every length', () => {
  const bytes = encodeBackup(sample);
  for (let n = 0; n < bytes.length; n++) refuses(bytes.subarray(0, n), /truncated/);
});

test('every flipped byte is refused (checksum, or the length/magic/version it hit)', () => {
  const bytes = encodeBackup(sample);
  for (let i = 0; i < bytes.length; i++) {
    const bad = bytes.slice();
    bad[i]! ^= 0x40;
    assert.throws(() => decodeBackup(bad, 'b.backup'), (e: unknown) => e instanceof BackupFormatError && /b\.backup: (corrupt|truncated|not a tsraft backup|unknown backup format version)/.test(e.message), `flipped byte ${i}`);
  }
  const payload = bytes.slice();
  payload[bytes.length - 10]! ^= 1;
  refuses(payload, /checksum mismatch/);
});

test('a wrong magic, an unknown version, trailing bytes and a bad header are each named', () => {
  const bytes = encodeBackup(sample);
  const magic = bytes.slice();
  magic.set(new TextEncoder().encode('SQLite f'), 0);
  refuses(magic, /not a tsraft backup file \(wrong magic/);
  refuses(new TextEncoder().encode('hello'), /wrong magic/);
  const v2 = bytes.slice();
  new DataView(v2.buffer).setUint32(8, BACKUP_VERSION + 1, true);
  refuses(resealed(v2), new RegExp(`unknown backup format version ${BACKUP_VERSION + 1}`));
  const longer = new Uint8Array(bytes.length + 3);
  longer.set(bytes);
  refuses(longer, /trailing bytes/);
  // A header that is JSON but not a backup's: checksum fine, content refused.
  const bad = encodeBackup({ ...sample, index: -1 });
  refuses(bad, /no valid index and term/);
});

test('readBackupFile names the file, and a missing one', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsraft-bk-'));
  try {
    const file = path.join(dir, 'cut.backup');
    writeFileSync(file, encodeBackup(sample).subarray(0, 100));
    await assert.rejects(readBackupFile(file), (e: unknown) => e instanceof BackupFormatError && e.message.startsWith(`${file}: truncated`));
    await assert.rejects(readBackupFile(path.join(dir, 'nope')), (e: unknown) => e instanceof BackupFormatError && e.message.includes('nope: cannot read it'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
