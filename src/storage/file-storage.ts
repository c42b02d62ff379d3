import * as path from 'node:path';
import type { Entry, HardState, Snapshot, SnapshotMeta } from '../core/types.js';
import { concatBytes } from '../util/bytes.js';
import type { CanaryName } from '../util/canary.js';
import { NodeFileSystem, type AppendHandle, type DirLock, type FileSystem } from './fs.js';
import { TermIndex } from './term-index.js';
import { EMPTY_STATE, type LogStorage, type StorageState, type StorageUpdate } from './types.js';
import {
  RecordType,
  WalCorruptionError,
  decodeRecord,
  encodeEntries,
  encodeHardState,
  encodeSegmentHeader,
  encodeSnapshotFile,
  encodeSnapshotMarker,
  scanRecords,
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
  /** Start a new WAL segment once the current one reaches this size. Default 64 MiB. */
  readonly segmentBytes?: number;
  readonly logger?: StorageLogger;
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
  segmentsDeleted: number;
}

/** Startup found data it must not use: the message names the file, the offset and what was expected. */
export class StorageRecoveryError extends Error {
  override name = 'StorageRecoveryError';
}

interface Segment {
  readonly seq: number;
  readonly firstIndex: number;
  readonly name: string;
}

interface Pending {
  readonly update: StorageUpdate;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

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
 *   state), is created under a temporary name and renamed into place, so a
 *   segment is either whole or absent.
 * - `snap/<index>-<term>.snap`: one record holding a snapshot; written to a
 *   temporary file, fsynced, renamed, and the directory fsynced, before the WAL
 *   records that it exists. Older snapshots go only after that record is durable.
 * - `LOCK`: keeps a second process out.
 *
 * Writes are group-committed: updates that arrive while an fsync is in flight
 * are written together and share the next one.
 */
export class FileStorage implements LogStorage {
  readonly stats: FileStorageStats = { walSyncs: 0, updates: 0, batches: 0, bytesWritten: 0, segmentsCreated: 0, segmentsDeleted: 0 };
  private readonly walDir: string;
  private readonly snapDir: string;
  private segments: Segment[] = [];
  private handle: AppendHandle | null = null;
  private segmentSize = 0;
  /** Terms of the stored log, for Figure 13's rule; its last index too. */
  private log = new TermIndex();
  private hardState: HardState = EMPTY_STATE.hardState;
  private snapshot: SnapshotMeta | null = null;
  private queue: Pending[] = [];
  private flushing = false;
  private failed: unknown = undefined;
  private closed = false;
  private recovered: StorageState | null;

  private constructor(
    readonly dir: string,
    private readonly fs: FileSystem,
    private readonly lock: DirLock,
    private readonly segmentBytes: number,
    private readonly logger: StorageLogger,
    private readonly canary: CanaryName | undefined,
  ) {
    this.walDir = path.join(dir, 'wal');
    this.snapDir = path.join(dir, 'snap');
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
    const s = new FileStorage(dir, fs, lock, opts.segmentBytes ?? 64 << 20, opts.logger ?? silent, opts.canary);
    try {
      await fs.mkdirp(s.walDir);
      await fs.mkdirp(s.snapDir);
      s.recovered = await s.recover();
      if (s.segments.length === 0) await s.createSegment();
      else await s.openLastSegment();
    } catch (e) {
      await lock.release().catch(() => {});
      throw e;
    }
    return s;
  }

  load(): Promise<StorageState> {
    if (this.recovered === null) return Promise.reject(new Error('FileStorage.load after close'));
    return Promise.resolve(this.recovered);
  }

