import type { CanaryName } from '../util/canary.js';
import type { Random } from '../util/random.js';
import type { NodeId, Role } from './types.js';

/**
 * The one home of tsraft's configuration: every option of the core and of its
 * driver, with its default, unit and allowed range; the named timing profiles;
 * and validation that names the option a user got wrong.
 */

/** A configuration that cannot work, as a user gave it (not a bug in tsraft): names the option and what is allowed. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    message: string,
    /** The option at fault, when one is. */
    readonly option?: string,
  ) {
    super(message);
  }
}

/** Hooks that observe the core without influencing it. */
export interface RaftObserver {
  onRoleChange?(info: { id: NodeId; role: Role; term: number; leader: NodeId | null }): void;
  /** On a leader: a follower's log ends below what it had acknowledged (`match`); it is being caught up again. */
  onFollowerLostEntries?(info: { id: NodeId; match: number; lastIndex: number }): void;
}

/** The core's tunable options. Times are in ticks; every one has a default in {@link RAFT_DEFAULTS}. */
export interface RaftOptions {
  /** Election timeout T (ticks): a follower campaigns after a random timeout in [T, 2T). */
  readonly electionTicks: number;
  /** A leader sends heartbeats every this many ticks; must be below `electionTicks`. */
  readonly heartbeatTicks: number;
  /** Appends in flight per follower before the leader waits for acknowledgements. */
  readonly maxInflight: number;
  /** Most entries in one append. */
  readonly maxEntriesPerAppend: number;
  /** Approximate byte limit of one append (at least one entry is always sent). */
  readonly maxBytesPerAppend: number;
  /** Largest InstallSnapshot chunk, in bytes. */
  readonly maxSnapshotChunkBytes: number;
  /**
   * Append an empty entry on election so entries of earlier terms commit
   * promptly and reads can be served (dissertation §6.4). The 6.824 lab
   * expects the first command at index 1, so its profile turns this off.
   */
  readonly noopOnElection: boolean;
  /**
   * Pre-vote (dissertation §9.6): before campaigning, ask whether a majority
   * would vote, without raising any term, so a node that was cut off cannot
   * disrupt the cluster when it returns.
   */
  readonly preVote: boolean;
  /**
   * Check quorum: a leader that has not heard from a majority for an election
   * timeout steps down, and a follower that has heard from a leader within an
   * election timeout ignores vote requests.
   */
  readonly checkQuorum: boolean;
  /** A learner is promoted to voter only within this many entries of the leader's last index. */
  readonly maxLearnerLag: number;
  /**
   * Lease reads (dissertation §6.4.1): a leader answers a read at its commit
   * index without a heartbeat round while a round a quorum acknowledged was
   * sent less than a lease ago (see core/lease.ts for the bound and why it is
   * safe). Needs `checkQuorum`; every voter must run with it on (a node that
   * just started then refuses votes for one election timeout).
   */
  readonly leaseReads: boolean;
  /** The most any node's tick clock may run fast or slow, in parts per million of real time; it shortens the lease. */
  readonly maxClockDriftPpm: number;
}

/** Configuration of one Raft state machine: who it is, its randomness, and any {@link RaftOptions}. */
export interface RaftConfig extends Partial<RaftOptions> {
  /** This node's id; must be one of `voters`. */
  readonly id: NodeId;
  /** Every voting member, this node included. */
  readonly voters: readonly NodeId[];
  /** The only source of randomness the core uses. */
  readonly random: Random;
  /** Synchronous callbacks for tests and metrics; must not call back into the core. */
  readonly observer?: RaftObserver | undefined;
  /** A planted bug, for the simulator to prove its checks (see util/canary.ts). Never set otherwise. */
  readonly canary?: CanaryName | undefined;
}

/** The driver's options ({@link RaftNode}) beyond the core's. */
export interface DriverOptions {
  /** Milliseconds per core tick. */
  readonly tickMs: number;
  /** Committed entries buffered for the state machine before the core holds the rest back. */
  readonly applyBuffer: number;
  /** How long a read index may take before it fails (ms); 0 means two maximum election timeouts. */
  readonly readTimeoutMs: number;
}

/** Every option of a node: the core's and the driver's. */
export interface NodeOptions extends RaftOptions, DriverOptions {}

interface Spec {
  /** What it is, with its unit. */
  readonly doc: string;
  readonly kind: 'int' | 'bool';
  readonly min?: number;
  readonly max?: number;
}

const MiB = 1 << 20;

/** Every option: meaning, unit and allowed range. Docs and validation read from here. */
export const OPTION_SPECS: { readonly [K in keyof NodeOptions]: Spec } = {
  tickMs: { doc: 'milliseconds per tick', kind: 'int', min: 1, max: 10_000 },
  electionTicks: { doc: 'election timeout T in ticks (randomized in [T, 2T))', kind: 'int', min: 2, max: 1_000_000 },
  heartbeatTicks: { doc: 'heartbeat interval in ticks (below electionTicks)', kind: 'int', min: 1, max: 1_000_000 },
  maxInflight: { doc: 'appends in flight per follower', kind: 'int', min: 1, max: 65_536 },
  maxEntriesPerAppend: { doc: 'entries per append', kind: 'int', min: 1, max: 1_000_000 },
  maxBytesPerAppend: { doc: 'bytes per append (approximate; one entry always goes)', kind: 'int', min: 1, max: 256 * MiB },
  maxSnapshotChunkBytes: { doc: 'bytes per InstallSnapshot chunk', kind: 'int', min: 1, max: 256 * MiB },
  noopOnElection: { doc: 'append a no-op entry on election', kind: 'bool' },
  preVote: { doc: 'pre-vote before campaigning', kind: 'bool' },
  checkQuorum: { doc: 'leaders step down without a live majority; followers with a live leader refuse votes', kind: 'bool' },
  maxLearnerLag: { doc: 'entries a learner may lag behind the leader and still be promoted', kind: 'int', min: 0, max: 1_000_000_000 },
  leaseReads: { doc: 'serve reads from a leader lease (needs checkQuorum and a bounded clock drift)', kind: 'bool' },
  maxClockDriftPpm: { doc: 'bound on any clock\'s drift from real time, in parts per million (shortens the lease)', kind: 'int', min: 0, max: 100_000 },
  applyBuffer: { doc: 'committed entries buffered for the state machine', kind: 'int', min: 1, max: 1_000_000 },
  readTimeoutMs: { doc: 'read-index timeout in ms (0: two maximum election timeouts)', kind: 'int', min: 0, max: 3_600_000 },
};

