export { Scheduler, SimulationDeadlock, type RunOptions } from './scheduler.js';
export { SimDisk, SimCrashError, type SimDiskOptions, type CrashReport } from './disk.js';
export { Playground, PlaygroundError, encodeSession, decodeSession, describeAction, PLAYGROUND_SIZES, type PlaygroundAction, type PlaygroundSession, type PlaygroundSize, type TimedAction, type ClientTarget, type ClientOpView, type PlaygroundNodeView, type InFlightView, type DropView, type PlaygroundFailure, type PlaygroundOptions } from './playground.js';
