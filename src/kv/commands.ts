import { decode, encode } from '../util/codec.js';
import type { Alarm } from './alarms.js';
import type { LeaseCommandResult } from './leases.js';
import type { TxnOpResult, TxnRequest } from './txn.js';

/** Size limits of keys and values, in UTF-8 bytes. */
export interface KvLimits {
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  /** Compares, and operations per branch, a transaction may have (default 128: `DEFAULT_MAX_TXN_OPS`). */
  readonly maxTxnOps?: number;
}

export const DEFAULT_LIMITS: KvLimits = { maxKeyBytes: 4096, maxValueBytes: 1 << 20 };

/** One write. Reads (get, list) are not commands: they are served by ReadIndex. */
export type KvOp =
  /** `lease`: attach the key to that lease (src/kv/leases.ts); none: the key is attached to no lease. */
  | { readonly op: 'put'; readonly key: string; readonly value: string; readonly lease?: number | undefined }
  | { readonly op: 'append'; readonly key: string; readonly value: string }
  | { readonly op: 'delete'; readonly key: string }
  /** Compare-and-swap: set `value` if the current value is `expected` (null: the key is absent). */
  | { readonly op: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string };

/** Who sent a write, for exactly-once application (dissertation §6.3). Sequences start at 1. */
export interface Session {
  readonly clientId: string;
  readonly seq: number;
}

/**
 * What goes into the log: a write, its session, the proposing leader's clock
 * (for session expiry), its space quota (bytes; a write that would take the
 * store above it is refused and raises the NOSPACE alarm; none: no quota), and
 * `by`, the SHA-256 of the caller's token when auth is on (its permission is
 * re-checked at apply time).
 */
export type KvCommand = (KvOp | TxnCommandBody) & { readonly session?: Session | undefined; readonly time: number; readonly quota?: number | undefined; readonly by?: string | undefined };

/** A transaction in the log (src/kv/txn.ts). */
export type TxnCommandBody = TxnRequest & { readonly op: 'txn' };

/** What a write returned. `revision` is the log index at which it applied. */
export type KvResult =
  | { readonly ok: true; readonly op: 'put' | 'append'; readonly revision: number }
  | { readonly ok: true; readonly op: 'delete'; readonly revision: number; readonly deleted: boolean }
  | { readonly ok: true; readonly op: 'cas'; readonly revision: number; readonly swapped: boolean; readonly current: string | null }
  | { readonly ok: false; readonly error: KvError; readonly message: string; readonly revision: number }
  /** A lease grant refused: the store holds `maxLeases` leases already (src/kv/leases.ts). */
  | { readonly ok: false; readonly error: 'too-many-leases'; readonly message: string; readonly revision: number; readonly maxLeases: number }
  /** Refused by the space quota (src/kv/alarms.ts): the store holds `sizeBytes`, above or near `quotaBytes`. */
  | { readonly ok: false; readonly error: 'no-space'; readonly message: string; readonly revision: number; readonly quotaBytes: number; readonly sizeBytes: number }
  /** A transaction (src/kv/txn.ts): whether its compares held, and what each operation of the branch applied did. */
  | { readonly ok: true; readonly op: 'txn'; readonly revision: number; readonly succeeded: boolean; readonly results: readonly TxnOpResult[] }
  /** An alarm command (src/kv/alarms.ts): the alarms it disarmed. */
  | { readonly ok: true; readonly op: 'alarm-disarm'; readonly revision: number; readonly disarmed: readonly Alarm[] }
  /** A change of the auth state (src/auth/commands.ts). */
  | { readonly ok: true; readonly op: 'auth'; readonly revision: number }
  /** A lease command (src/kv/leases.ts). */
  | LeaseCommandResult;

/** Why a command was refused at apply time: its session, bad input, the auth state (src/auth), or (not-found from a KV write) a lease that does not exist. */
export type KvError = 'session-expired' | 'stale-request' | 'invalid' | 'unauthenticated' | 'permission-denied' | 'conflict' | 'not-found';

