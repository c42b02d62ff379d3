/**
 * The replicated authorization state (roles and tokens) and the permission
 * logic. Pure and deterministic: the state machine applies {@link AuthAction}s
 * to it in log order, and every node answers "may this token do that?" the
 * same way at the same applied index. Tokens are known only by the SHA-256
 * hash of their secret; the secret never enters the log or a snapshot.
 */
import { createHash } from 'node:crypto';

/** The built-in role: admin, and read and write on every key. It cannot be removed or changed. */
export const ROOT_ROLE = 'root';
/** The name of the token that enabling auth creates. */
export const ROOT_TOKEN = 'root';

/** A role: key prefixes it may read and write ("" is every key), and whether it may administer. */
export interface Role {
  readonly name: string;
  readonly read: readonly string[];
  readonly write: readonly string[];
  readonly admin: boolean;
}

/** A token as the replicated state knows it: its name, its roles and the SHA-256 (hex) of its secret. */
export interface TokenRecord {
  readonly name: string;
  readonly hash: string;
  readonly roles: readonly string[];
}

/** What a request needs. `list` needs read on every key that starts with the prefix. */
export type Permission =
  | { readonly kind: 'read'; readonly key: string }
  | { readonly kind: 'list'; readonly prefix: string }
  | { readonly kind: 'write'; readonly key: string }
  | { readonly kind: 'admin' }
  /** Any valid token (e.g. `/v1/status`). */
  | { readonly kind: 'authenticated' };

/** A change of the auth state, as it goes into the log. `by` is the proposer's token hash, re-checked at apply time. */
export type AuthAction =
  | { readonly type: 'enable'; readonly rootHash: string }
  | { readonly type: 'disable' }
  | { readonly type: 'role-add'; readonly role: Role }
  | { readonly type: 'role-remove'; readonly name: string }
  | { readonly type: 'token-create'; readonly name: string; readonly hash: string; readonly roles: readonly string[] }
  | { readonly type: 'token-revoke'; readonly name: string };

/** Why an auth action or a write was refused at apply time. */
export type AuthRefusal = 'unauthenticated' | 'permission-denied' | 'invalid' | 'conflict' | 'not-found';

export type AuthOutcome = { readonly ok: true } | { readonly ok: false; readonly error: AuthRefusal; readonly message: string };

/** The snapshot form of the auth state (`auth` field of the KV snapshot; absent in older snapshots: disabled, empty). */
export interface AuthSnapshot {
  readonly enabled: boolean;
  readonly roles: Role[];
  readonly tokens: TokenRecord[];
}

const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
const HASH_RE = /^[0-9a-f]{64}$/;
const MAX_PREFIXES = 64;
const MAX_PREFIX_BYTES = 4096;

