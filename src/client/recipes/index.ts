/**
 * `tsraft/recipes`: a distributed lock and leader election built on the
 * client's leases, transactions and watch, with fencing by revision
 * (docs/RECIPES.md).
 */
export { LeaseSession, LeaseLostError, type LeaseLostReason, type LeaseSessionOptions } from './session.js';
export { DistributedLock, fenceCompare, guardedPut, guardedTxn, type AcquireOptions, type LockHandle, type LockOptions } from './lock.js';
export { Election, DeposedError, type ElectionOptions, type Leader, type Leadership } from './election.js';
export type { HeldKey, QueueOptions } from './hold.js';
