import { closeSync, constants, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

/** An open file that is only ever appended to. */
export interface AppendHandle {
  /** Appends at the end of the file. Not durable until {@link sync}. */
  append(data: Uint8Array): Promise<void>;
  /** Makes everything appended so far durable (fdatasync). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** An open file written at chosen offsets (a preallocated WAL segment). */
export interface WriteHandle {
  /** Writes `data` at byte `position`, extending the file if it ends before. Not durable until {@link sync}. */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Sets the file's size: extends it with zeros (sparse is fine) or cuts it. Not durable until {@link sync}. */
  resize(size: number): Promise<void>;
  /** Makes the writes and size changes so far durable (fdatasync; a full fsync after a resize). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * An open file read at chosen offsets, synchronously: a retained snapshot's
 * chunks are read as the Raft core sends them. The file stays readable after
 * its name is removed, until {@link close}.
 */
export interface ReadHandle {
  /** The file's size when it was opened. */
  readonly size: number;
  /** Reads `length` bytes at `position`; throws if the file ends before. */
  read(position: number, length: number): Uint8Array;
  close(): void;
}

/** A held exclusive lock on a data directory. */
export interface DirLock {
  release(): Promise<void>;
}

/** Thrown when another live process holds a data directory's lock. */
export class LockedError extends Error {
  override name = 'LockedError';
}

/**
 * The file operations the storage engine needs, and nothing more, so that
 * the same engine runs on a real disk ({@link NodeFileSystem}) and on the
 * simulator's disk that loses what was not synced (`SimDisk`).
 *
 * Durability model: file contents are durable after {@link AppendHandle.sync}
 * or {@link WriteHandle.sync};
 * creating, renaming and removing names in a directory are durable after
 * {@link syncDir} of that directory.
 */
export interface FileSystem {
  mkdirp(dir: string): Promise<void>;
  /** Names (not paths) in a directory; empty if it does not exist. */
  list(dir: string): Promise<string[]>;
  readFile(file: string): Promise<Uint8Array>;
  /** Opens an existing file for reading at offsets. */
  openRead(file: string): Promise<ReadHandle>;
  /** Opens for appending, creating the file (empty) if it does not exist. */
  openAppend(file: string): Promise<AppendHandle>;
  /** Opens for writing at offsets, creating the file (empty) if it does not exist. */
  openWrite(file: string): Promise<WriteHandle>;
  /** Atomically replaces `to` by `from`. */
  rename(from: string, to: string): Promise<void>;
  remove(file: string): Promise<void>;
  /** Cuts a file to `size` bytes, durably. */
  truncate(file: string, size: number): Promise<void>;
  syncDir(dir: string): Promise<void>;
  /** Takes the exclusive lock of `dir`, or throws {@link LockedError}. */
  lock(dir: string): Promise<DirLock>;
}

/** Writes up to this size are made synchronously (see {@link NodeFileSystem.openWrite}). */
const SMALL_WRITE_BYTES = 64 << 10;

/** The real file system (node:fs/promises), with fdatasync and directory fsync. */
export class NodeFileSystem implements FileSystem {
  async mkdirp(dir: string): Promise<void> {
    await fsp.mkdir(dir, { recursive: true });
  }

  async list(dir: string): Promise<string[]> {
    try {
      return await fsp.readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  async readFile(file: string): Promise<Uint8Array> {
    return fsp.readFile(file);
  }

  async openRead(file: string): Promise<ReadHandle> {
    const fd = openSync(file, constants.O_RDONLY);
    let size: number;
    try {
      size = fstatSync(fd).size;
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    let open = true;
    return {
      size,
      read: (position, length) => {
        if (!open) throw new Error(`${file} is closed`);
        const out = Buffer.allocUnsafe(length);
        let off = 0;
        while (off < length) {
          const n = readSync(fd, out, off, length - off, position + off);
          if (n === 0) throw new Error(`${file}: ends before byte ${position + length} (read ${length} bytes at ${position})`);
          off += n;
        }
        return out;
      },
      close: () => {
        if (open) closeSync(fd);
        open = false;
      },
    };
  }

  async openAppend(file: string): Promise<AppendHandle> {
    const fh = await fsp.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o644);
    return {
      append: async (data) => {
        let off = 0;
        while (off < data.length) {
          const { bytesWritten } = await fh.write(data, off, data.length - off);
          off += bytesWritten;
        }
      },
      sync: () => fh.datasync(),
      close: () => fh.close(),
    };
  }

  async openWrite(file: string): Promise<WriteHandle> {
    const fh = await fsp.open(file, constants.O_WRONLY | constants.O_CREAT, 0o644);
    // fdatasync flushes a size change too, but say what we mean: after a resize, fsync.
    let resized = false;
    return {
      write: async (data, position) => {
        let off = 0;
        // A small write only copies into the page cache: done here, it saves a round trip to
        // the I/O thread pool (two thread wake-ups; on a VM, the larger part of a WAL append).
        if (data.length <= SMALL_WRITE_BYTES) {
          while (off < data.length) off += writeSync(fh.fd, data, off, data.length - off, position + off);
          return;
        }
        while (off < data.length) {
          const { bytesWritten } = await fh.write(data, off, data.length - off, position + off);
          off += bytesWritten;
        }
      },
      resize: async (size) => {
        await fh.truncate(size);
        resized = true;
      },
      sync: async () => {
        if (resized) await fh.sync();
        else await fh.datasync();
        resized = false;
      },
      close: () => fh.close(),
    };
  }

  async rename(from: string, to: string): Promise<void> {
    await fsp.rename(from, to);
  }

  async remove(file: string): Promise<void> {
    await fsp.rm(file, { force: true });
  }

  async truncate(file: string, size: number): Promise<void> {
    const fh = await fsp.open(file, 'r+');
    try {
      await fh.truncate(size);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async syncDir(dir: string): Promise<void> {
    const fh = await fsp.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /**
   * A lock file holding the owner's pid, created exclusively. A lock left by
   * a process that no longer exists (killed with SIGKILL) is taken over, so a
   * crashed node restarts at once; a live owner's lock is refused.
   */
  async lock(dir: string): Promise<DirLock> {
    const file = path.join(dir, 'LOCK');
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await fsp.open(file, 'wx', 0o644);
        await fh.writeFile(`${process.pid}\n`);
        await fh.sync();
        await fh.close();
        let released = false;
        return {
          release: async () => {
            if (released) return;
            released = true;
            await fsp.rm(file, { force: true });
          },
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const owner = Number.parseInt((await fsp.readFile(file, 'utf8').catch(() => '')).trim(), 10);
      if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) {
        throw new LockedError(`data directory ${dir} is locked by process ${owner} (${file}); is another tsraft node running on it?`);
      }
      await fsp.rm(file, { force: true }); // stale: its owner is gone
    }
    throw new LockedError(`could not take the lock ${file}: it keeps reappearing`);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
