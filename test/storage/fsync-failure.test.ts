/**
 * fsyncgate: a failed fsync is fatal. After one, FileStorage never retries
 * the fsync nor writes anything else: every later write is refused with the
 * same error, and the server maps it to the storage exit code.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { FileStorage } from '../../src/storage/file-storage.js';
import { NodeFileSystem, type FileSystem, type WriteHandle } from '../../src/storage/fs.js';
import { ExitCode, exitCodeFor } from '../../src/server/exit-codes.js';
import { ents, hs } from './helpers.js';

/** The real file system, whose file handles' fsync fails with EIO once armed; counts what reaches the disk. */
class FailingSyncFs extends NodeFileSystem implements FileSystem {
  armed = false;
  syncs = 0;
  writes = 0;
  failedSyncs = 0;

  private eio(): NodeJS.ErrnoException {
    return Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', errno: -5, syscall: 'fdatasync' });
  }

  override async openWrite(file: string): Promise<WriteHandle> {
    const h = await super.openWrite(file);
    return {
      write: async (d, pos) => {
        this.writes++;
        await h.write(d, pos);
      },
      resize: (n) => h.resize(n),
      sync: async () => {
        this.syncs++;
        if (this.armed) {
          this.failedSyncs++;
          throw this.eio();
        }
        await h.sync();
      },
      close: () => h.close(),
    };
  }
}

test('a failed fsync fails the write and every later one, with no retry and nothing more written', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsraft-fsync-'));
  try {
    const fs = new FailingSyncFs();
    const s = await FileStorage.open(dir, { fs });
    await s.write({ entries: ents(1, 3, 1), hardState: hs(1, null, 0), sync: true });
    fs.armed = true;
    const writesBefore = fs.writes;
    let first: unknown;
    await assert.rejects(s.write({ entries: ents(4, 5, 1), sync: true }), (e: unknown) => {
      first = e;
      return (e as NodeJS.ErrnoException).code === 'EIO';
    });
    assert.equal(fs.failedSyncs, 1);
    const after = { syncs: fs.syncs, writes: fs.writes };
    assert.equal(after.writes, writesBefore + 1, 'the batch was written once');
    // Even once the disk "recovers", the storage stays failed: the pages the failed fsync dropped are gone.
    fs.armed = false;
    for (const u of [{ entries: ents(4, 5, 1), sync: true }, { hardState: hs(2, null, 0), sync: true }, { entries: ents(6, 6, 1), sync: false }]) {
      await assert.rejects(s.write(u), (e: unknown) => e === first, 'the same error, at once');
    }
    assert.deepEqual({ syncs: fs.syncs, writes: fs.writes }, after, 'no fsync retried, nothing more written');
    assert.equal(exitCodeFor(first), ExitCode.storageIo);
    await s.close();
    // What was acknowledged before the failure is still there; what failed was never acknowledged.
    const again = await FileStorage.open(dir);
    const st = await again.load();
    assert.ok(st.entries.length >= 3 && st.entries.slice(0, 3).every((e, k) => e.index === k + 1));
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
