import type { Channel } from '../util/channel.js';
import type { ClientEnd, RpcMethod } from './labrpc.js';
import type { ApplyMsg } from './raft.js';
import type { Persister } from './persister.js';
import { LabFailure } from './harness.js';

/**
 * A Raft server as the tester drives it: what the lab's `Make` returns.
 * Its RPC handlers are registered as service "Raft": either a `service`
 * record of methods, or, as Go's labrpc registers a struct's exported
 * methods, every method whose name starts with a capital letter
 * (`RequestVote(args)`, `AppendEntries(args)`, ...). A handler takes the
 * decoded arguments and returns the reply, or a promise of it.
 */
export interface RaftInstance {
  /** Starts agreement on `command` if this server is the leader; returns at once. */
  start(command: unknown): { index: number; term: number; isLeader: boolean };
  getState(): { term: number; isLeader: boolean };
  /** The service has a snapshot of everything up to and including `index`. */
  snapshot(index: number, snapshot: Uint8Array): void;
  /** Stops the server: it must no longer send, answer, or apply. */
  kill(): void;
  readonly service?: Record<string, RpcMethod>;
}

/**
 * The lab's `Make(peers, me, persister, applyCh)`: `peers[i].call('Raft.M', args)`
 * reaches server i (resolving with the reply, or null when there is none);
 * `persister` holds what this server's previous incarnation saved; committed
 * commands (and snapshots to adopt) go on `applyCh`, in order.
 */
export type MakeRaft = (peers: readonly ClientEnd[], me: number, persister: Persister, applyCh: Channel<ApplyMsg>) => RaftInstance;

/** A KV server as the kvraft tester drives it: what the lab's `StartKVServer` returns. */
export interface KvServerInstance {
  /** Its Raft, for the tester's leader checks. */
  readonly rf: { getState(): { term: number; isLeader: boolean } };
  /** Service "Raft" (the Raft's handlers) and service "KVServer" (`Get`, `PutAppend`). */
  readonly raftService: Record<string, RpcMethod>;
  readonly service: Record<string, RpcMethod>;
  kill(): void;
}

/** The lab's `StartKVServer(servers, me, persister, maxraftstate)`. */
export type StartKvServer = (servers: readonly ClientEnd[], me: number, persister: Persister, maxraftstate: number) => KvServerInstance;

/** An implementation under test: the Raft tests need `make`, the kvraft tests `startKVServer`. */
export interface LabImplementation {
  /** Where it came from, for messages (a module path). */
  readonly name: string;
  readonly make?: MakeRaft | undefined;
  readonly startKVServer?: StartKvServer | undefined;
}

/**
 * Thrown by a part of an implementation not written yet (`todo(...)`): the
 * tester reports its message alone, without a stack trace.
 */
export class NotImplementedError extends Error {
  override name = 'NotImplementedError';
}

/** Marks what is still to write: throws a {@link NotImplementedError} saying `what`. */
export function todo(what: string): never {
  throw new NotImplementedError(`not implemented yet: ${what}`);
}

/** How the tester shows an error thrown by the implementation under test. */
export function describeThrown(e: unknown): string {
  if (e instanceof NotImplementedError) return e.message;
  return e instanceof Error ? (e.stack ?? e.message) : String(e);
}

/**
 * RPC handlers of the implementation under test, each wrapped so that one
 * that throws reports `server S's Svc.Method handler threw: ...` through
 * `fail` and answers nothing, rather than rejecting inside the caller's code.
 */
export function guardHandlers(server: number, svc: string, methods: Record<string, RpcMethod>, fail: (err: Error) => void): Record<string, RpcMethod> {
  const out: Record<string, RpcMethod> = {};
  for (const [name, fn] of Object.entries(methods)) {
    out[name] = (async (args: never) => {
      try {
        return await (fn as (a: never) => unknown)(args);
      } catch (e) {
        fail(new LabFailure(`server ${server}'s ${svc}.${name} handler threw: ${describeThrown(e)}`));
        return null;
      }
    }) as RpcMethod;
  }
  return out;
}

/** Thrown when an implementation is not shaped as the tester needs, with what is wrong. */
export class ImplementationError extends Error {
  override name = 'ImplementationError';
}

const INSTANCE_METHODS = ['start', 'getState', 'snapshot', 'kill'] as const;

/** Checks what `make` returned and returns the RPC methods to register as service "Raft". */
export function raftServiceOf(rf: unknown, who: string): Record<string, RpcMethod> {
  if (rf === null || typeof rf !== 'object') throw new ImplementationError(`${who}: make() returned ${rf === null ? 'null' : typeof rf}, not an object with start, getState, snapshot and kill`);
  const obj = rf as Record<string, unknown>;
  const missing = INSTANCE_METHODS.filter((m) => typeof obj[m] !== 'function');
  if (missing.length > 0) throw new ImplementationError(`${who}: the object make() returned has no ${missing.join(', ')} method${missing.length > 1 ? 's' : ''}`);
  if (obj['service'] !== undefined) {
    const svc = obj['service'];
    if (svc === null || typeof svc !== 'object') throw new ImplementationError(`${who}: service must be a record of RPC methods`);
    return svc as Record<string, RpcMethod>;
  }
  const methods: Record<string, RpcMethod> = {};
  for (let p: object | null = obj; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const name of Object.getOwnPropertyNames(p)) {
      if (!/^[A-Z]/.test(name) || name in methods) continue;
      const fn = (obj as Record<string, unknown>)[name];
      if (typeof fn === 'function') methods[name] = (fn as (a: never) => unknown).bind(obj) as RpcMethod;
    }
  }
  if (Object.keys(methods).length === 0) {
    throw new ImplementationError(`${who}: the object make() returned has no RPC handlers: give it methods named like RequestVote(args) and AppendEntries(args) (a capital first letter registers them as Raft.RequestVote, ...)`);
  }
  return methods;
}

/**
 * Loads an implementation from a module that exports `make` and/or
 * `startKVServer` (a default export holding them is accepted too).
 */
export async function loadImplementation(specifier: string, name = specifier): Promise<LabImplementation> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (e) {
    throw new ImplementationError(`cannot load ${name}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const from = (k: string): unknown => mod[k] ?? (mod['default'] as Record<string, unknown> | undefined)?.[k];
  const make = from('make');
  const startKVServer = from('startKVServer');
  if (make !== undefined && typeof make !== 'function') throw new ImplementationError(`${name}: its export make is a ${typeof make}, not a function`);
  if (startKVServer !== undefined && typeof startKVServer !== 'function') throw new ImplementationError(`${name}: its export startKVServer is a ${typeof startKVServer}, not a function`);
  if (make === undefined && startKVServer === undefined) throw new ImplementationError(`${name} exports neither make (for the Raft tests) nor startKVServer (for the kvraft tests)`);
  return { name, make: make as MakeRaft | undefined, startKVServer: startKVServer as StartKvServer | undefined };
}
