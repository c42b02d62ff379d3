import { FileStorage, type StorageLogger } from '../storage/file-storage.js';
import { MemoryStorage } from '../storage/memory.js';
import type { LogStorage, StorageState, StorageUpdate } from '../storage/types.js';
import { encode } from '../util/codec.js';

/** Size of a state as the lab's persister would hold it (see PersisterStorage): a header, then each entry. */
export function encodedStateSize(s: StorageState): number {
  let n = encode([s.hardState.term, s.hardState.vote, s.hardState.commit, s.snapshot?.meta.index ?? 0, s.snapshot?.meta.term ?? 0]).length;
  for (const e of s.entries) n += encode([e.term, e.type, e.data]).length;
  return n;
}

/** Options of a {@link FilePersister}. */
export interface FilePersisterOptions {
  /** Wraps every real disk operation (the virtual-time scheduler stops the clock meanwhile). */
  readonly track?: <T>(p: Promise<T>) => Promise<T>;
  /** WAL segment size. Default 1 MiB: a lab server's log is small, and every restart reads its newest (preallocated) segment whole. */
  readonly segmentBytes?: number;
  readonly logger?: StorageLogger;
}

/**
 * The lab's persister on real files: one server's data directory, holding a
 * {@link FileStorage} (write-ahead log and snapshot files). A crash stops the
 * server and closes its storage; a restart opens the same directory, so the
 * restarted server recovers from exactly what reached the disk. It keeps a
 * copy of what storage acknowledged, to report sizes the way the lab's
 * persister does and to check that recovery returns exactly that.
 */
export class FilePersister {
  private closing: Promise<void> = Promise.resolve();
  private durable: MemoryStorage | null = null;
  private readonly track: <T>(p: Promise<T>) => Promise<T>;

  constructor(
    readonly dir: string,
    private readonly opts: FilePersisterOptions = {},
  ) {
    this.track = opts.track ?? ((p) => p);
  }

  /**
   * Opens the directory (once the previous incarnation has closed it) and
   * recovers it. Fails if recovery returns anything but what was acknowledged.
   */
  async acquire(): Promise<{ storage: LogStorage; state: StorageState; release: () => void }> {
    await this.closing;
    const fs = await this.track(FileStorage.open(this.dir, { segmentBytes: this.opts.segmentBytes ?? 1 << 20, ...(this.opts.logger !== undefined && { logger: this.opts.logger }) }));
    const state = await fs.load();
    if (this.durable !== null) {
      const want = this.durable.snapshotState();
      if (!sameState(want, state)) {
        await fs.close();
        throw new Error(`${this.dir}: recovery returned a state other than the one acknowledged before the restart`);
      }
    }
    const durable = new MemoryStorage(state);
    this.durable = durable;
    const storage: LogStorage = {
      load: () => fs.load(),
      write: (u: StorageUpdate) => this.track(fs.write(u)).then(() => durable.write(u)),
      close: () => fs.close(),
    };
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.closing = this.track(fs.close()).catch(() => {});
    };
    return { storage, state, release };
  }

  /** Resolves once the current holder has closed the directory. */
  closed(): Promise<void> {
    return this.closing;
  }

  /** A crash keeps the directory: the "copy" the tester makes is the same persister. */
  copy(): FilePersister {
    return this;
  }

  raftStateSize(): number {
    return this.durable === null ? 0 : encodedStateSize(this.durable.snapshotState());
  }

  snapshotSize(): number {
    return this.durable?.snapshotState().snapshot?.data.length ?? 0;
  }

  readSnapshot(): Uint8Array {
    return this.durable?.snapshotState().snapshot?.data.slice() ?? new Uint8Array(0);
  }
}

function sameState(a: StorageState, b: StorageState): boolean {
  const key = (s: StorageState): string =>
    JSON.stringify({
      hs: s.hardState,
      snap: s.snapshot === null ? null : [s.snapshot.meta, Buffer.from(s.snapshot.data).toString('base64')],
      ents: s.entries.map((e) => [e.index, e.term, e.type, Buffer.from(e.data).toString('base64')]),
    });
  return key(a) === key(b);
}
