/** tsraft: Raft consensus for Node.js. */
export * from './core/index.js';
export * from './storage/index.js';
export { RaftNode, type RaftNodeOptions, type RaftNodeTiming, type Transport, type ApplyItem, type NodeStatus } from './node/raft-node.js';
export { SeededRandom, entropySeed, type Random } from './util/random.js';
export { RealClock, type Clock, type Timer } from './util/clock.js';
export { Channel } from './util/channel.js';
export { NotLeaderError, ReadIndexError, ProposalUnknownError, NodeStoppedError } from './node/errors.js';
export { Replica, type StateMachine, type ApplyMeta, type ReplicaOptions } from './node/replica.js';
export { startNode, type NodeSetup, type ReplicatedNodeSetup, type StartedNode, type StartedReplica } from './node/builder.js';
export * from './kv/index.js';
export { TsraftServer, type ServerOptions } from './server/server.js';
export { type ServerConfig, type Member, type HostPort, ConfigError, nodeIdOf, parsePeers, parseHostPort } from './server/config.js';
export { TcpTransport, type TcpTransportOptions, type PeerAddress, type PeerStats } from './transport/tcp.js';
export { createLogger, silentLogger, type Logger } from './util/log.js';