/** A request the KV store refuses before anything is proposed. */
export class KvInputError extends Error {
  override name = 'KvInputError';
}

/** A write refused for its session: expired (start a new client id) or superseded by a later request. */
export class KvSessionError extends Error {
  override name = 'KvSessionError';
  constructor(
    readonly reason: 'session-expired' | 'stale-request',
    message: string,
  ) {
    super(message);
  }
}

function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** Checks a key against the limits; returns the problem, or null if it is fine. */
export function keyProblem(key: unknown, limits: KvLimits = DEFAULT_LIMITS): string | null {
  if (typeof key !== 'string') return `key must be a string, got ${typeof key}`;
  if (key.length === 0) return 'key must not be empty';
  const n = utf8Bytes(key);
  if (n > limits.maxKeyBytes) return `key is ${n} bytes, more than the limit of ${limits.maxKeyBytes}`;
  return null;
}

function valueProblem(value: unknown, what: string, limits: KvLimits): string | null {
  if (typeof value !== 'string') return `${what} must be a string, got ${value === null ? 'null' : typeof value}`;
  const n = utf8Bytes(value);
  if (n > limits.maxValueBytes) return `${what} is ${n} bytes, more than the limit of ${limits.maxValueBytes}`;
  return null;
}

/**
 * Validates a write as it arrives from a client; throws {@link KvInputError}
 * naming the problem. Nothing invalid is ever proposed.
 */
export function validateOp(op: unknown, limits: KvLimits = DEFAULT_LIMITS): KvOp {
  if (typeof op !== 'object' || op === null) throw new KvInputError('a write must be an object');
  const o = op as Record<string, unknown>;
  const kp = keyProblem(o['key'], limits);
  if (kp !== null) throw new KvInputError(kp);
  const key = o['key'] as string;
  switch (o['op']) {
    case 'put':
    case 'append': {
      const vp = valueProblem(o['value'], 'value', limits);
      if (vp !== null) throw new KvInputError(vp);
      const lease = o['lease'];
      if (o['op'] === 'put' && lease !== undefined) {
        if (typeof lease !== 'number' || !Number.isSafeInteger(lease) || lease < 1) throw new KvInputError(`lease must be a positive integer (a lease id), got ${JSON.stringify(lease)}`);
        return { op: 'put', key, value: o['value'] as string, lease };
      }
      return { op: o['op'], key, value: o['value'] as string };
    }
    case 'delete':
      return { op: 'delete', key };
    case 'cas': {
      const vp = valueProblem(o['value'], 'value', limits);
      if (vp !== null) throw new KvInputError(vp);
      const expected = o['expected'];
      if (expected !== null) {
        const ep = valueProblem(expected, 'expected value', limits);
        if (ep !== null) throw new KvInputError(ep);
      }
      return { op: 'cas', key, expected: expected as string | null, value: o['value'] as string };
    }
    default:
      throw new KvInputError(`unknown operation ${JSON.stringify(o['op'])}; expected put, append, delete or cas`);
  }
}

/** Validates a session: a non-empty client id and a sequence number from 1. */
export function validateSession(s: unknown): Session {
  if (typeof s !== 'object' || s === null) throw new KvInputError('a session must be { clientId, seq }');
  const { clientId, seq } = s as Record<string, unknown>;
  if (typeof clientId !== 'string' || clientId.length === 0 || clientId.length > 256) throw new KvInputError('session clientId must be a non-empty string of at most 256 characters');
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) throw new KvInputError(`session seq must be an integer >= 1, got ${String(seq)}`);
  return { clientId, seq };
}

export function encodeCommand(c: KvCommand): Uint8Array {
  return encode(c);
}

export function decodeCommand(b: Uint8Array): KvCommand {
  return decode<KvCommand>(b);
}
