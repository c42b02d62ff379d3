import { AuthError } from '../auth/commands.js';
import type { ReadConsistency, Replica } from '../node/replica.js';
import { KvInputError, KvSessionError, encodeCommand, keyProblem, validateOp, validateSession, type KvOp, type KvResult, type Session, type TxnCommandBody } from './commands.js';
import type { KvItem, KvStateMachine } from './state-machine.js';
import { KvNoSpaceError, type Alarm, type AlarmDisarmCommand, type AlarmName } from './alarms.js';
import { encode } from '../util/codec.js';
import { hasLoneSurrogate } from '../util/utf8.js';
import { validateTxn, type TxnOpResult } from './txn.js';
import { LeaseLimitError, LeaseNotFoundError } from './leases.js';

/** What a transaction answered (`POST /v1/txn`). */
export interface TxnResponse {
  /** Whether every compare held (the `success` operations applied), or not (`failure`). */
  readonly succeeded: boolean;
  /** The revision (log index) at which the transaction applied. */
  readonly revision: number;
  /** What each operation of the applied branch did, in order. */
  readonly results: readonly TxnOpResult[];
}

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

/**
 * Read consistency: linearizable (ReadIndex, the default), lease (a leader's
 * lease spares the heartbeat round; ReadIndex when it does not hold or lease
 * reads are off) or stale (this replica's state as it is).
 */
