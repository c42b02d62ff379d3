export * from './types.js';
export { applyUpdate } from './apply-update.js';
export { MemoryStorage } from './memory.js';
export { FileStorage, StorageRecoveryError, type FileStorageOptions, type FileStorageStats, type StorageLogger } from './file-storage.js';
export { NodeFileSystem, LockedError, type FileSystem, type AppendHandle, type WriteHandle, type DirLock } from './fs.js';
export { WalCorruptionError } from './wal/record.js';
