import * as path from 'node:path';
import type { Entry, HardState, Snapshot, SnapshotMeta } from '../core/types.js';
import { SnapshotFileReader } from './snapshot-file-reader.js';
import { concatBytes } from '../util/bytes.js';
import type { CanaryName } from '../util/canary.js';
import { confKey } from './durability.js';
import { NodeFileSystem, type DirLock, type FileSystem, type WriteHandle } from './fs.js';
import { TermIndex } from './term-index.js';
import { EMPTY_STATE, type LogStorage, type StorageState, type StorageUpdate } from './types.js';
import {
  HEADER_BYTES,
  PREALLOCATED_HEADER_BYTES,
  RecordType,
  WalCorruptionError,
  decodeRecord,
  encodeEntries,
  encodeHardState,
  encodeSegmentHeader,
  encodeSnapshotMarker,
  nonZeroEnd,
  scanRecords,
  SnapshotFileFrame,
  type SegmentHeader,
  type WalRecord,
} from './wal/record.js';

/** The logging FileStorage needs (pino's shape). */
export interface StorageLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** Options of {@link FileStorage.open}. */
export interface FileStorageOptions {
  /** The file system; defaults to the real one. The simulator passes a `SimDisk` mount. */
  readonly fs?: FileSystem;
  /**
   * The size each WAL segment is preallocated to; a new segment starts when the
   * next write does not fit. Default 64 MiB. (A write bigger than this gets a
   * segment of its own, preallocated to fit it.)
   */
  readonly segmentBytes?: number;
  readonly logger?: StorageLogger;
  /** Snapshot files are checksummed and written in pieces of this size, one write each. Default 4 MiB. */
  readonly snapshotPieceBytes?: number;
  /** A planted bug, for the simulator to prove its checks (see util/canary.ts). Never set otherwise. */
  readonly canary?: CanaryName | undefined;
}

/** Counters, for benchmarks and metrics. */
export interface FileStorageStats {
  /** fsyncs of WAL segments (one per group commit). */
  walSyncs: number;
  /** Updates written. */
  updates: number;
  /** Group commits: batches of updates written together. */
  batches: number;
  bytesWritten: number;
  segmentsCreated: number;
  /** Of those, created from a file filled with zeros ahead of need. */
  segmentsFromSpare: number;
  segmentsDeleted: number;
}

/** Startup found data it must not use: the message names the file, the offset and what was expected. */
export class StorageRecoveryError extends Error {
  override name = 'StorageRecoveryError';
}

/** What to tell an operator whose data directory lost data that may have been acknowledged. */
const LOST_DATA_ADVICE =
  'the data directory lost data that may have been acknowledged, so this member must not take part in elections or commitment with it. ' +
  'Keep the directory for inspection, then remove this member from the cluster and add it back with an empty data directory (see docs/OPERATIONS.md, "Recovering a node that refuses to start")';

interface Segment {
  readonly seq: number;
  readonly firstIndex: number;
  readonly name: string;
  /** The size its file was preallocated to; undefined for an append-only segment of an older version. */
  readonly preallocated: number | undefined;
}

/** What a new segment starts with: the state in force before the records it will hold. */
interface Checkpoint {
  readonly firstIndex: number;
  readonly snapshot: SnapshotMeta | null;
  readonly hardState: HardState;
}

