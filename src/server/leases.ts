/**
 * The node's lease parts: the {@link LeaseService} the API serves, and the
 * leader's expiry timer ({@link LeaseExpirer}) ticking on this process's
 * monotonic clock. The timer does nothing on a follower.
 */
import { performance } from 'node:perf_hooks';
import { LeaseExpirer } from '../kv/lease-expirer.js';
import { LeaseService } from '../kv/lease-service.js';
import { DEFAULT_MAX_LEASES, type LeaseCommand } from '../kv/leases.js';
import type { KvResult } from '../kv/commands.js';
import type { KvStateMachine } from '../kv/state-machine.js';
import type { RaftNode } from '../node/raft-node.js';
import type { Replica } from '../node/replica.js';
import { encode } from '../util/codec.js';
import type { Logger } from '../util/log.js';

/** How often the leader checks the leases' deadlines (ms): expiry is up to this late, never early. */
export const LEASE_TICK_MS = 100;

export interface ServerLeases {
  readonly service: LeaseService;
  readonly expirer: LeaseExpirer;
  stop(): void;
}

export function startLeaseTimer(o: { node: RaftNode; replica: Replica<KvResult>; sm: KvStateMachine; logger: Logger; leaderExtensionMs: number; maxLeases?: number | undefined }): ServerLeases {
  const expirer = new LeaseExpirer({
    leases: () => o.sm.leaseStates(),
    leadership: () => ({ leader: o.node.isLeader(), term: o.node.term }),
    proposeExpiry: async (id, generation) => {
      const cmd: LeaseCommand = { kind: 'lease-expire', id, generation, time: Date.now() };
      const { result } = await o.replica.propose(encode(cmd));
      if (result.ok && result.op === 'lease' && result.applied) o.logger.info({ lease: id, revision: result.revision, deletedKeys: result.deletedKeys }, 'lease expired');
    },
    now: () => performance.now(),
    leaderExtensionMs: o.leaderExtensionMs,
  });
  const timer = setInterval(() => expirer.tick(), LEASE_TICK_MS);
  timer.unref();
  const service = new LeaseService(o.replica, o.sm, (id) => expirer.remainingMs(id), Date.now, o.maxLeases ?? DEFAULT_MAX_LEASES);
  return { service, expirer, stop: () => clearInterval(timer) };
}
