import { checkTxnHistory, type TxnHistoryOp } from '../check/txn.js';
import type { Session } from '../kv/commands.js';
import type { Consistency } from '../kv/service.js';
import type { TxnCompare, TxnOp } from '../kv/txn.js';
import type { Random } from '../util/random.js';
import { RetryingCaller, type NodeServices, type RetryEnv } from './retry.js';
import { SimCheckFailure } from './safety.js';

/** How a simulated transaction client reaches the nodes and where it records what it saw. */
export interface TxnEnv extends RetryEnv<NodeServices> {
  readonly history: TxnHistoryOp[];
  readonly trace: ((line: string) => void) | undefined;
  readonly readConsistency?: Consistency;
}

/** The keys the transaction clients share (their own key space: the per-key linearizability checker never sees them). */
export const TXN_KEYS = ['t0', 't1', 't2'] as const;

/**
 * A simulated client of `POST /v1/txn`: one operation at a time, each
 * retried with its session sequence number (exactly once), recorded for the
 * transaction checker (src/check/txn.ts). Its operations over the shared
 * keys: a compare-and-set of two keys guarded by the values it last saw (a
 * "transfer": both written or neither; reads in the failure branch), a read
 * of every key in one transaction (it would see a torn write), a blind write
 * of one key and delete of another, and plain gets and puts.
 */
export class TxnClient {
  private seq = 0;
  private count = 0;
  private readonly seen = new Map<string, string | null>();
  private readonly caller: RetryingCaller<NodeServices>;
  pending = 0;

  constructor(
    readonly name: string,
    private readonly env: TxnEnv,
    private readonly random: Random,
  ) {
    this.caller = new RetryingCaller(name, env, random);
  }

  get retries(): number {
    return this.caller.retries;
  }

  async run(quota: number, thinkMs: number, stop: () => boolean): Promise<void> {
    for (let i = 0; i < quota && !stop(); i++) {
      await this.env.clock.sleep(this.random.float() * 2 * thinkMs);
      if (stop()) return;
      await this.perform();
    }
  }

  private pick(): [string, string, string] {
    const keys = [...TXN_KEYS];
    for (let i = keys.length - 1; i > 0; i--) {
      const j = this.random.int(i + 1);
      [keys[i], keys[j]] = [keys[j]!, keys[i]!];
    }
    return [keys[0]!, keys[1]!, keys[2]!];
  }

  private guard(key: string): TxnCompare {
    const v = this.seen.get(key) ?? null;
    return v === null ? { key, target: 'exists', op: '=', value: false } : { key, target: 'value', op: '=', value: v };
  }

  private async perform(): Promise<void> {
    const [a, b, c] = this.pick();
    const value = (): string => `${this.name}.${++this.count}`;
    const x = this.random.float();
    if (x < 0.15) return this.get(a);
    if (x < 0.25) return this.txn([], [{ op: 'put', key: a, value: value() }], []);
    if (x < 0.6) {
      const success: TxnOp[] = [
        { op: 'put', key: a, value: value() },
        { op: 'put', key: b, value: value() },
      ];
      if (this.random.float() < 0.5) success.push({ op: 'get', key: c });
      return this.txn([this.guard(a), this.guard(b)], success, [
        { op: 'get', key: a },
        { op: 'get', key: b },
      ]);
    }
    if (x < 0.85) return this.txn([], TXN_KEYS.map((key) => ({ op: 'get', key })), []);
    return this.txn([], [{ op: 'put', key: a, value: value() }, { op: 'delete', key: b }], []);
  }

  private async get(key: string): Promise<void> {
    const call = this.env.clock.now();
    this.pending++;
    const r = await this.caller.send(`get(${key})`, async (s) => (await s.kv.get(key, this.env.readConsistency))?.value ?? null);
    this.pending--;
    if (!r.ok) throw new SimCheckFailure('client', `client ${this.name}: get(${key}) failed`);
    this.seen.set(key, r.value);
    this.env.history.push({ clientId: this.name, compare: [], success: [{ op: 'get', key }], failure: [], output: { succeeded: true, reads: [r.value] }, call, return: this.env.clock.now(), status: 'ok' });
    this.env.trace?.(`client ${this.name} ok get(${key}) -> ${JSON.stringify(r.value)}`);
  }

  private async txn(compare: TxnCompare[], success: TxnOp[], failure: TxnOp[]): Promise<void> {
    const session: Session = { clientId: this.name, seq: ++this.seq };
    const request = { compare, success, failure };
    const what = `txn ${JSON.stringify(request)}`;
    const call = this.env.clock.now();
    this.pending++;
    this.env.trace?.(`client ${this.name} call ${what} seq ${session.seq}`);
    const r = await this.caller.send(what, (s) => s.kv.txn(request, session));
    this.pending--;
    if (!r.ok) throw new SimCheckFailure('client', `client ${this.name}: ${what} failed`);
    const t = r.value;
    const reads = t.results.flatMap((o) => (o.op === 'get' ? [o.item?.value ?? null] : []));
    // What each key holds after the transaction, as far as this client knows (its next guards).
    const branch = t.succeeded ? success : failure;
    t.results.forEach((o, i) => {
      const op = branch[i];
      if (o.op === 'get') this.seen.set(o.key, o.item?.value ?? null);
      else if (o.op === 'delete') this.seen.set(o.key, null);
      else if (op?.op === 'put') this.seen.set(o.key, op.value);
    });
    this.env.history.push({ clientId: this.name, ...request, output: { succeeded: t.succeeded, reads }, call, return: this.env.clock.now(), status: 'ok' });
    this.env.trace?.(`client ${this.name} ok txn seq ${session.seq} at ${t.revision}: ${t.succeeded ? 'success' : 'failure'}, reads ${JSON.stringify(reads)}`);
  }
}

/**
 * The `txn` check: the transaction history must have a legal order (each
 * transaction one atomic step between its call and its return); a torn or
 * interleaved transaction has none. An undecided search fails too.
 */
export function checkTxns(history: readonly TxnHistoryOp[]): void {
  if (history.length === 0) return;
  const r = checkTxnHistory(history, { maxSteps: 2_000_000 });
  if (r.verdict === 'ok') return;
  const bad = r.components.find((c) => c.verdict !== 'ok')!;
  throw new SimCheckFailure('txn', r.verdict === 'unknown' ? `the transaction check could not decide (${history.length} operations on ${bad.keys.join(', ')})` : `the history of ${bad.ops} transactions on ${bad.keys.join(', ')} has no atomic, isolated order`);
}
