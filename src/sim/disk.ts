import * as path from 'node:path';
import { LockedError, type AppendHandle, type DirLock, type FileSystem, type ReadHandle, type WriteHandle } from '../storage/fs.js';
import type { Random } from '../util/random.js';

/** Thrown by every operation of a process whose disk crashed under it. */
export class SimCrashError extends Error {
  override name = 'SimCrashError';
}

/** One change made to a file since its last sync, with what it replaced, so that a crash can undo it. */
interface Change {
  /** Where a write went, or the new size of a resize. */
  readonly at: number;
  /** Bytes written; 0 for a resize. */
  readonly length: number;
  /** The bytes it replaced: of a write, those within the old size; of a shrinking resize, those cut off. */
  readonly old: Uint8Array;
  readonly oldSize: number;
}

/**
 * A file's bytes: what the process sees, and the changes since its last sync,
 * which a crash undoes (all of them, or all but a prefix of the bytes written,
 * in the order written: a torn write). Bytes past `data.length` and up to
 * `size` are zeros, so a file extended to a large size costs nothing.
 */
class Inode {
  private data = new Uint8Array(256);
  size = 0;
  private changes: Change[] = [];
  /** Bytes written since the last sync. */
  unsynced = 0;

  /** Invariant: every byte of `data` at or past `size` is zero. */
  private ensure(n: number): void {
    if (n <= this.data.length) return;
    const bigger = new Uint8Array(Math.max(this.data.length * 2, n));
    bigger.set(this.data);
    this.data = bigger;
  }

  /** A copy of bytes `from` to `to` (zeros past the data). */
  slice(from: number, to: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, to - from));
    if (from < this.data.length) out.set(this.data.subarray(from, Math.min(to, this.data.length)));
    return out;
  }

  write(bytes: Uint8Array, at: number): void {
    const oldSize = this.size;
    const old = this.slice(at, Math.min(at + bytes.length, oldSize));
    this.ensure(at + bytes.length);
    this.data.set(bytes, at);
    this.size = Math.max(oldSize, at + bytes.length);
    this.changes.push({ at, length: bytes.length, old, oldSize });
    this.unsynced += bytes.length;
  }

  append(bytes: Uint8Array): void {
    this.write(bytes, this.size);
  }

  resize(size: number): void {
    const oldSize = this.size;
    const old = size < oldSize ? this.slice(size, oldSize) : new Uint8Array(0);
    if (size < oldSize) this.zero(size, oldSize);
    this.size = size;
    this.changes.push({ at: size, length: 0, old, oldSize });
  }

  private zero(from: number, to: number): void {
    if (from < this.data.length) this.data.fill(0, from, Math.min(to, this.data.length));
  }

  /** Flips bits of one stored byte. */
  flip(offset: number, mask: number): void {
    this.ensure(offset + 1);
    this.data[offset]! ^= mask;
  }

  sync(): void {
    this.changes = [];
    this.unsynced = 0;
  }

  /** Whether anything changed since the last sync. */
  get dirty(): boolean {
    return this.changes.length > 0;
  }

  /**
   * Power loss: keeps the first `keep` bytes written since the last sync (the
   * changes before them too) and undoes everything after, newest first.
   */
  crash(keep: number): void {
    let cut = keep === 0 ? 0 : this.changes.length;
    let partial = 0;
    let budget = keep;
    for (let i = 0; keep > 0 && i < this.changes.length; i++) {
      const c = this.changes[i]!;
      if (c.length <= budget) {
        budget -= c.length;
        continue;
      }
      cut = i;
      partial = budget;
      break;
    }
    for (let i = this.changes.length - 1; i >= cut; i--) this.undo(this.changes[i]!, i === cut ? partial : 0);
    this.sync();
  }

  private undo(c: Change, kept: number): void {
    if (c.length === 0) {
      if (c.at < c.oldSize) {
        // A shrink: the bytes cut off come back.
        this.ensure(c.oldSize);
        this.data.set(c.old, c.at);
      } else {
        this.zero(c.oldSize, c.at); // a growth: back to the old end
      }
      this.size = c.oldSize;
      return;
    }
    const from = c.at + kept;
    this.zero(from, c.at + c.length);
    if (from < c.at + c.old.length) this.data.set(c.old.subarray(from - c.at), from);
    this.size = kept === 0 ? c.oldSize : Math.max(c.oldSize, from);
  }

  contents(): Uint8Array {
    return this.slice(0, this.size);
  }
}

