export * from './commands.js';
export { KvStateMachine, type KvItem, type KvRecord, type KvStateMachineOptions } from './state-machine.js';
export { KvService, type Consistency } from './service.js';
export * from './alarms.js';