interface Pending {
  /** An update, or the record that a compaction's snapshot file is durable (see {@link FileStorage.deferSnapshot}). */
  readonly update: StorageUpdate | { readonly snapshotFileDurable: SnapshotMeta };
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** The next segment's file being prepared: `ready` once it is all zeros on disk. */
interface Spare {
  ready: boolean;
  failed: boolean;
  done: Promise<void>;
}

/** The most a segment created at start (sparse, not from a spare) is preallocated to. */
const FIRST_SEGMENT_BYTES = 4 << 20;

/** Snapshot files are checksummed and written in pieces of this size by default, so that no single step holds the event loop long. */
const SNAPSHOT_PIECE_BYTES = 4 << 20;

const SEGMENT_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
const SNAP_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

function segmentName(seq: number, firstIndex: number): string {
  return `${hex16(seq)}-${hex16(firstIndex)}.wal`;
}

function snapName(m: SnapshotMeta): string {
  return `${hex16(m.index)}-${hex16(m.term)}.snap`;
}

const silent: StorageLogger = { warn() {}, info() {} };

/**
 * Durable {@link LogStorage}: a write-ahead log in segment files plus snapshot
 * files, in one data directory.
 *
 * - `wal/<seq>-<firstIndex>.wal`: records (see `wal/record.ts`). Every segment
 *   starts with a header and a checkpoint (the current snapshot marker and hard
 *   state), is preallocated (extended with zeros to its full size, which its
 *   header records), created under a temporary name and renamed into place, so
 *   a segment is either whole or absent. Records are written at increasing
 *   offsets inside it; the zeros after them mark their end. A file shorter than
 *   its header says was cut below what was fsynced, which recovery refuses,
 *   unlike a torn last record, which it repairs.
 * - `snap/<index>-<term>.snap`: one record holding a snapshot; written to a
 *   temporary file, fsynced, renamed, and the directory fsynced, before the WAL
 *   records that it exists. Older snapshots go only after that record is durable.
 *   A compaction (a snapshot of entries the log holds) is written off the WAL
 *   path: the write that carries it completes without it, later writes go on,
 *   and its marker follows once its file is durable. Until then the log keeps
 *   the entries it covers, so a crash meanwhile recovers the previous snapshot
 *   and those entries: the same log, less compacted. An install (a snapshot the
 *   log does not hold) is written in its write, before the WAL goes on.
 * - `LOCK`: keeps a second process out.
 *
 * Writes are group-committed: updates that arrive while an fsync is in flight
 * are written together and share the next one.
 */
export class FileStorage implements LogStorage {
  readonly stats: FileStorageStats = { walSyncs: 0, updates: 0, batches: 0, bytesWritten: 0, segmentsCreated: 0, segmentsFromSpare: 0, segmentsDeleted: 0 };
  private readonly walDir: string;
  private readonly snapDir: string;
  private segments: Segment[] = [];
  private handle: WriteHandle | null = null;
  /** Where the current segment's records end: the next write goes here. */
  private segmentSize = 0;
  /** The current segment's preallocated size: no record goes past it. */
  private segmentCapacity = 0;
  /** Terms of the stored log, for Figure 13's rule; its last index too. */
  private log = new TermIndex();
  private hardState: HardState = EMPTY_STATE.hardState;
  private snapshot: SnapshotMeta | null = null;
  private queue: Pending[] = [];
  private flushing = false;
  private failed: unknown = undefined;
  private closed = false;
  private recovered: StorageState | null;
  /** The compaction whose file is being written off the WAL path, if any. */
  private snapshotJob: Promise<void> | null = null;
  /** The newest compaction waiting for that job; a newer one replaces it unwritten. */
  private nextCompaction: Snapshot | null = null;
  /** The next segment's file, being filled with zeros ahead of need (see {@link prepareSpare}). */
  private spare: Spare | null = null;
  /** Removals of files behind recorded snapshots, in order (see {@link releaseBehind}). */
  private releasing: Promise<void> = Promise.resolve();
  private readonly spareFile: string;

  private constructor(
    readonly dir: string,
    private readonly fs: FileSystem,
    private readonly lock: DirLock,
    private readonly segmentBytes: number,
    private readonly logger: StorageLogger,
    private readonly canary: CanaryName | undefined,
    private readonly snapshotPieceBytes: number,
  ) {
    this.walDir = path.join(dir, 'wal');
    this.snapDir = path.join(dir, 'snap');
    this.spareFile = path.join(dir, 'wal.spare.tmp');
    this.recovered = null;
  }