/** Options of a {@link SimDisk}. */
export interface SimDiskOptions {
  readonly random: Random;
  /** Probability that a crash keeps a random prefix of a file's unsynced bytes (a torn write). Default 0.5. */
  readonly tornWriteProbability?: number;
  /** A slow disk: each fsync waits this long (ms, on `clock`). */
  readonly syncDelay?: () => number;
  /** The clock fsync waits on; required with `syncDelay`. */
  readonly clock?: { sleep(ms: number): Promise<void> };
}

/** What the last crash did, for tests and traces. */
export interface CrashReport {
  readonly lostBytes: number;
  readonly tornFiles: string[];
  readonly revertedNames: number;
}

/**
 * A disk for the simulator. Written bytes (appended or at an offset) and size
 * changes stay volatile until the file is synced; names created, renamed or removed in a directory stay volatile
 * until the directory is synced. {@link crash} throws away whatever is
 * volatile (keeping, sometimes, a random prefix of unsynced appends: a torn
 * write), and invalidates every file system handed out before it, as a power
 * cut ends the process that was using the disk. {@link flipByte} corrupts
 * stored data. Processes reach it through {@link mount}.
 */
export class SimDisk {
  private readonly random: Random;
  private readonly tornP: number;
  /** Current names per directory. */
  private dirs = new Map<string, Map<string, Inode>>();
  /** Names per directory as of its last sync. */
  private durableDirs = new Map<string, Map<string, Inode>>();
  private generation = 0;
  private locks = new Set<string>();
  private opsLeft = Infinity;
  /** What the most recent crash did. */
  lastCrash: CrashReport | undefined;
  /** Operations performed since the disk was made. */
  ops = 0;
  /** Syncs (file or directory) performed. */
  syncs = 0;

  constructor(opts: SimDiskOptions) {
    this.random = opts.random;
    this.tornP = opts.tornWriteProbability ?? 0.5;
    this.syncDelay = opts.syncDelay;
    this.clock = opts.clock;
  }

  private readonly syncDelay: (() => number) | undefined;
  private readonly clock: { sleep(ms: number): Promise<void> } | undefined;

  /** @internal Waits for a slow fsync; the disk may crash meanwhile. */
  async slowSync(gen: number): Promise<void> {
    const ms = this.syncDelay?.() ?? 0;
    if (ms <= 0 || this.clock === undefined) return;
    await this.clock.sleep(ms);
    if (gen !== this.generation) throw new SimCrashError('the disk crashed under this process');
  }

  /** A file system for one process; it stops working at the next crash. */
  mount(): FileSystem {
    return new SimFileSystem(this, this.generation);
  }

  /** Makes the disk crash just before the n-th operation from now (counting from 1). */
  crashAfter(n: number): void {
    this.opsLeft = n;
  }

  /**
   * Decides, at a crash, how many of a file's unsynced bytes survive; when
   * unset, a random prefix survives with the torn-write probability. Tests
   * set it to cut a record at every byte offset.
   */
  keepUnsynced: ((file: string, unsynced: number) => number) | undefined;

