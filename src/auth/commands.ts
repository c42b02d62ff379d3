/**
 * Auth in the KV log: the command that changes the auth state, and the
 * apply-time check of writes. The state machine calls these from a small hook
 * (src/kv/state-machine.ts), so the auth logic stays here.
 */
import type { KvResult } from '../kv/commands.js';
import { encode } from '../util/codec.js';
import type { AuthAction, AuthRefusal, AuthState } from './model.js';

/** A change of the auth state in the log: the action, and the proposer's token hash (re-checked at apply time). */
export interface AuthCommand {
  readonly op: 'auth';
  readonly action: AuthAction;
  readonly by?: string | undefined;
  /** The proposing leader's clock, like every KV command (not used by auth). */
  readonly time: number;
}

/** A request refused by the auth state: 401 (`unauthenticated`), 403 (`permission-denied`), or a bad or conflicting auth change. */
export class AuthError extends Error {
  override name = 'AuthError';
  constructor(
    readonly reason: AuthRefusal,
    message: string,
  ) {
    super(message);
  }
}

export function isAuthCommand(c: unknown): c is AuthCommand {
  return typeof c === 'object' && c !== null && (c as { op?: unknown }).op === 'auth';
}

export function encodeAuthCommand(c: AuthCommand): Uint8Array {
  return encode(c);
}

/** Applies an auth command at log index `index`. */
export function applyAuthCommand(state: AuthState, c: AuthCommand, index: number): KvResult {
  const by = typeof c.by === 'string' ? c.by : undefined;
  const r = state.apply(c.action, by);
  return r.ok ? { ok: true, op: 'auth', revision: index } : { ok: false, error: r.error, message: r.message, revision: index };
}

/**
 * The apply-time check of a write by the token with hash `by` (undefined: none):
 * null if allowed, else the refusal every replica returns for it. It is judged
 * against the auth state at this log index, so a write that races a revocation
 * is refused on every node alike.
 */
export function writeRefusal(state: AuthState, by: unknown, key: string, index: number): KvResult | null {
  const r = state.check(typeof by === 'string' ? by : undefined, { kind: 'write', key });
  return r.ok ? null : { ok: false, error: r.error, message: r.message, revision: index };
}

/** The apply-time check of a read inside a write (a transaction's compares and gets): null if allowed. */
export function readRefusal(state: AuthState, by: unknown, key: string, index: number): KvResult | null {
  const r = state.check(typeof by === 'string' ? by : undefined, { kind: 'read', key });
  return r.ok ? null : { ok: false, error: r.error, message: r.message, revision: index };
}
