/**
 * tsraft: Raft consensus for Node.js.
 *
 * The package root is the facade a library user needs: configuration, the
 * state machine and storage contracts with their implementations, a node and
 * its errors, the key-value store, its server and its client. Internals stay
 * under their subpaths: `tsraft/core` (the pure Raft state machine: `Raft`,
 * `RaftLog`, `Progress`, `Inflights`, quorums, every message type),
 * `tsraft/transport` (framing, validation), `tsraft/sim`, `tsraft/lab`,
 * `tsraft/check`, `tsraft/kv`, `tsraft/client`, `tsraft/recipes` (a lock and
 * leader election on leases and transactions, with fencing tokens).
 */

// Configuration: every core and driver option, its default, unit and range, and the profiles.
export * from './core/config.js';

// The data a state machine and a storage see.
export { EntryType, Role, type NodeId, type Entry, type HardState, type Snapshot, type SnapshotMeta, type SoftState, type ReadState, type Message, type ConfState, type ConfChange, type ConfChangeStep } from './core/types.js';

// Storage: the contract and its implementations.
export * from './storage/index.js';

// State machines: the contract, and the Replica that applies a log to one.
export { Replica, type StateMachine, type ApplyMeta, type ReplicaOptions } from './node/replica.js';

// A node: the driver of the core (timers, storage, transport, applies).
export { RaftNode, type RaftNodeOptions, type RaftNodeTiming, type Transport, type ApplyItem, type NodeStatus } from './node/raft-node.js';
export { TcpTransport, type TcpTransportOptions, type PeerAddress, type PeerStats } from './transport/tcp.js';
// The builder: one call that recovers storage and starts a node with its replica.
export { startNode, type NodeSetup, type ReplicatedNodeSetup, type StartedNode, type StartedReplica } from './node/builder.js';

// Errors a caller can meet.
export { NotLeaderError, ReadIndexError, ProposalUnknownError, NodeStoppedError } from './node/errors.js';
export { RaftInvariantError } from './core/errors.js';
export { ConfChangeError, EMPTY_CONF, bootstrapConf, isJoint, isMember, isVoter, members, type ConfEntry } from './core/membership.js';

// The replicated key-value store, its server and its client.
export * from './kv/index.js';
export { TsraftServer, type ServerOptions } from './server/server.js';
export { type ServerConfig, type Member, type HostPort, nodeIdOf, parsePeers, parseHostPort } from './server/config.js';
// The client's KvItem has the same shape as the store's; import it from tsraft/client.
export { KvClient, KvClientError, UnavailableError, type KvClientOptions } from './client/index.js';

// Clocks, randomness and logging a node is given.
export { SeededRandom, entropySeed, type Random } from './util/random.js';
export { RealClock, type Clock, type Timer } from './util/clock.js';
export { Channel } from './util/channel.js';
export { createLogger, silentLogger, type Logger } from './util/log.js';