  /**
   * Power loss: unsynced writes vanish (or a prefix of their bytes survives, in
   * the order written), unsynced size changes are undone, unsynced
   * directory changes are undone, locks are released, and every mounted file
   * system fails from now on.
   */
  crash(): CrashReport {
    this.generation++;
    this.opsLeft = Infinity;
    this.locks.clear();
    let lostBytes = 0;
    const tornFiles: string[] = [];
    let revertedNames = 0;
    const seen = new Set<Inode>();
    for (const [dir, names] of this.durableDirs) {
      const cur = this.dirs.get(dir);
      if (cur !== undefined && !sameNames(cur, names)) revertedNames++;
      this.dirs.set(dir, new Map(names));
      for (const [name, ino] of names) {
        if (seen.has(ino)) continue;
        seen.add(ino);
        if (!ino.dirty) continue;
        const unsynced = ino.unsynced;
        const file = path.join(dir, name);
        let keep = 0;
        if (unsynced > 0) {
          if (this.keepUnsynced !== undefined) keep = Math.max(0, Math.min(unsynced, this.keepUnsynced(file, unsynced)));
          else if (this.random.float() < this.tornP) keep = this.random.int(unsynced + 1);
        }
        if (keep > 0) tornFiles.push(file);
        lostBytes += unsynced - keep;
        ino.crash(keep);
      }
    }
    for (const dir of [...this.dirs.keys()]) {
      if (!this.durableDirs.has(dir)) this.dirs.delete(dir);
    }
    this.lastCrash = { lostBytes, tornFiles, revertedNames };
    return this.lastCrash;
  }

  /** Flips one byte of a file as stored (current and durable contents alike). */
  flipByte(file: string, offset: number, mask = 0xff): void {
    const ino = this.dirs.get(path.dirname(file))?.get(path.basename(file));
    if (ino === undefined) throw new Error(`flipByte: no file ${file}`);
    if (offset < 0 || offset >= ino.size) throw new RangeError(`flipByte: offset ${offset} outside ${file} (${ino.size} bytes)`);
    ino.flip(offset, mask);
  }

  /** Size of a file as the process sees it, or undefined. */
  fileSize(file: string): number | undefined {
    return this.dirs.get(path.dirname(file))?.get(path.basename(file))?.size;
  }

  /** Every file path, sorted. */
  files(): string[] {
    const out: string[] = [];
    for (const [dir, names] of this.dirs) for (const n of names.keys()) out.push(path.join(dir, n));
    return out.sort();
  }

  // ---- operations, called through a SimFileSystem ----------------------------

  /** @internal Counts an operation of generation `gen`; crashes when the budget runs out. */
  op(gen: number): void {
    if (gen !== this.generation) throw new SimCrashError('the disk crashed under this process');
    this.ops++;
    if (--this.opsLeft <= 0) {
      this.crash();
      throw new SimCrashError('the disk crashed');
    }
  }

  /** @internal */
  dir(dir: string, create: boolean): Map<string, Inode> | undefined {
    let d = this.dirs.get(dir);
    if (d === undefined && create) {
      d = new Map();
      this.dirs.set(dir, d);
      // Directories themselves are made durable at once (the engine creates them at first start).
      this.durableDirs.set(dir, new Map());
    }
    return d;
  }

  /** @internal */
  syncDirNow(dir: string): void {
    const d = this.dirs.get(dir);
    if (d !== undefined) this.durableDirs.set(dir, new Map(d));
    this.syncs++;
  }

  /** @internal */
  syncInode(ino: Inode): void {
    ino.sync();
    this.syncs++;
  }

  /** @internal */
  takeLock(dir: string, gen: number): DirLock {
    if (this.locks.has(dir)) throw new LockedError(`data directory ${dir} is locked by another process`);
    this.locks.add(dir);
    return {
      release: async () => {
        if (gen === this.generation) this.locks.delete(dir);
      },
    };
  }

  /** @internal */
  isCurrent(gen: number): boolean {
    return gen === this.generation;
  }
}

