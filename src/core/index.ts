export * from './types.js';
export { RaftInvariantError, invariant } from './errors.js';
export { RaftLog, entrySize } from './log.js';
export { Inflights } from './inflights.js';
export { Progress, type ProgressState } from './progress.js';
export { MajorityConfig, JointConfig, type VoteResult } from './quorum.js';
export * from './membership.js';
export { Raft, type RaftInitialState, type Ready, type ReadyOptions } from './raft.js';
export * from './config.js';
