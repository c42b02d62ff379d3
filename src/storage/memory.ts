import { applyUpdate } from './apply-update.js';
import { EMPTY_STATE, type LogStorage, type StorageState, type StorageUpdate } from './types.js';

/** {@link LogStorage} in memory: for tests, benchmarks and simulations that need no crash model. */
export class MemoryStorage implements LogStorage {
  private state: StorageState;
  writes = 0;

  constructor(initial: StorageState = EMPTY_STATE) {
    this.state = initial;
  }

  /** The current contents, synchronously. */
  snapshotState(): StorageState {
    return this.state;
  }

  load(): Promise<StorageState> {
    return Promise.resolve(this.state);
  }

  write(update: StorageUpdate): Promise<void> {
    this.state = applyUpdate(this.state, update);
    this.writes++;
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