  /**
   * Opens (creating if needed) the data directory, takes its lock and
   * recovers its contents. Throws {@link StorageRecoveryError} (or
   * `WalCorruptionError`) if the data is damaged anywhere but a torn tail.
   */
  static async open(dir: string, opts: FileStorageOptions = {}): Promise<FileStorage> {
    const fs = opts.fs ?? new NodeFileSystem();
    await fs.mkdirp(dir);
    const lock = await fs.lock(dir);
    const s = new FileStorage(dir, fs, lock, opts.segmentBytes ?? 64 << 20, opts.logger ?? silent, opts.canary, opts.snapshotPieceBytes ?? SNAPSHOT_PIECE_BYTES);
    try {
      await fs.mkdirp(s.walDir);
      await fs.mkdirp(s.snapDir);
      s.recovered = await s.recover();
      await s.openLastSegment();
    } catch (e) {
      await lock.release().catch(() => {});
      throw e;
    }
    return s;
  }

  /** What was recovered at open: only until the first write, which lets it go (a restarted node's snapshot and log would otherwise stay in memory for its whole life). */
  load(): Promise<StorageState> {
    if (this.closed) return Promise.reject(new Error('FileStorage.load after close'));
    if (this.recovered === null) return Promise.reject(new Error(`FileStorage ${this.dir}: load after the first write (it returns what was recovered at open)`));
    return Promise.resolve(this.recovered);
  }

