export { Scheduler, SimulationDeadlock, type RunOptions } from './scheduler.js';
export { SimDisk, SimCrashError, type SimDiskOptions, type CrashReport } from './disk.js';