  write(update: StorageUpdate): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`FileStorage ${this.dir} is closed`));
    if (this.failed !== undefined) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.queue.push({ update, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing) await new Promise<void>((r) => setImmediate(r));
    await this.handle?.close();
    this.handle = null;
    this.recovered = null;
    await this.lock.release();
  }

  // ---- writing -----------------------------------------------------------------

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

  private async writeBatch(updates: readonly StorageUpdate[]): Promise<void> {
    const parts: Uint8Array[] = [];
    let sync = false;
    let newSnapshot: SnapshotMeta | null = null;
    for (const u of updates) {
      sync ||= u.sync;
      if (u.snapshot !== undefined) {
        // The snapshot file must be durable before the WAL says it exists.
        await this.writeSnapshotFile(u.snapshot);
        const reset = this.log.applySnapshot(u.snapshot.meta);
        parts.push(encodeSnapshotMarker({ meta: u.snapshot.meta, reset }));
        this.snapshot = u.snapshot.meta;
        newSnapshot = u.snapshot.meta;
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
      await this.handle!.append(bytes);
      this.segmentSize += bytes.length;
      this.stats.bytesWritten += bytes.length;
    }
    if (sync || newSnapshot !== null) {
      await this.handle!.sync();
      this.stats.walSyncs++;
    }
    this.stats.updates += updates.length;
    this.stats.batches++;
    if (newSnapshot !== null) await this.releaseBehind(newSnapshot);
    if (this.segmentSize >= this.segmentBytes) await this.rotate();
  }

  private async writeSnapshotFile(s: Snapshot): Promise<void> {
    const name = snapName(s.meta);
    const tmp = path.join(this.snapDir, `${name}.tmp`);
    await this.fs.remove(tmp);
    const h = await this.fs.openAppend(tmp);
    try {
      await h.append(encodeSnapshotFile(s.meta, s.data));
      await h.sync();
    } finally {
      await h.close();
    }
    await this.fs.rename(tmp, path.join(this.snapDir, name));
    await this.fs.syncDir(this.snapDir);
    this.stats.bytesWritten += s.data.length;
  }

  /** Once a snapshot is durably recorded: older snapshot files and segments wholly behind it go. */
  private async releaseBehind(meta: SnapshotMeta): Promise<void> {
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

  private async rotate(): Promise<void> {
    // Only the last segment may ever have a torn tail: make this one whole before moving on.
    await this.handle?.sync();
    await this.handle?.close();
    this.handle = null;
    await this.createSegment();
    if (this.snapshot !== null) await this.releaseBehind(this.snapshot);
  }

  /**
   * Creates the next segment, whole or not at all: header and checkpoint are
   * written to a temporary file, synced, and renamed into place.
   */
  private async createSegment(): Promise<void> {
    const last = this.segments[this.segments.length - 1];
    const seq = last === undefined ? 1 : last.seq + 1;
    const firstIndex = this.log.last + 1;
    const name = segmentName(seq, firstIndex);
    const tmp = path.join(this.walDir, `${name}.tmp`);
    await this.fs.remove(tmp);
    const h = await this.fs.openAppend(tmp);
    const parts = [encodeSegmentHeader({ seq, firstIndex })];
    // A checkpoint repeats the snapshot in force; it changes nothing on replay.
    if (this.snapshot !== null) parts.push(encodeSnapshotMarker({ meta: this.snapshot, reset: false }));
    parts.push(encodeHardState(this.hardState));
    const bytes = concatBytes(parts);
    await h.append(bytes);
    await h.sync();
    await h.close();
    await this.fs.rename(tmp, path.join(this.walDir, name));
    await this.fs.syncDir(this.walDir);
    this.segments.push({ seq, firstIndex, name });
    this.handle = await this.fs.openAppend(path.join(this.walDir, name));
    this.segmentSize = bytes.length;
    this.stats.segmentsCreated++;
    this.stats.walSyncs++;
  }

  private async openLastSegment(): Promise<void> {
    const last = this.segments[this.segments.length - 1]!;
    this.handle = await this.fs.openAppend(path.join(this.walDir, last.name));
  }

  // ---- recovery ------------------------------------------------------------------

  private async recover(): Promise<StorageState> {
    // Leftovers of interrupted renames were never part of the state.
    for (const d of [this.walDir, this.snapDir]) {
      for (const name of await this.fs.list(d)) if (name.endsWith('.tmp')) await this.fs.remove(path.join(d, name));
    }

    const names = (await this.fs.list(this.walDir)).filter((n) => !n.endsWith('.tmp'));
    const segments: Segment[] = [];
    for (const name of names) {
      const m = SEGMENT_RE.exec(name);
      if (m === null) throw new StorageRecoveryError(`${path.join(this.walDir, name)}: not a WAL segment name (expected <seq>-<firstIndex>.wal)`);
      segments.push({ seq: Number.parseInt(m[1]!, 16), firstIndex: Number.parseInt(m[2]!, 16), name });
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
      const scan = scanRecords(bytes, file, isLast, this.canary === 'truncate-on-corruption');
      const decoded = scan.records.map((raw) => ({ rec: decodeRecord(raw, file), file, offset: raw.offset }));
      const head = decoded[0]?.rec;
      if (head === undefined || head.type !== RecordType.SegmentHeader || head.header.seq !== seg.seq || head.header.firstIndex !== seg.firstIndex) {
        throw new WalCorruptionError(file, 0, `a segment header for segment ${seg.seq} starting at index ${seg.firstIndex}`);
      }
      if (scan.tornAt !== undefined) {
        this.logger.warn({ file, offset: scan.tornAt, size: bytes.length }, 'WAL: truncating a torn record at the tail (a write cut short by a crash)');
        await this.fs.truncate(file, scan.tornAt);
      }
      all.push(...decoded);
      if (isLast) this.segmentSize = scan.tornAt ?? bytes.length;
      if (!isLast && scan.tornAt !== undefined) {
        // Only under the canary 'truncate-on-corruption': drop everything after the damage, as a careless engine would.
        for (const later of segments.splice(i + 1)) await this.fs.remove(path.join(this.walDir, later.name));
        this.segmentSize = scan.tornAt;
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
    if (rec.type !== RecordType.SnapshotFile || rec.meta.index !== meta.index || rec.meta.term !== meta.term) {
      throw new WalCorruptionError(file, 0, `snapshot ${meta.index} of term ${meta.term}`);
    }
    return { meta, data: rec.data };
  }
}