/** SHA-256 of a token's secret, hex: what the log and the state hold. */
export function hashToken(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

const rootRole: Role = { name: ROOT_ROLE, read: [''], write: [''], admin: true };

/** Checks a role name; returns the problem or null. */
export function nameProblem(v: unknown, what: string): string | null {
  return typeof v === 'string' && NAME_RE.test(v) ? null : `${what} must be 1 to 64 characters among A-Z a-z 0-9 . _ -, got ${JSON.stringify(v) ?? 'nothing'}`;
}

function prefixesProblem(v: unknown, what: string): string | null {
  if (!Array.isArray(v)) return `${what} must be an array of key prefixes`;
  if (v.length > MAX_PREFIXES) return `${what}: at most ${MAX_PREFIXES} prefixes`;
  for (const p of v) if (typeof p !== 'string' || Buffer.byteLength(p, 'utf8') > MAX_PREFIX_BYTES) return `${what}: every prefix must be a string of at most ${MAX_PREFIX_BYTES} bytes`;
  return null;
}

/** Validates an action (from the log or from a request); returns the problem or null. */
export function actionProblem(a: unknown): string | null {
  if (typeof a !== 'object' || a === null) return 'an auth action must be an object';
  const o = a as Record<string, unknown>;
  switch (o['type']) {
    case 'enable':
      return typeof o['rootHash'] === 'string' && HASH_RE.test(o['rootHash']) ? null : 'enable: rootHash must be 64 hex digits';
    case 'disable':
      return null;
    case 'role-add': {
      const r = o['role'] as Record<string, unknown> | null;
      if (typeof r !== 'object' || r === null) return 'role-add: role must be an object';
      return nameProblem(r['name'], 'role name') ?? prefixesProblem(r['read'], 'read') ?? prefixesProblem(r['write'], 'write') ?? (typeof r['admin'] === 'boolean' ? null : 'admin must be true or false');
    }
    case 'role-remove':
    case 'token-revoke':
      return nameProblem(o['name'], 'name');
    case 'token-create': {
      const np = nameProblem(o['name'], 'token name');
      if (np !== null) return np;
      if (typeof o['hash'] !== 'string' || !HASH_RE.test(o['hash'])) return 'token-create: hash must be 64 hex digits';
      const roles = o['roles'];
      if (!Array.isArray(roles) || roles.length === 0 || roles.length > MAX_PREFIXES) return `a token needs 1 to ${MAX_PREFIXES} roles`;
      for (const r of roles) {
        const p = nameProblem(r, 'role name');
        if (p !== null) return p;
      }
      return null;
    }
    default:
      return `unknown auth action ${JSON.stringify(o['type'])}`;
  }
}

/**
 * Roles and tokens, and whether auth is on. While it is off every request is
 * allowed (roles and tokens may still be managed, as in etcd).
 */
export class AuthState {
  private enabledValue = false;
  private readonly roles = new Map<string, Role>();
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly byHash = new Map<string, TokenRecord>();

  get enabled(): boolean {
    return this.enabledValue;
  }

  /** The token whose secret hashes to `hash`, if it is live. */
  tokenByHash(hash: string): TokenRecord | undefined {
    return this.byHash.get(hash);
  }

  /** Every role, the built-in root first, then by name. */
  roleList(): Role[] {
    return [rootRole, ...[...this.roles.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))];
  }

  /** Every live token (name and roles; the hash is not shown), by name. */
  tokenList(): { name: string; roles: readonly string[] }[] {
    return [...this.tokens.values()].map((t) => ({ name: t.name, roles: t.roles })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private role(name: string): Role | undefined {
    return name === ROOT_ROLE ? rootRole : this.roles.get(name);
  }

  /** Whether the token with hash `hash` may do `perm`. False for an unknown (revoked) token. */
  allows(hash: string | undefined, perm: Permission): boolean {
    const t = hash === undefined ? undefined : this.byHash.get(hash);
    if (t === undefined) return false;
    const roles = t.roles.map((r) => this.role(r)).filter((r): r is Role => r !== undefined);
    return roles.some((r) => roleAllows(r, perm));
  }

  /**
   * Whether a request with this token may do `perm`: `unauthenticated` (no
   * or unknown token while auth is on), `permission-denied`, or ok.
   */
  check(hash: string | undefined, perm: Permission): AuthOutcome {
    if (!this.enabledValue) return { ok: true };
    if (hash === undefined || !this.byHash.has(hash)) return { ok: false, error: 'unauthenticated', message: hash === undefined ? 'a bearer token is required' : 'the token is not valid (unknown or revoked)' };
    if (!this.allows(hash, perm)) return { ok: false, error: 'permission-denied', message: `the token ${this.byHash.get(hash)!.name} may not ${describe(perm)}` };
    return { ok: true };
  }

  /**
   * Applies an action proposed by the token with hash `by` (undefined: no
   * token). Deterministic: everything it depends on is in the action and the
   * state. While auth is off any caller may do anything; once on, every
   * action needs admin, except that nothing is needed to enable it.
   */
  apply(a: AuthAction, by: string | undefined): AuthOutcome {
    const problem = actionProblem(a);
    if (problem !== null) return { ok: false, error: 'invalid', message: problem };
    if (this.enabledValue) {
      const c = this.check(by, { kind: 'admin' });
      if (!c.ok) return c;
    }
    switch (a.type) {
      case 'enable':
        this.enabledValue = true;
        this.putToken({ name: ROOT_TOKEN, hash: a.rootHash, roles: [ROOT_ROLE] });
        return { ok: true };
      case 'disable':
        this.enabledValue = false;
        return { ok: true };
      case 'role-add': {
        if (a.role.name === ROOT_ROLE) return { ok: false, error: 'conflict', message: 'the root role is built in and cannot be changed' };
        const r = a.role;
        this.roles.set(r.name, { name: r.name, read: [...r.read], write: [...r.write], admin: r.admin });
        return { ok: true };
      }
      case 'role-remove': {
        if (a.name === ROOT_ROLE) return { ok: false, error: 'conflict', message: 'the root role is built in and cannot be removed' };
        if (!this.roles.delete(a.name)) return { ok: false, error: 'not-found', message: `no role is called ${a.name}` };
        // Tokens lose the role, so a later role of the same name grants them nothing.
        for (const t of [...this.tokens.values()]) if (t.roles.includes(a.name)) this.putToken({ ...t, roles: t.roles.filter((r) => r !== a.name) });
        return { ok: true };
      }
      case 'token-create': {
        if (this.tokens.has(a.name)) return { ok: false, error: 'conflict', message: `a token called ${a.name} exists; revoke it first or choose another name` };
        if (this.byHash.has(a.hash)) return { ok: false, error: 'conflict', message: 'a token with that secret exists' };
        const missing = a.roles.filter((r) => this.role(r) === undefined);
        if (missing.length > 0) return { ok: false, error: 'not-found', message: `no role is called ${missing.join(', ')}` };
        this.putToken({ name: a.name, hash: a.hash, roles: [...new Set(a.roles)] });
        return { ok: true };
      }
      case 'token-revoke': {
        const t = this.tokens.get(a.name);
        if (t === undefined) return { ok: false, error: 'not-found', message: `no token is called ${a.name}` };
        this.tokens.delete(t.name);
        this.byHash.delete(t.hash);
        if (this.enabledValue && !this.anyAdmin()) {
          this.putToken(t);
          return { ok: false, error: 'conflict', message: `revoking ${a.name} would leave no admin token while auth is enabled; create another admin token first, or disable auth` };
        }
        return { ok: true };
      }
    }
  }

  private anyAdmin(): boolean {
    for (const t of this.tokens.values()) if (this.allows(t.hash, { kind: 'admin' })) return true;
    return false;
  }

  private putToken(t: TokenRecord): void {
    const old = this.tokens.get(t.name);
    if (old !== undefined) this.byHash.delete(old.hash);
    this.tokens.set(t.name, t);
    this.byHash.set(t.hash, t);
  }

  /** True when there is nothing to keep (auth off, no roles, no tokens): the state of an old snapshot. */
  get empty(): boolean {
    return !this.enabledValue && this.roles.size === 0 && this.tokens.size === 0;
  }

  snapshot(): AuthSnapshot {
    return { enabled: this.enabledValue, roles: [...this.roles.values()].map((r) => ({ ...r })), tokens: [...this.tokens.values()].map((t) => ({ ...t })) };
  }

  /** The state of a snapshot; undefined (an older snapshot): auth disabled, no roles or tokens. */
  static fromSnapshot(s: AuthSnapshot | undefined): AuthState {
    const st = new AuthState();
    if (s === undefined) return st;
    st.enabledValue = s.enabled === true;
    for (const r of s.roles ?? []) st.roles.set(r.name, r);
    for (const t of s.tokens ?? []) st.putToken(t);
    return st;
  }

  /** A canonical text of the whole state, for the state machine's digest. */
  canonical(): string {
    const roles = [...this.roles.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((r) => `${r.name}:${r.admin ? 'A' : ''}:${JSON.stringify(r.read)}:${JSON.stringify(r.write)}`);
    const tokens = [...this.tokens.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((t) => `${t.name}:${t.hash}:${t.roles.join(',')}`);
    return `auth=${this.enabledValue ? 1 : 0}|${roles.join(';')}|${tokens.join(';')}`;
  }
}

/** Whether one role grants `perm`. */
export function roleAllows(r: Role, perm: Permission): boolean {
  switch (perm.kind) {
    case 'authenticated':
      return true;
    case 'admin':
      return r.admin;
    case 'read':
      return r.read.some((p) => perm.key.startsWith(p));
    case 'write':
      return r.write.some((p) => perm.key.startsWith(p));
    case 'list':
      // Every key under perm.prefix starts with p exactly when perm.prefix does.
      return r.read.some((p) => perm.prefix.startsWith(p));
  }
}

function describe(p: Permission): string {
  switch (p.kind) {
    case 'authenticated':
      return 'use the API';
    case 'admin':
      return 'do admin operations (membership, leadership, backup, auth, alarms)';
    case 'read':
      return `read ${JSON.stringify(p.key)}`;
    case 'write':
      return `write ${JSON.stringify(p.key)}`;
    case 'list':
      return `list keys with prefix ${JSON.stringify(p.prefix)}`;
  }
}