/** The core's defaults, used for any option a {@link RaftConfig} leaves out. */
export const RAFT_DEFAULTS: RaftOptions = {
  electionTicks: 10,
  heartbeatTicks: 1,
  maxInflight: 64,
  maxEntriesPerAppend: 512,
  maxBytesPerAppend: MiB,
  maxSnapshotChunkBytes: MiB,
  noopOnElection: true,
  preVote: false,
  checkQuorum: false,
  maxLearnerLag: 1000,
  leaseReads: false,
  maxClockDriftPpm: 10_000,
};

/** A named set of options for one kind of deployment. */
export type ProfileName = 'production' | 'lab' | 'simulation';

/**
 * Named profiles:
 * - `production`: etcd's timing (heartbeat 100 ms, election 1 s), pre-vote and
 *   check quorum on, so a node that was cut off cannot disrupt the cluster when
 *   it returns and a leader without a majority steps down;
 * - `lab`: the 6.824 lab's limits (at most ten heartbeats a second, a new
 *   leader well within 5 s: heartbeat 100 ms, election 300–600 ms), no election
 *   no-op (the lab expects the first command at index 1);
 * - `simulation`: short timeouts (election 200–400 ms, heartbeat 40 ms) so a
 *   simulated run sees many elections; the simulator varies the rest per seed.
 */
export const PROFILES: { readonly [P in ProfileName]: NodeOptions } = {
  production: { ...RAFT_DEFAULTS, tickMs: 10, heartbeatTicks: 10, electionTicks: 100, preVote: true, checkQuorum: true, maxInflight: 256, applyBuffer: 256, readTimeoutMs: 0 },
  lab: { ...RAFT_DEFAULTS, tickMs: 10, heartbeatTicks: 10, electionTicks: 30, noopOnElection: false, applyBuffer: 256, readTimeoutMs: 0 },
  simulation: { ...RAFT_DEFAULTS, tickMs: 10, heartbeatTicks: 4, electionTicks: 20, applyBuffer: 256, readTimeoutMs: 0 },
};

/** Is `s` the name of a profile? */
export function isProfileName(s: string): s is ProfileName {
  return Object.hasOwn(PROFILES, s);
}

/**
 * Checks every option that is set against {@link OPTION_SPECS}, and the
 * relations between them. Throws a {@link ConfigError} naming the first option
 * that is out of range.
 */
export function validateOptions(o: Partial<NodeOptions>): void {
  for (const key of Object.keys(o) as (keyof NodeOptions)[]) {
    const spec = OPTION_SPECS[key];
    const v = o[key];
    if (spec === undefined || v === undefined) continue;
    if (spec.kind === 'bool') {
      if (typeof v !== 'boolean') throw new ConfigError(`${key} must be true or false (${spec.doc}), got ${String(v)}`, key);
      continue;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < spec.min! || v > spec.max!) {
      throw new ConfigError(`${key} must be an integer from ${spec.min} to ${spec.max} (${spec.doc}), got ${String(v)}`, key);
    }
  }
  if (o.electionTicks !== undefined && o.heartbeatTicks !== undefined && o.heartbeatTicks >= o.electionTicks) {
    throw new ConfigError(`heartbeatTicks (${o.heartbeatTicks}) must be below electionTicks (${o.electionTicks}): followers would time out between heartbeats`, 'heartbeatTicks');
  }
  if (o.leaseReads === true && o.checkQuorum !== true) {
    throw new ConfigError('leaseReads requires checkQuorum: without it a follower may vote for another leader while this one still counts on its lease', 'leaseReads');
  }
}

/** The core's options with defaults filled in, validated. */
export function resolveRaftOptions(cfg: Partial<RaftOptions>): RaftOptions {
  const picked: Partial<RaftOptions> = {};
  for (const key of Object.keys(RAFT_DEFAULTS) as (keyof RaftOptions)[]) {
    const v = cfg[key];
    if (v !== undefined) (picked as Record<string, unknown>)[key] = v;
  }
  const o = { ...RAFT_DEFAULTS, ...picked };
  validateOptions(o);
  return o;
}

/** A profile's options, overridden by `overrides` (undefined values ignored), validated. */
export function resolveNodeOptions(profile: ProfileName, overrides: Partial<NodeOptions> = {}): NodeOptions {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as Partial<NodeOptions>;
  const o: NodeOptions = { ...PROFILES[profile], ...defined };
  validateOptions(o);
  return o;
}

/** The read-index timeout a node uses: the configured one, or two maximum election timeouts. */
export function effectiveReadTimeoutMs(o: Pick<NodeOptions, 'readTimeoutMs' | 'electionTicks' | 'tickMs'>): number {
  return o.readTimeoutMs > 0 ? o.readTimeoutMs : 4 * o.electionTicks * o.tickMs;
}
