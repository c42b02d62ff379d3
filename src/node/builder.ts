import { resolveNodeOptions, type NodeOptions, type ProfileName, type RaftObserver } from '../core/config.js';
import type { NodeId } from '../core/types.js';
import type { LogStorage, StorageState } from '../storage/types.js';
import type { CanaryName } from '../util/canary.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { RaftNode, type Transport } from './raft-node.js';
import { Replica, type ReplicaOptions, type StateMachine } from './replica.js';

/** Everything {@link startNode} assembles a node from. */
export interface NodeSetup {
  /** This node's id; one of `voters`. */
  readonly id: NodeId;
  /** Every voting member, this node included. */
  readonly voters: readonly NodeId[];
  /** The named set of options to start from (src/core/config.ts, `PROFILES`). */
  readonly profile: ProfileName;
  /** Options that differ from the profile's; undefined values are ignored. */
  readonly options?: Partial<NodeOptions> | undefined;
  /** The node's durable state; {@link startNode} recovers it with `load()`. The caller closes it. */
  readonly storage: LogStorage;
  /** Carries the node's messages to its peers. */
  readonly transport: Transport;
  readonly clock: Clock;
  /** The node's only source of randomness (election timeouts). */
  readonly random: Random;
  /** Synchronous callbacks for tests and metrics; must not call back into the node. */
  readonly observer?: RaftObserver | undefined;
  /** Called once if the node hits an error it cannot continue from (storage failure, broken invariant). */
  readonly onFatal?: ((err: unknown) => void) | undefined;
  /**
   * Sees what storage recovered before anything is constructed. It may throw to
   * refuse the state: {@link startNode} then rejects with that error and starts nothing.
   */
  readonly onRecovered?: ((recovered: StorageState) => void) | undefined;
  /** A planted bug, for the simulator to prove its checks (see util/canary.ts). Never set otherwise. */
  readonly canary?: CanaryName | undefined;
}

/** A {@link NodeSetup} with a state machine for a {@link Replica} to drive. */
export interface ReplicatedNodeSetup<R> extends NodeSetup {
  readonly stateMachine: StateMachine<R>;
  /** The replica's options; its clock and canary are the node's. */
  readonly replica?: Omit<ReplicaOptions, 'clock' | 'canary'> | undefined;
}

/** A started node, without a state machine: its owner consumes `node.nextApplyBatch()`. */
export interface StartedNode {
  readonly node: RaftNode;
  /** What storage held at start; the node began from it. */
  readonly recovered: StorageState;
  /** The node's options: the profile's with the overrides, validated. */
  readonly options: NodeOptions;
}

/** A started node with its started {@link Replica}. */
export interface StartedReplica<R> extends StartedNode {
  readonly replica: Replica<R>;
}

/**
 * Starts a Raft node: the one place a {@link RaftNode} (and its
 * {@link Replica}) is put together. In order, it
 *
 * 1. resolves the options: the profile's, overridden by `options`, validated
 *    (a `ConfigError` names the option at fault; nothing is touched then);
 * 2. recovers the storage (`storage.load()`, the only await) and shows the result
 *    to `onRecovered`;
 * 3. constructs the node, which starts ticking at once;
 * 4. with a `stateMachine`: constructs a {@link Replica}, restores the state
 *    machine from the recovered snapshot, and starts applying.
 *
 * Steps 3 and 4 run in one synchronous stretch, so nothing can reach the node
 * before its replica is applying. Without a state machine the caller drains
 * the node's apply stream itself (`node.nextApplyBatch()`), as the 6.824 lab's
 * Raft does. Stopping is the caller's: `replica.stop()`, `node.stop()`, then
 * `storage.close()`.
 *
 * @example
 * ```ts
 * const { node, replica } = await startNode({
 *   id: 1, voters: [1, 2, 3],
 *   profile: 'production', options: { electionTicks: 50 },
 *   storage: await FileStorage.open('/var/lib/app/raft'),
 *   transport, clock: new RealClock(), random: new SeededRandom(entropySeed()),
 *   stateMachine: new Counter(), replica: { maxRaftState: 1 << 20 },
 * });
 * const { result } = await replica.propose(command);
 * ```
 */
export function startNode<R>(setup: ReplicatedNodeSetup<R>): Promise<StartedReplica<R>>;
export function startNode(setup: NodeSetup): Promise<StartedNode>;
export async function startNode<R>(setup: NodeSetup | ReplicatedNodeSetup<R>): Promise<StartedNode | StartedReplica<R>> {
  const options = resolveNodeOptions(setup.profile, setup.options);
  const recovered = await setup.storage.load();
  setup.onRecovered?.(recovered);
  const node = new RaftNode({
    ...options,
    id: setup.id,
    voters: setup.voters,
    storage: setup.storage,
    initialState: recovered,
    clock: setup.clock,
    random: setup.random,
    transport: setup.transport,
    observer: setup.observer,
    onFatal: setup.onFatal,
    canary: setup.canary,
  });
  if (!('stateMachine' in setup)) return { node, recovered, options };
  const replica = new Replica<R>(node, setup.stateMachine, { ...setup.replica, clock: setup.clock, canary: setup.canary });
  replica.start(recovered.snapshot);
  return { node, replica, recovered, options };
}
