import type { HistoryOp } from '../check/history.js';
import type { Session } from '../kv/commands.js';
import type { Consistency, KvService } from '../kv/service.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import type { SimObserver } from './observe.js';
import { RetryingCaller, type CallResult } from './retry.js';

export { NodeDownError, type CallResult } from './retry.js';

/** How a simulated client reaches the simulated servers. */
export interface ClientEnv {
  readonly clock: Clock;
  /** The nodes a client may send to now (the members; it changes as nodes are added and removed). */
  nodeIds(): readonly number[];
  /** Sends `fn` to node `node` as a request, with the network's delays and losses; `lost` after `timeoutMs`. */
  call<T>(node: number, fn: (kv: KvService) => Promise<T>, timeoutMs: number): Promise<CallResult<T>>;
  readonly history: HistoryOp[];
  readonly trace: ((line: string) => void) | undefined;
  /** Told of each operation's invocation and return (src/sim/observe.ts). */
  readonly observer?: SimObserver | undefined;
  /** How reads are served (default linearizable, by ReadIndex). */
  readonly readConsistency?: Consistency;
  /** Each read goes first to a node drawn at random, not to the one that answered last: old leaders get reads too. */
  readonly spreadReads?: boolean;
}

/** One client operation, before it is sent. */
type Op =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'put' | 'append'; readonly key: string; readonly value: string }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string };

/**
 * A simulated client: issues operations one at a time, each retried (with
 * the same session sequence number, so it applies at most once) across
 * nodes until it gets an answer, and records each as the linearizability
 * checker wants it: called at its first attempt, returned at its answer.
 */
export class SimClient {
  private seq = 0;
  private readonly caller: RetryingCaller<KvService>;
  private count = 0;
  /** Values this client last saw per key: its cas guesses. */
  private readonly seen = new Map<string, string | null>();
  /** Operations issued and not yet answered. */
  pending = 0;

  constructor(
    readonly name: string,
    private readonly env: ClientEnv,
    private readonly random: Random,
    private readonly keys: readonly string[],
  ) {
    this.caller = new RetryingCaller(name, env, random);
  }

  /** Attempts that were retried. */
  get retries(): number {
    return this.caller.retries;
  }

  /** Runs `quota` random operations with think times of mean `thinkMs`, stopping early once `stop()` says so. */
  async run(quota: number, thinkMs: number, stop: () => boolean): Promise<void> {
    for (let i = 0; i < quota && !stop(); i++) {
      await this.env.clock.sleep(this.random.float() * 2 * thinkMs);
      if (stop()) return;
      await this.perform(this.nextOp());
    }
  }

  private nextOp(): Op {
    const key = this.keys[this.random.int(this.keys.length)]!;
    const value = `${this.name}.${++this.count}`;
    const x = this.random.float();
    if (x < 0.3) return { op: 'get', key };
    if (x < 0.5) return { op: 'put', key, value };
    if (x < 0.75) return { op: 'append', key, value };
    if (x < 0.8) return { op: 'delete', key };
    const expected = this.random.float() < 0.8 ? (this.seen.get(key) ?? null) : `${this.name}.${this.random.int(this.count + 1)}`;
    return { op: 'cas', key, expected, value };
  }

  /** Performs one operation to completion and records it; returns the log index a write applied at. */
  async perform(op: Op): Promise<number> {
    const session: Session | undefined = op.op === 'get' ? undefined : { clientId: this.name, seq: ++this.seq };
    const call = this.env.clock.now();
    this.pending++;
    this.env.trace?.(`client ${this.name} call ${describe(op)}${session ? ` seq ${session.seq}` : ''}`);
    const value = op.op === 'get' || op.op === 'delete' ? undefined : op.value;
    this.env.observer?.({ kind: 'client', t: call, phase: 'invoke', client: this.name, op: op.op, key: op.key, value, result: undefined, status: 'pending', node: null, callT: call });
    if (op.op === 'get' && this.env.spreadReads === true) this.caller.guessAtRandom();
    const r = await this.caller.send(`${op.op}${session ? ` seq ${session.seq}` : ''}`, (kv) => send(kv, op, session, this.env.readConsistency));
    // No error is final for these operations: the caller retries until some node answers.
    if (!r.ok) throw r.error;
    const ret = this.env.clock.now();
    this.pending--;
    this.env.history.push({ clientId: this.name, ...historyFields(op, r.value.output), call, return: ret, status: 'ok' });
    if (op.op === 'get') this.seen.set(op.key, r.value.output as string | null);
    else if (op.op === 'put' || op.op === 'append') this.seen.delete(op.key);
    else if (op.op === 'cas') this.seen.set(op.key, r.value.current ?? null);
    else this.seen.set(op.key, null);
    this.env.trace?.(`client ${this.name} ok ${describe(op)} -> ${JSON.stringify(r.value.output)} at node ${r.node}`);
    this.env.observer?.({ kind: 'client', t: ret, phase: 'return', client: this.name, op: op.op, key: op.key, value, result: JSON.stringify(r.value.output) ?? 'undefined', status: 'ok', node: r.node, callT: call });
    return r.value.revision;
  }
}


interface Answer {
  readonly output: string | boolean | null | undefined;
  readonly revision: number;
  readonly current?: string | null;
}

async function send(kv: KvService, op: Op, session: Session | undefined, consistency: Consistency | undefined): Promise<Answer> {
  switch (op.op) {
    case 'get': {
      const item = await kv.get(op.key, consistency);
      return { output: item?.value ?? null, revision: 0 };
    }
    case 'put':
      return { output: undefined, revision: (await kv.put(op.key, op.value, session)).revision };
    case 'append':
      return { output: undefined, revision: (await kv.append(op.key, op.value, session)).revision };
    case 'delete': {
      const r = await kv.delete(op.key, session);
      return { output: r.deleted, revision: r.revision };
    }
    case 'cas': {
      const r = await kv.cas(op.key, op.expected, op.value, session);
      return { output: r.swapped, revision: r.revision, current: r.current };
    }
  }
}

function historyFields(op: Op, output: Answer['output']): Omit<HistoryOp, 'clientId' | 'call' | 'return' | 'status'> {
  switch (op.op) {
    case 'get':
      return { op: 'get', key: op.key, output };
    case 'put':
    case 'append':
      return { op: op.op, key: op.key, value: op.value };
    case 'delete':
      return { op: 'delete', key: op.key, output };
    case 'cas':
      return { op: 'cas', key: op.key, expected: op.expected, value: op.value, output };
  }
}

function describe(op: Op): string {
  switch (op.op) {
    case 'get':
    case 'delete':
      return `${op.op}(${op.key})`;
    case 'put':
    case 'append':
      return `${op.op}(${op.key}, ${op.value})`;
    case 'cas':
      return `cas(${op.key}, ${JSON.stringify(op.expected)}, ${op.value})`;
  }
}
