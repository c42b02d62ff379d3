export * from './types.js';
export { applyUpdate } from './apply-update.js';
export { MemoryStorage } from './memory.js';
