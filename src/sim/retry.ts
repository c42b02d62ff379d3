import { KvInputError, KvSessionError } from '../kv/commands.js';
import type { LeaseService } from '../kv/lease-service.js';
import type { KvService } from '../kv/service.js';
import { NodeStoppedError, NotLeaderError, ProposalUnknownError, ReadIndexError } from '../node/errors.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { SimCheckFailure } from './safety.js';

/** What came back from one request to one node. `lost`: no answer in time (lost, crashed, partitioned). */
export type CallResult<T> = { readonly kind: 'ok'; readonly value: T } | { readonly kind: 'error'; readonly error: unknown } | { readonly kind: 'lost' };

/** A request reached a node that is not running (connection refused). */
export class NodeDownError extends Error {
  override name = 'NodeDownError';
}

/** How long a simulated client waits for one answer before it tries again (ms). */
export const RETRY_CALL_TIMEOUT_MS = 600;

/** What a request reaches on a running simulated node: its key-value and lease services. */
export interface NodeServices {
  readonly kv: KvService;
  readonly leases: LeaseService;
}

/** How a retrying caller reaches the nodes: `call` sends `fn` to one node (see ClientEnv.call). */
export interface RetryEnv<S> {
  readonly clock: Clock;
  nodeIds(): readonly number[];
  call<T>(node: number, fn: (service: S) => Promise<T>, timeoutMs: number): Promise<CallResult<T>>;
}

/**
 * Sends one request until some node answers it, for every simulated client
 * (key-value, transaction, lease): a NotLeaderError with a hint goes to the hint, every other retryable
 * error (no leader, proposal unknown, node down, no answer in time) to
 * another node after a growing pause. An error the request's own `final`
 * test accepts (a lease that is gone) is returned as the answer; a session
 * or input error is a {@link SimCheckFailure} (the service refused a valid
 * request). `retries` counts attempts that were retried.
 */
export class RetryingCaller<S> {
  private guess: number;
  retries = 0;

  constructor(
    readonly name: string,
    private readonly env: RetryEnv<S>,
    private readonly random: Random,
  ) {
    const ids = env.nodeIds();
    this.guess = ids[random.int(ids.length)]!;
  }

  /** The next request goes first to a node drawn at random, not to the one that answered last. */
  guessAtRandom(): void {
    const ids = this.env.nodeIds();
    this.guess = ids[this.random.int(ids.length)]!;
  }

  /** `node`: the node that answered. */
  async send<T>(what: string, fn: (service: S) => Promise<T>, final: (e: unknown) => boolean = () => false): Promise<{ ok: true; value: T; node: number } | { ok: false; error: unknown }> {
    let backoff = 10;
    for (;;) {
      const node = this.guess;
      const r = await this.env.call(node, fn, RETRY_CALL_TIMEOUT_MS);
      if (r.kind === 'ok') return { ok: true, value: r.value, node };
      if (r.kind === 'error') {
        const e = r.error;
        if (final(e)) return { ok: false, error: e };
        this.retries++;
        if (e instanceof NotLeaderError && e.leader !== null && e.leader !== node) {
          this.guess = e.leader;
          continue;
        }
        if (e instanceof KvSessionError) throw new SimCheckFailure('client', `client ${this.name}: ${what}: ${e.reason}: ${e.message}`);
        if (e instanceof KvInputError) throw new SimCheckFailure('client', `client ${this.name}: a valid ${what} was refused: ${e.message}`);
        if (!(e instanceof NotLeaderError || e instanceof ProposalUnknownError || e instanceof ReadIndexError || e instanceof NodeStoppedError || e instanceof NodeDownError)) {
          throw new SimCheckFailure('client', `client ${this.name}: ${what} failed with an unexpected error: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
        }
      } else this.retries++;
      const ids = this.env.nodeIds();
      const at = Math.max(0, ids.indexOf(node));
      this.guess = ids[(at + 1 + this.random.int(Math.max(1, ids.length - 1))) % ids.length]!;
      await this.env.clock.sleep(backoff * (0.5 + this.random.float()));
      backoff = Math.min(200, backoff * 2);
    }
  }
}
