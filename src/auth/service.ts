/**
 * The auth operations a node offers its HTTP API: propose changes of the
 * replicated auth state, and read it. The node that handles a request makes
 * the token secrets (randomness stays out of the state machine) and only their
 * SHA-256 goes into the log.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { KvResult } from '../kv/commands.js';
import type { KvStateMachine } from '../kv/state-machine.js';
import type { Replica } from '../node/replica.js';
import { AuthError, encodeAuthCommand } from './commands.js';
import { ROOT_TOKEN, hashToken, type AuthAction, type AuthState, type Permission, type Role } from './model.js';

/** The file, in a node's data directory, where enabling auth writes the root token (mode 0600). */
export const ROOT_TOKEN_FILE = 'root.token';

/** A new token secret: 32 random bytes, base64url, with a recognisable prefix. */
export function newTokenSecret(): string {
  return `tsr_${randomBytes(32).toString('base64url')}`;
}

export interface AuthServiceOptions {
  readonly replica: Replica<KvResult>;
  readonly sm: KvStateMachine;
  /** Where `root.token` is written when this node enables auth; none: not written. */
  readonly dataDir?: string | undefined;
  /** The clock written into commands (the leader's wall clock). */
  readonly now?: () => number;
}

export class AuthService {
  constructor(private readonly o: AuthServiceOptions) {}

  /** The auth state as this node has applied it (may lag the leader's by a few entries). */
  get state(): AuthState {
    return this.o.sm.auth;
  }

  /**
   * Runs `fn` once this node has applied everything committed before the call
   * (ReadIndex), after checking `perm` for the token `by` against that state.
   */
  read<T>(by: string | undefined, perm: Permission, fn: (s: AuthState) => T): Promise<T> {
    return this.o.replica.read(() => {
      this.demand(by, perm);
      return fn(this.o.sm.auth);
    });
  }

  /** Throws {@link AuthError} unless the token `by` may do `perm` in the state this node has applied. */
  demand(by: string | undefined, perm: Permission): void {
    const c = this.o.sm.auth.check(by, perm);
    if (!c.ok) throw new AuthError(c.error, c.message);
  }

  /** Proposes `action` as the token `by`; resolves once applied, or throws the {@link AuthError} it was refused with. */
  async propose(action: AuthAction, by: string | undefined): Promise<void> {
    const { result } = await this.o.replica.propose(encodeAuthCommand({ op: 'auth', action, by, time: (this.o.now ?? Date.now)() }));
    if (!result.ok) throw new AuthError(result.error === 'session-expired' || result.error === 'stale-request' || result.error === 'no-space' || result.error === 'too-many-leases' ? 'invalid' : result.error, result.message);
  }

  /**
   * Enables auth with a fresh root token (replacing any earlier `root` token),
   * writes it to `root.token` (0600) in this node's data directory, and returns it.
   */
  async enable(by: string | undefined): Promise<{ name: string; token: string; file: string | null }> {
    const token = newTokenSecret();
    await this.propose({ type: 'enable', rootHash: hashToken(token) }, by);
    let file: string | null = null;
    if (this.o.dataDir !== undefined) {
      file = path.join(this.o.dataDir, ROOT_TOKEN_FILE);
      writeFileSync(file, `${token}\n`, { mode: 0o600 });
      chmodSync(file, 0o600); // the mode of writeFileSync applies only to a new file
    }
    return { name: ROOT_TOKEN, token, file };
  }

  async disable(by: string | undefined): Promise<void> {
    await this.propose({ type: 'disable' }, by);
  }

  async addRole(role: Role, by: string | undefined): Promise<void> {
    await this.propose({ type: 'role-add', role }, by);
  }

  async removeRole(name: string, by: string | undefined): Promise<void> {
    await this.propose({ type: 'role-remove', name }, by);
  }

  /** Creates a token; its secret is returned here once and never stored. */
  async createToken(name: string, roles: readonly string[], by: string | undefined): Promise<{ name: string; roles: readonly string[]; token: string }> {
    const token = newTokenSecret();
    await this.propose({ type: 'token-create', name, hash: hashToken(token), roles }, by);
    return { name, roles, token };
  }

  async revokeToken(name: string, by: string | undefined): Promise<void> {
    await this.propose({ type: 'token-revoke', name }, by);
  }
}