function sameNames(a: Map<string, Inode>, b: Map<string, Inode>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function enoent(file: string): Error {
  const e = new Error(`ENOENT: no such file ${file}`) as NodeJS.ErrnoException;
  e.code = 'ENOENT';
  return e;
}

/** One process's view of a {@link SimDisk}. Every call is one counted operation. */
class SimFileSystem implements FileSystem {
  constructor(
    private readonly disk: SimDisk,
    private readonly gen: number,
  ) {}

  private lookup(file: string): Inode {
    const ino = this.disk.dir(path.dirname(file), false)?.get(path.basename(file));
    if (ino === undefined) throw enoent(file);
    return ino;
  }

  async mkdirp(dir: string): Promise<void> {
    this.disk.op(this.gen);
    let d = dir;
    const chain: string[] = [];
    while (d !== path.dirname(d)) {
      chain.push(d);
      d = path.dirname(d);
    }
    for (const c of chain.reverse()) this.disk.dir(c, true);
  }

  async list(dir: string): Promise<string[]> {
    this.disk.op(this.gen);
    return [...(this.disk.dir(dir, false)?.keys() ?? [])].sort();
  }

  async readFile(file: string): Promise<Uint8Array> {
    this.disk.op(this.gen);
    return this.lookup(file).contents();
  }

  /** The file's inode, created empty if it does not exist, and a check that counts each later call as an operation. */
  private open(file: string): { ino: Inode; check: () => void; close: () => void } {
    this.disk.op(this.gen);
    const d = this.disk.dir(path.dirname(file), false);
    if (d === undefined) throw enoent(path.dirname(file));
    let ino = d.get(path.basename(file));
    if (ino === undefined) {
      ino = new Inode();
      d.set(path.basename(file), ino);
    }
    let closed = false;
    return {
      ino,
      check: () => {
        if (closed) throw new Error(`${file} is closed`);
        this.disk.op(this.gen);
      },
      close: () => {
        closed = true;
      },
    };
  }

  private async sync(ino: Inode, check: () => void): Promise<void> {
    check();
    await this.disk.slowSync(this.gen);
    this.ensureCurrent();
    this.disk.syncInode(ino);
  }

  /**
   * Throws if the disk crashed since this process mounted it. After an fsync: another task
   * of this process may have crashed the disk while it was in flight, and then it never returns.
   */
  private ensureCurrent(): void {
    if (!this.disk.isCurrent(this.gen)) throw new SimCrashError('the disk crashed under this process');
  }

  async openRead(file: string): Promise<ReadHandle> {
    // Reads do not count as operations: crash points stay where writes put them.
    this.ensureCurrent();
    // The inode, not the name: a removed file stays readable through the handle, as on Linux.
    const ino = this.lookup(file);
    const size = ino.size;
    let open = true;
    return {
      size,
      read: (position, length) => {
        if (!open) throw new Error(`${file} is closed`);
        this.ensureCurrent();
        if (position + length > ino.size) throw new Error(`${file}: ends before byte ${position + length}`);
        return ino.slice(position, position + length);
      },
      close: () => {
        open = false;
      },
    };
  }

  async openAppend(file: string): Promise<AppendHandle> {
    const { ino, check, close } = this.open(file);
    return {
      append: async (data) => {
        check();
        ino.append(data);
      },
      sync: () => this.sync(ino, check),
      close: async () => close(),
    };
  }

  async openWrite(file: string): Promise<WriteHandle> {
    const { ino, check, close } = this.open(file);
    return {
      write: async (data, position) => {
        check();
        ino.write(data, position);
      },
      resize: async (size) => {
        check();
        ino.resize(size);
      },
      sync: () => this.sync(ino, check),
      close: async () => close(),
    };
  }

  async rename(from: string, to: string): Promise<void> {
    this.disk.op(this.gen);
    const ino = this.lookup(from);
    this.disk.dir(path.dirname(from), false)!.delete(path.basename(from));
    const d = this.disk.dir(path.dirname(to), false);
    if (d === undefined) throw enoent(path.dirname(to));
    d.set(path.basename(to), ino);
  }

  async remove(file: string): Promise<void> {
    this.disk.op(this.gen);
    this.disk.dir(path.dirname(file), false)?.delete(path.basename(file));
  }

  async truncate(file: string, size: number): Promise<void> {
    this.disk.op(this.gen);
    const ino = this.lookup(file);
    if (size < ino.size) ino.resize(size);
    this.disk.syncInode(ino);
  }

  async syncDir(dir: string): Promise<void> {
    this.disk.op(this.gen);
    await this.disk.slowSync(this.gen);
    this.ensureCurrent();
    this.disk.syncDirNow(dir);
  }

  async lock(dir: string): Promise<DirLock> {
    this.disk.op(this.gen);
    return this.disk.takeLock(dir, this.gen);
  }
}