export type Consistency = ReadConsistency;

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
    /** The space quota written into each write (bytes; `--quota-bytes`); undefined: no quota. */
    readonly quotaBytes?: number,
  ) {}

  /** `by`: the SHA-256 of the caller's token, written into the command so the write is re-checked at apply time. */
  private async write(op: unknown, session?: unknown, by?: string): Promise<KvResult & { ok: true }> {
    const v: KvOp = validateOp(op, this.sm.limits);
    refuseLoneSurrogates(v);
    const s: Session | undefined = session === undefined ? undefined : validateSession(session);
    // While NOSPACE is active here, a write that adds data is refused without filling the log;
    // the state machine decides for good at apply time.
    if (v.op !== 'delete') this.refuseUnderNoSpace();
    return this.propose(v, s, by);
  }

  /** Throws {@link KvNoSpaceError} if this node's state has the NOSPACE alarm active (nothing is proposed). */
  private refuseUnderNoSpace(): void {
    const alarm = this.sm.alarms().find((a) => a.alarm === 'NOSPACE');
    if (alarm !== undefined) {
      throw new KvNoSpaceError(`the store is read-only: alarm NOSPACE is active (raised at revision ${alarm.revision}, quota ${alarm.quotaBytes} bytes); the store holds ${this.sm.sizeBytes} bytes. Delete data, then disarm the alarm (tsraft alarm disarm)`, alarm.quotaBytes, this.sm.sizeBytes);
    }
  }

  /** Proposes a validated write or transaction; maps a refusal at apply time to its error. */
  private async propose(v: KvOp | TxnCommandBody, s: Session | undefined, by: string | undefined): Promise<KvResult & { ok: true }> {
    const { result } = await this.replica.propose(encodeCommand({ ...v, session: s, time: this.now(), quota: this.quotaBytes, ...(by !== undefined && { by }) }));
    if (!result.ok) {
      if (result.error === 'invalid') throw new KvInputError(result.message);
      if (result.error === 'no-space') throw new KvNoSpaceError(result.message, result.quotaBytes, result.sizeBytes);
      if (result.error === 'session-expired' || result.error === 'stale-request') throw new KvSessionError(result.error, result.message);
      // A KV write is refused as not-found only for a lease that does not exist (src/kv/leases.ts).
      if (result.error === 'not-found') throw new LeaseNotFoundError(result.message);
      if (result.error === 'too-many-leases') throw new LeaseLimitError(result.message, result.maxLeases);
      throw new AuthError(result.error, result.message);
    }
    return result;
  }

  /**
   * A transaction (src/kv/txn.ts): validated (a {@link KvInputError} names the
   * field at fault), then applied by one log entry, exactly once with a session.
   * Permissions are checked at apply time against the token hash `by`. While
   * NOSPACE is active, a transaction with a put in either branch is refused
   * before it is proposed, as etcd does ({@link KvNoSpaceError}, like a put);
   * one of gets and deletes only goes through, so space can be freed.
   */
  async txn(request: unknown, session?: unknown, by?: string): Promise<TxnResponse> {
    const t = validateTxn(request, this.sm.limits);
    const s: Session | undefined = session === undefined ? undefined : validateSession(session);
    if ([...t.success, ...t.failure].some((op) => op.op === 'put')) this.refuseUnderNoSpace();
    const r = await this.propose({ op: 'txn', ...t }, s, by);
    if (r.op !== 'txn') throw new Error('txn answered by another operation');
    return { succeeded: r.succeeded, revision: r.revision, results: r.results };
  }

  /** The active alarms (`GET /v1/alarms`), read like a key. */
  async alarms(consistency: Consistency = 'linearizable'): Promise<Alarm[]> {
    return this.replica.read(() => this.sm.alarms(), consistency);
  }

  /** Disarms every alarm, or only `alarm`, through the log; returns those it disarmed. */
  async disarm(alarm?: AlarmName): Promise<{ revision: number; disarmed: readonly Alarm[] }> {
    const cmd: AlarmDisarmCommand = { kind: 'alarm-disarm', alarm, time: this.now() };
    const { result } = await this.replica.propose(encode(cmd));
    if (!result.ok || result.op !== 'alarm-disarm') throw new Error(`disarm answered ${JSON.stringify(result)}`);
    return { revision: result.revision, disarmed: result.disarmed };
  }

  /** `lease`: attach the key to that lease (a {@link LeaseNotFoundError} if it does not exist). */
  async put(key: string, value: string, session?: Session, by?: string, lease?: number): Promise<{ revision: number }> {
    const r = await this.write(lease === undefined ? { op: 'put', key, value } : { op: 'put', key, value, lease }, session, by);
    return { revision: r.revision };
  }

  async append(key: string, value: string, session?: Session, by?: string): Promise<{ revision: number }> {
    const r = await this.write({ op: 'append', key, value }, session, by);
    return { revision: r.revision };
  }

  async delete(key: string, session?: Session, by?: string): Promise<{ revision: number; deleted: boolean }> {
    const r = await this.write({ op: 'delete', key }, session, by);
    return { revision: r.revision, deleted: r.op === 'delete' && r.deleted };
  }

  /** Sets `value` if the current value is `expected` (null: absent); reports whether it swapped and what is there. */
  async cas(key: string, expected: string | null, value: string, session?: Session, by?: string): Promise<{ revision: number; swapped: boolean; current: string | null }> {
    const r = await this.write({ op: 'cas', key, expected, value }, session, by);
    if (r.op !== 'cas') throw new Error('cas answered by another operation');
    return { revision: r.revision, swapped: r.swapped, current: r.current };
  }

  /**
   * `guard` runs just before the state is read, after the ReadIndex wait: it
   * throws to refuse (the auth check, against the state as of the read).
   */
  async get(key: string, consistency: Consistency = 'linearizable', guard?: () => void): Promise<KvItem | null> {
    const kp = keyProblem(key, this.sm.limits);
    if (kp !== null) throw new KvInputError(kp);
    return this.replica.read(() => {
      guard?.();
      return this.sm.get(key);
    }, consistency);
  }

  async list(prefix: string, consistency: Consistency = 'linearizable', limit?: number, guard?: () => void): Promise<KvItem[]> {
    return (await this.listAt(prefix, consistency, limit, guard)).items;
  }

  /** {@link list}, and the store's revision the items were read at (every change up to it is in them, none after). */
  async listAt(prefix: string, consistency: Consistency = 'linearizable', limit?: number, guard?: () => void): Promise<{ items: KvItem[]; revision: number }> {
    if (typeof prefix !== 'string') throw new KvInputError('prefix must be a string');
    return this.replica.read(() => {
      guard?.();
      return { items: this.sm.list(prefix, limit), revision: this.sm.revision };
    }, consistency);
  }
}
