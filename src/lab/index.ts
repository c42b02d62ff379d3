/**
 * The 6.824-shaped face of tsraft: `make` and the Persister a lab solution
 * would have, and the lab's tester config with its helpers.
 */
export { make, LAB_TIMING, type ApplyMsg, type LabRaft, type MakeOptions } from './raft.js';
export { Persister } from './persister.js';
export { sleep, now, random, randomInt, RealClockError, currentRuntime, type LabRuntime } from './runtime.js';
export { loadImplementation, raftServiceOf, todo, NotImplementedError, ImplementationError, type MakeRaft, type RaftInstance, type StartKvServer, type KvServerInstance, type LabImplementation } from './implementation.js';
export { PersisterStorage } from './persister-storage.js';
export { FilePersister, encodedStateSize, type FilePersisterOptions } from './file-persister.js';
export { Config, LabFailure, makeConfig, ELECTION_TIMEOUT, SNAPSHOT_INTERVAL, type ConfigOptions, type ConfigRuntime, type TestStats } from './config.js';
export { LabHarness, type HarnessRuntime } from './harness.js';
export { KvConfig, OpLog, KV_ELECTION_TIMEOUT, KV_NET_LATENCY } from './kvconfig.js';
export { startKVServer, Clerk, type LabKvServer } from './kvraft.js';
export { runLabTest, selectTests, type LabEnv, type LabTest, type RunOptions, type TestResult } from './runner.js';
export { labMain, labWorker, isLabWorker, parseLabArgs, replayCommand, UsageError } from './cli.js';
export { Channel } from '../util/channel.js';
export { SimNetwork, ClientEnd, RpcServer } from './labrpc.js';
export { raftTests, raftExtensionTests } from './suite/raft.js';
export { kvTests } from './suite/kv.js';
