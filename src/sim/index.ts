export { Scheduler, SimulationDeadlock, type RunOptions } from './scheduler.js';
export { SimNetwork, ClientEnd, RpcServer, type RpcMethod, type SimNetworkOptions, type NetEvent } from './network.js';
export { SimDisk, SimCrashError, type SimDiskOptions, type CrashReport } from './disk.js';
