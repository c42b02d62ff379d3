import type { Replica } from '../node/replica.js';
import { KvInputError, KvSessionError, encodeCommand, keyProblem, validateOp, validateSession, type KvOp, type KvResult, type Session } from './commands.js';
import type { KvItem, KvStateMachine } from './state-machine.js';
import { hasLoneSurrogate } from '../util/utf8.js';

/**
 * A string with an unpaired surrogate has no UTF-8 form: the log would hold U+FFFD instead.
 * Refused here, where a write is proposed, not at apply time: entries already in a log stay valid.
 */
function refuseLoneSurrogates(op: KvOp): void {
  const fields: [string, string | null][] = [['key', op.key]];
  if (op.op !== 'delete') fields.push(['value', op.value]);
  if (op.op === 'cas') fields.push(['expected value', op.expected]);
  for (const [what, s] of fields) {
    if (s !== null && hasLoneSurrogate(s)) throw new KvInputError(`${what} holds an unpaired UTF-16 surrogate (such as "\\ud800"): it has no UTF-8 form and would be stored changed`);
  }
}

/** Read consistency: linearizable (ReadIndex, the default) or stale (this replica's state as it is). */
export type Consistency = 'linearizable' | 'stale';

/**
 * The key-value API over a {@link Replica} of a {@link KvStateMachine}:
 * validated writes through the log (exactly once with a session), reads by
 * ReadIndex. Errors: `KvInputError` (bad request, nothing proposed),
 * `KvSessionError`, and the replica's `NotLeaderError`,
 * `ProposalUnknownError`, `ReadIndexError`.
 */
export class KvService {
  constructor(
    readonly replica: Replica<KvResult>,
    readonly sm: KvStateMachine,
    /** The clock written into each command (for session expiry); the leader's wall clock. */
    private readonly now: () => number = Date.now,
  ) {}

  private async write(op: unknown, session?: unknown): Promise<KvResult & { ok: true }> {
    const v: KvOp = validateOp(op, this.sm.limits);
    refuseLoneSurrogates(v);
    const s: Session | undefined = session === undefined ? undefined : validateSession(session);
    const { result } = await this.replica.propose(encodeCommand({ ...v, session: s, time: this.now() }));
    if (!result.ok) {
      if (result.error === 'invalid') throw new KvInputError(result.message);
      throw new KvSessionError(result.error, result.message);
    }
    return result;
  }

  async put(key: string, value: string, session?: Session): Promise<{ revision: number }> {
    const r = await this.write({ op: 'put', key, value }, session);
    return { revision: r.revision };
  }

  async append(key: string, value: string, session?: Session): Promise<{ revision: number }> {
    const r = await this.write({ op: 'append', key, value }, session);
    return { revision: r.revision };
  }

  async delete(key: string, session?: Session): Promise<{ revision: number; deleted: boolean }> {
    const r = await this.write({ op: 'delete', key }, session);
    return { revision: r.revision, deleted: r.op === 'delete' && r.deleted };
  }

  /** Sets `value` if the current value is `expected` (null: absent); reports whether it swapped and what is there. */
  async cas(key: string, expected: string | null, value: string, session?: Session): Promise<{ revision: number; swapped: boolean; current: string | null }> {
    const r = await this.write({ op: 'cas', key, expected, value }, session);
    if (r.op !== 'cas') throw new Error('cas answered by another operation');
    return { revision: r.revision, swapped: r.swapped, current: r.current };
  }

  async get(key: string, consistency: Consistency = 'linearizable'): Promise<KvItem | null> {
    const kp = keyProblem(key, this.sm.limits);
    if (kp !== null) throw new KvInputError(kp);
    return this.replica.read(() => this.sm.get(key), consistency);
  }

  async list(prefix: string, consistency: Consistency = 'linearizable', limit?: number): Promise<KvItem[]> {
    if (typeof prefix !== 'string') throw new KvInputError('prefix must be a string');
    return this.replica.read(() => this.sm.list(prefix, limit), consistency);
  }
}
