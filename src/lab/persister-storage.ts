import type { ConfState, Entry, EntryType, SnapshotMeta } from '../core/types.js';
import { applyUpdate } from '../storage/apply-update.js';
import { EMPTY_STATE, type LogStorage, type StorageState, type StorageUpdate } from '../storage/types.js';
import { decodeAll, encode } from '../util/codec.js';
import type { Persister } from './persister.js';

/**
 * The Raft state blob: this header, then one encoded [term, type, data] per
 * entry. The snapshot's configuration is a sixth element, present only when
 * the snapshot has one (so states without one are encoded as before).
 */
type Header = [term: number, vote: number | null, commit: number, snapIndex: number, snapTerm: number, snapConf?: ConfState];
type EncodedEntry = [term: number, type: number, data: Uint8Array];

function encodeEntry(e: Entry): Uint8Array {
  return encode([e.term, e.type, e.data] satisfies EncodedEntry);
}

/**
 * The encoded entries, kept up to date incrementally: appends encode only the
 * new entries, so saving the whole state costs one copy, not a re-encoding.
 */
class EncodedEntries {
  private buf = Buffer.alloc(1 << 12);
  private len = 0;
  /** Byte offset of each entry's encoding. */
  private readonly offsets: number[] = [];

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /** Keeps the first `keep` entries and appends `entries` after them. */
  replaceFrom(keep: number, entries: readonly Entry[]): void {
    if (keep < this.offsets.length) {
      this.len = this.offsets[keep]!;
      this.offsets.length = keep;
    }
    for (const e of entries) {
      const b = encodeEntry(e);
      if (this.len + b.length > this.buf.length) {
        const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.len + b.length));
        this.buf.copy(bigger, 0, 0, this.len);
        this.buf = bigger;
      }
      this.offsets.push(this.len);
      this.buf.set(b, this.len);
      this.len += b.length;
    }
  }
}

/**
 * {@link LogStorage} over a lab {@link Persister}: every write saves the whole
 * Raft state together with the snapshot, as the lab's `persist()` does.
 * Updates that change only the commit index need not be durable and are
 * skipped (the persisted commit index is only a lower bound).
 */
export class PersisterStorage implements LogStorage {
  private state: StorageState;
  private readonly encoded = new EncodedEntries();

  constructor(private readonly persister: Persister) {
    this.state = PersisterStorage.read(persister);
    this.encoded.replaceFrom(0, this.state.entries);
  }

  /** Decodes what a persister holds; an empty persister is a fresh node. */
  static read(persister: Persister): StorageState {
    const raw = persister.readRaftState();
    if (raw.length === 0) return EMPTY_STATE;
    const [header, ...ents] = decodeAll(raw) as [Header, ...EncodedEntry[]];
    const [term, vote, commit, snapIndex, snapTerm, snapConf] = header;
    const meta: SnapshotMeta = snapConf === undefined ? { index: snapIndex, term: snapTerm } : { index: snapIndex, term: snapTerm, conf: snapConf };
    const entries: Entry[] = ents.map(([t, type, data], i) => ({ index: snapIndex + 1 + i, term: t, type: type as EntryType, data }));
    return {
      hardState: { term, vote, commit },
      snapshot: snapIndex > 0 ? { meta, data: persister.readSnapshot() } : null,
      entries,
    };
  }

  load(): Promise<StorageState> {
    return Promise.resolve(this.state);
  }

  write(update: StorageUpdate): Promise<void> {
    const newEntries = update.entries ?? [];
    const onlyCommit = !update.sync && update.snapshot === undefined && newEntries.length === 0;
    this.state = applyUpdate(this.state, update);
    const s = this.state;
    const base = s.snapshot?.meta.index ?? 0;
    if (update.snapshot !== undefined) {
      this.encoded.replaceFrom(0, s.entries); // rare, and the log behind a snapshot is short
    } else if (newEntries.length > 0) {
      this.encoded.replaceFrom(newEntries[0]!.index - base - 1, newEntries);
    }
    if (onlyCommit) return Promise.resolve();
    const header: Header = [s.hardState.term, s.hardState.vote, s.hardState.commit, base, s.snapshot?.meta.term ?? 0];
    const conf = s.snapshot?.meta.conf;
    if (conf !== undefined) header.push(conf);
    const blob = Buffer.concat([encode(header), this.encoded.bytes()]);
    this.persister.save(blob, s.snapshot?.data ?? null);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