  write(update: StorageUpdate): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`FileStorage ${this.dir} is closed`));
    this.recovered = null;
    return this.enqueue(update);
  }

  private enqueue(update: Pending['update']): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.queue.push({ update, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  /**
   * Writes a compaction's snapshot file off the WAL path, then records it.
   * One file at a time; if compactions come faster, only the newest waiting
   * one is written. A failure stops the storage: the next write reports it.
   */
  private deferSnapshot(s: Snapshot): void {
    this.nextCompaction = s;
    this.snapshotJob ??= (async () => {
      try {
        for (let next = this.nextCompaction; next !== null && this.failed === undefined; next = this.nextCompaction) {
          this.nextCompaction = null;
          await this.writeSnapshotFile(next);
          await this.enqueue({ snapshotFileDurable: next.meta });
        }
      } catch (err) {
        this.failed ??= err;
        this.logger.warn({ dir: this.dir, err: String(err) }, 'storage: writing a snapshot file failed; the storage stops');
      } finally {
        this.snapshotJob = null;
      }
    })();
  }

  /**
   * Resolves once every compaction written so far is recorded (or was
   * overtaken by a newer snapshot) and the files behind it are gone; rejects
   * if writing or removing one failed.
   */
  async flushSnapshots(): Promise<void> {
    while (this.snapshotJob !== null) await this.snapshotJob;
    await this.releasing;
    if (this.failed !== undefined) throw this.failed;
  }

  /**
   * A reader of snapshot `meta`'s data in its file, once the file is durable
   * and recorded (a compaction's is written in the background: this waits for
   * it). Null if storage has moved on to another snapshot meanwhile, or is
   * closed or failed. The node hands it to the Raft core in place of the copy
   * in memory; the caller closes it.
   */
  async openSnapshot(meta: SnapshotMeta): Promise<SnapshotFileReader | null> {
    while (this.snapshotJob !== null) await this.snapshotJob;
    const s = this.snapshot;
    if (this.closed || this.failed !== undefined || s === null || s.index !== meta.index || s.term !== meta.term) return null;
    const file = path.join(this.snapDir, snapName(meta));
    const h = await this.fs.openRead(file);
    try {
      return new SnapshotFileReader(h, SnapshotFileFrame.layout(meta, h, file), file);
    } catch (err) {
      h.close();
      throw err;
    }
  }

  /** Whether a snapshot only compacts the log: it holds the snapshot's last entry, and the snapshot is newer than the one recorded. */
  private isCompaction(meta: SnapshotMeta): boolean {
    return meta.index > this.log.snapshot.index && meta.index <= this.log.last && this.log.term(meta.index) === meta.term;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A compaction being written is finished and recorded: the next start reads less log.
    this.nextCompaction = null;
    await this.snapshotJob;
    await this.spare?.done;
    await this.releasing;
    while (this.flushing) await new Promise<void>((r) => setImmediate(r));
    await this.handle?.close();
    this.handle = null;
    this.recovered = null;
    await this.lock.release();
  }

  // ---- writing -----------------------------------------------------------------

  /**
   * Starts filling the next segment's file with zeros, off the write path,
   * once the current one is half full. A segment created by extending a file
   * is sparse: each fdatasync into it must also commit the allocation of its
   * blocks, which costs more than the data (bench: docs/PERFORMANCE.md).
   * Written out ahead of need, the next segment's blocks exist already.
   * Failing here only means the next segment is created sparse.
   */
  private prepareSpare(): void {
    if (this.spare !== null || this.closed || this.failed !== undefined || this.segmentSize < this.segmentCapacity / 2) return;
    const spare: Spare = { ready: false, failed: false, done: Promise.resolve() };
    spare.done = this.fillSpare(spare);
    this.spare = spare;
  }

  private async fillSpare(spare: Spare): Promise<void> {
    try {
      await this.fs.remove(this.spareFile);
      const h = await this.fs.openWrite(this.spareFile);
      try {
        const zeros = new Uint8Array(Math.min(this.segmentBytes, 1 << 20));
        for (let off = 0; off < this.segmentBytes && !this.closed; off += zeros.length) {
          await h.write(off + zeros.length <= this.segmentBytes ? zeros : zeros.subarray(0, this.segmentBytes - off), off);
        }
        await h.sync();
      } finally {
        await h.close();
      }
      spare.ready = !this.closed;
    } catch (err) {
      // Not retried before the next segment starts.
      spare.failed = true;
      if (!this.closed) this.logger.warn({ file: this.spareFile, err: String(err) }, 'storage: preparing the next WAL segment failed; it will be created sparse');
    }
  }

  /** Writes every queued update in one batch and one fsync, until the queue is empty. */
  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0 && this.failed === undefined) {
        const batch = this.queue;
        this.queue = [];
        try {
          await this.writeBatch(batch.map((p) => p.update));
        } catch (err) {
          this.failed = err;
          for (const p of batch) p.reject(err);
          for (const p of this.queue.splice(0)) p.reject(err);
          return;
        }
        for (const p of batch) p.resolve();
      }
    } finally {
      this.flushing = false;
    }
  }

  private async writeBatch(updates: readonly Pending['update'][]): Promise<void> {
    // A segment this batch moves to starts from the state before it.
    const before = this.checkpoint();
    const parts: Uint8Array[] = [];
    let sync = false;
    let newSnapshot: SnapshotMeta | null = null;
    const staleFiles: SnapshotMeta[] = [];
    const record = (meta: SnapshotMeta): void => {
      const reset = this.log.applySnapshot(meta);
      parts.push(encodeSnapshotMarker({ meta, reset }));
      this.snapshot = meta;
      newSnapshot = meta;
    };
    for (const u of updates) {
      if ('snapshotFileDurable' in u) {
        const meta = u.snapshotFileDurable;
        // An install may have overtaken it while its file was written.
        if (this.isCompaction(meta)) record(meta);
        else staleFiles.push(meta);
        continue;
      }
      sync ||= u.sync;
      if (u.snapshot !== undefined) {
        if (this.isCompaction(u.snapshot.meta)) {
          this.deferSnapshot(u.snapshot);
        } else {
          // The snapshot file must be durable before the WAL says it exists.
          await this.writeSnapshotFile(u.snapshot);
          record(u.snapshot.meta);
        }
      }
      if (u.entries !== undefined && u.entries.length > 0) {
        parts.push(encodeEntries(u.entries));
        this.log.append(u.entries);
      }
      if (u.hardState !== undefined) {
        parts.push(encodeHardState(u.hardState));
        this.hardState = u.hardState;
      }
    }
    const bytes = concatBytes(parts);
    if (bytes.length > 0) {
      if (this.segmentSize + bytes.length > this.segmentCapacity) await this.rotate(before, bytes.length);
      await this.handle!.write(bytes, this.segmentSize);
      this.segmentSize += bytes.length;
      this.prepareSpare();
      this.stats.bytesWritten += bytes.length;
    }
    if (sync || newSnapshot !== null) {
      await this.handle!.sync();
      this.stats.walSyncs++;
    }
    this.stats.updates += updates.length;
    this.stats.batches++;
    if (newSnapshot !== null) this.releaseBehind(newSnapshot);
    for (const meta of staleFiles) if (meta.index !== this.snapshot?.index || meta.term !== this.snapshot.term) await this.fs.remove(path.join(this.snapDir, snapName(meta)));
  }

  private checkpoint(): Checkpoint {
    return { firstIndex: this.log.last + 1, snapshot: this.snapshot, hardState: this.hardState };
  }

  private async writeSnapshotFile(s: Snapshot): Promise<void> {
    const name = snapName(s.meta);
    const tmp = path.join(this.snapDir, `${name}.tmp`);
    await this.fs.remove(tmp);
    const h = await this.fs.openWrite(tmp);
    try {
      const frame = new SnapshotFileFrame(s.meta, s.data.length);
      await h.write(new Uint8Array(frame.dataOffset), 0);
      for (let off = 0; off < s.data.length; off += this.snapshotPieceBytes) {
        const piece = s.data.subarray(off, off + this.snapshotPieceBytes);
        frame.update(piece);
        await h.write(piece, frame.dataOffset + off);
      }
      await h.write(frame.head(), 0);
      await h.sync();
    } finally {
      await h.close();
    }
    await this.fs.rename(tmp, path.join(this.snapDir, name));
    await this.fs.syncDir(this.snapDir);
    this.stats.bytesWritten += s.data.length;
  }

  /**
   * Once a snapshot is durably recorded, older snapshot files and segments
   * wholly behind it go: off the write path (unlinking a 64 MiB segment takes
   * milliseconds), one release at a time, in order. A failure stops the
   * storage, as a failed write does: segments must go oldest first, or
   * recovery would find a gap.
   */
  private releaseBehind(meta: SnapshotMeta): void {
    this.releasing = this.releasing.then(async () => {
      if (this.failed !== undefined) return;
      try {
        await this.removeBehind(meta);
      } catch (err) {
        this.failed ??= err;
        this.logger.warn({ dir: this.dir, err: String(err) }, 'storage: removing files behind a snapshot failed; the storage stops');
      }
    });
  }

  private async removeBehind(meta: SnapshotMeta): Promise<void> {
    for (const name of await this.fs.list(this.snapDir)) {
      const m = SNAP_RE.exec(name);
      if (m !== null && name !== snapName(meta) && Number.parseInt(m[1]!, 16) <= meta.index) {
        await this.fs.remove(path.join(this.snapDir, name));
      }
    }
    // Segment k may go once segment k+1 starts at or before the first index the snapshot does not cover.
    while (this.segments.length >= 2 && this.segments[1]!.firstIndex <= meta.index + 1) {
      const old = this.segments.shift()!;
      await this.fs.remove(path.join(this.walDir, old.name));
      this.stats.segmentsDeleted++;
    }
  }

  /** Moves to a new segment with room for `need` bytes of records after its checkpoint `cp`. */
  private async rotate(cp: Checkpoint, need: number): Promise<void> {
    // Only the last segment may ever have a torn tail: make this one whole before moving on.
    await this.handle?.sync();
    await this.handle?.close();
    this.handle = null;
    await this.createSegment(cp, need);
    if (cp.snapshot !== null) this.releaseBehind(cp.snapshot);
  }

  /**
   * Creates the next segment, whole or not at all: header and checkpoint are
   * written to a temporary file, which is extended to its preallocated size,
   * synced, and renamed into place. Writes then go to it at increasing offsets,
   * and their fdatasyncs never need to change its size.
   */
  private async createSegment(cp: Checkpoint, need: number, size = this.segmentBytes): Promise<void> {
    const last = this.segments[this.segments.length - 1];
    const seq = last === undefined ? 1 : last.seq + 1;
    const name = segmentName(seq, cp.firstIndex);
    const tmp = path.join(this.walDir, `${name}.tmp`);
    // A checkpoint repeats the snapshot in force; it changes nothing on replay.
    const checkpoint = concatBytes([...(cp.snapshot !== null ? [encodeSnapshotMarker({ meta: cp.snapshot, reset: false })] : []), encodeHardState(cp.hardState)]);
    const preallocated = Math.max(size, PREALLOCATED_HEADER_BYTES + checkpoint.length + need);
    const bytes = concatBytes([encodeSegmentHeader({ seq, firstIndex: cp.firstIndex, preallocated }), checkpoint]);
    // A spare of the right size, already zeros on disk, saves every later fdatasync the block allocation.
    const useSpare = this.spare?.ready === true && preallocated === this.segmentBytes;
    if (useSpare || this.spare?.failed === true) this.spare = null;
    const from = useSpare ? this.spareFile : tmp;
    if (!useSpare) await this.fs.remove(tmp);
    const h = await this.fs.openWrite(from);
    try {
      await h.write(bytes, 0);
      if (!useSpare) await h.resize(preallocated);
      await h.sync();
      await this.fs.rename(from, path.join(this.walDir, name));
      await this.fs.syncDir(this.walDir);
      if (useSpare) await this.fs.syncDir(this.dir);
    } catch (e) {
      await h.close().catch(() => {});
      throw e;
    }
    this.segments.push({ seq, firstIndex: cp.firstIndex, name, preallocated });
    this.handle = h; // still the same file, now under its final name
    this.segmentSize = bytes.length;
    this.segmentCapacity = preallocated;
    this.stats.segmentsCreated++;
    if (useSpare) this.stats.segmentsFromSpare++;
    this.stats.walSyncs++;
  }

  /** Continues the last segment, or starts one: in an empty directory, or after a segment of the older append-only layout, which is never written again. */
  private async openLastSegment(): Promise<void> {
    const last = this.segments[this.segments.length - 1];
    if (last?.preallocated === undefined) {
      if (last !== undefined) {
        // What a crashed process left in the page cache must be on disk before the log continues elsewhere.
        const h = await this.fs.openAppend(path.join(this.walDir, last.name));
        await h.sync();
        await h.close();
      }
      // Created sparse, so it is kept small: the log soon moves on to segments filled with zeros ahead of need.
      await this.createSegment(this.checkpoint(), 0, Math.min(this.segmentBytes, FIRST_SEGMENT_BYTES));
      return;
    }
    this.handle = await this.fs.openWrite(path.join(this.walDir, last.name));
    this.segmentCapacity = last.preallocated;
  }

  // ---- recovery ------------------------------------------------------------------

  private async recover(): Promise<StorageState> {
    // Leftovers of interrupted renames were never part of the state.
    await this.fs.remove(this.spareFile);
    for (const d of [this.walDir, this.snapDir]) {
      for (const name of await this.fs.list(d)) if (name.endsWith('.tmp')) await this.fs.remove(path.join(d, name));
    }

    const names = (await this.fs.list(this.walDir)).filter((n) => !n.endsWith('.tmp'));
    const segments: Segment[] = [];
    for (const name of names) {
      const m = SEGMENT_RE.exec(name);
      if (m === null) throw new StorageRecoveryError(`${path.join(this.walDir, name)}: not a WAL segment name (expected <seq>-<firstIndex>.wal)`);
      segments.push({ seq: Number.parseInt(m[1]!, 16), firstIndex: Number.parseInt(m[2]!, 16), name, preallocated: undefined });
    }
    segments.sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < segments.length; i++) {
      if (segments[i]!.seq !== segments[i - 1]!.seq + 1) {
        throw new StorageRecoveryError(
          `${path.join(this.walDir, segments[i]!.name)}: expected WAL segment ${segments[i - 1]!.seq + 1} after ${segments[i - 1]!.name}, found ${segments[i]!.seq}: segments are missing`,
        );
      }
    }
    if (segments.length === 0) {
      this.segments = [];
      return EMPTY_STATE;
    }

    // Pass 1: read and check every record.
    const all: { rec: WalRecord; file: string; offset: number }[] = [];
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i]!;
      const file = path.join(this.walDir, seg.name);
      const bytes = await this.fs.readFile(file);
      const isLast = i === segments.length - 1;
      const header = this.segmentHeader(bytes, file, seg);
      const preallocated = header.preallocated;
      if (preallocated !== undefined && bytes.length !== preallocated) {
        // Only something other than tsraft changes a segment's size: cut short, it lost records that were fsynced.
        if (bytes.length < preallocated) throw this.cutShort(file, bytes.length, `the ${preallocated} bytes its header says it was preallocated to`);
        throw new StorageRecoveryError(`${file}: the WAL segment is ${bytes.length} bytes, longer than the ${preallocated} bytes its header says it was preallocated to: something other than tsraft wrote to it`);
      }
      segments[i] = { ...seg, preallocated };
      const scan = scanRecords(bytes, file, isLast, { preallocated: preallocated !== undefined, stopAtCorruption: this.canary === 'truncate-on-corruption' });
      const decoded = scan.records.map((raw) => ({ rec: decodeRecord(raw, file), file, offset: raw.offset }));
      if (scan.tornAt !== undefined) {
        this.logger.warn({ file, offset: scan.tornAt, size: bytes.length }, 'WAL: truncating a torn record at the tail (a write cut short by a crash)');
        if (preallocated === undefined) await this.fs.truncate(file, scan.tornAt);
        else await this.zeroFrom(file, scan.tornAt, nonZeroEnd(bytes));
      }
      all.push(...decoded);
      const end = scan.tornAt ?? (preallocated === undefined ? bytes.length : (scan.records[scan.records.length - 1]?.end ?? 0));
      if (isLast) this.segmentSize = end;
      if (!isLast && scan.tornAt !== undefined) {
        // Only under the canary 'truncate-on-corruption': drop everything after the damage, as a careless engine would.
        for (const later of segments.splice(i + 1)) await this.fs.remove(path.join(this.walDir, later.name));
        this.segmentSize = end;
      }
    }

    // The snapshot in force is the last one recorded.
    let snap: SnapshotMeta | null = null;
    for (const { rec } of all) if (rec.type === RecordType.Snapshot) snap = rec.marker.meta;
    const snapIndex = snap?.index ?? 0;

    const firstSeg = segments[0]!;
    if (firstSeg.firstIndex - 1 > snapIndex) {
      throw new StorageRecoveryError(
        `${path.join(this.walDir, firstSeg.name)}: the log starts at index ${firstSeg.firstIndex} but the snapshot covers only up to ${snapIndex}: earlier segments are missing`,
      );
    }

    // Pass 2: replay. Only entries after the snapshot in force are kept.
    let lastIndex = firstSeg.firstIndex - 1;
    const tail: Entry[] = [];
    let hardState: HardState = EMPTY_STATE.hardState;
    for (const { rec, file, offset } of all) {
      switch (rec.type) {
        case RecordType.Entries: {
          const f = rec.entries[0]?.index;
          if (f === undefined) break;
          if (f > Math.max(lastIndex, snapIndex) + 1) {
            throw new WalCorruptionError(file, offset, `entries continuing the log at index ${Math.max(lastIndex, snapIndex) + 1}, found ${f}`);
          }
          tail.length = Math.max(0, Math.min(tail.length, f - snapIndex - 1));
          for (const e of rec.entries) {
            if (e.index <= snapIndex) continue;
            if (e.index !== snapIndex + tail.length + 1) {
              throw new WalCorruptionError(file, offset, `entry ${snapIndex + tail.length + 1} after the snapshot at ${snapIndex}, found ${e.index}`);
            }
            tail.push(e);
          }
          lastIndex = rec.entries[rec.entries.length - 1]!.index;
          break;
        }
        case RecordType.Snapshot:
          // Figure 13: an install over a log without its last entry discarded the log after it.
          if (rec.marker.reset) {
            tail.length = Math.max(0, Math.min(tail.length, rec.marker.meta.index - snapIndex));
            lastIndex = rec.marker.meta.index;
          }
          break;
        case RecordType.HardState:
          hardState = rec.hardState;
          break;
        default:
          break;
      }
    }

    let snapshot: Snapshot | null = null;
    if (snap !== null) snapshot = await this.readSnapshotFile(snap);
    // Snapshot files other than the one in force were never (or are no longer) part of the state.
    for (const name of await this.fs.list(this.snapDir)) {
      if (SNAP_RE.test(name) && (snap === null || name !== snapName(snap))) await this.fs.remove(path.join(this.snapDir, name));
    }

    this.segments = segments;
    this.snapshot = snap;
    this.hardState = hardState;
    this.log = new TermIndex();
    if (snap !== null) this.log.applySnapshot(snap);
    this.log.append(tail);
    if (hardState.commit > this.log.last) {
      throw new StorageRecoveryError(`${this.walDir}: hard state commits index ${hardState.commit} but the log ends at ${this.log.last}`);
    }
    return { hardState, snapshot, entries: tail };
  }

  /**
   * Reads and checks a segment's header record. A file too short to hold it was
   * cut (segments appear whole, by rename); any other damage is corruption.
   */
  private segmentHeader(bytes: Uint8Array, file: string, seg: Segment): SegmentHeader {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const len = bytes.length >= 8 ? dv.getUint32(0, true) : 0;
    const lengthIntact = bytes.length >= 8 && (len ^ dv.getUint32(4, true)) >>> 0 === 0xffffffff;
    if (bytes.length < HEADER_BYTES || (lengthIntact && HEADER_BYTES - 1 + len > bytes.length && HEADER_BYTES - 1 + len <= PREALLOCATED_HEADER_BYTES)) {
      throw this.cutShort(file, bytes.length, `at least the ${PREALLOCATED_HEADER_BYTES} bytes of a segment header`);
    }
    const expected = `a segment header for segment ${seg.seq} starting at index ${seg.firstIndex}`;
    const raw = scanRecords(lengthIntact ? bytes.subarray(0, HEADER_BYTES - 1 + len) : bytes, file, false).records[0];
    const head = raw === undefined ? undefined : decodeRecord(raw, file);
    if (head === undefined || head.type !== RecordType.SegmentHeader || head.header.seq !== seg.seq || head.header.firstIndex !== seg.firstIndex) {
      throw new WalCorruptionError(file, 0, expected);
    }
    return head.header;
  }

  private cutShort(file: string, size: number, expected: string): StorageRecoveryError {
    return new StorageRecoveryError(`${file}: the WAL segment was cut short: it is ${size} bytes, expected ${expected}; ${LOST_DATA_ADVICE}`);
  }

  /** Repairs a torn tail inside a preallocated segment: its bytes go back to zeros, durably, before anything is written after it. */
  private async zeroFrom(file: string, from: number, to: number): Promise<void> {
    if (to <= from) return;
    const h = await this.fs.openWrite(file);
    try {
      await h.write(new Uint8Array(to - from), from);
      await h.sync();
    } finally {
      await h.close();
    }
  }

  private async readSnapshotFile(meta: SnapshotMeta): Promise<Snapshot> {
    const file = path.join(this.snapDir, snapName(meta));
    let bytes: Uint8Array;
    try {
      bytes = await this.fs.readFile(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      throw new StorageRecoveryError(`${file}: the WAL records snapshot ${meta.index} (term ${meta.term}) but its file is missing`);
    }
    const scan = scanRecords(bytes, file, false);
    const raw = scan.records[0];
    if (scan.records.length !== 1 || raw === undefined) throw new WalCorruptionError(file, 0, 'exactly one snapshot record');
    const rec = decodeRecord(raw, file);
    if (rec.type !== RecordType.SnapshotFile || rec.meta.index !== meta.index || rec.meta.term !== meta.term || confKey(rec.meta) !== confKey(meta)) {
      throw new WalCorruptionError(file, 0, `snapshot ${meta.index} of term ${meta.term}${meta.conf === undefined ? ' without a configuration' : ` with configuration ${confKey(meta)}`}`);
    }
    return { meta, data: rec.data };
  }
}
