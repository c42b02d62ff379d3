/**
 * Authentication and authorization in the HTTP API: the bearer token of a
 * request, the refusals (401 with `WWW-Authenticate: Bearer`, 403), and the
 * `/v1/auth/...` endpoints (docs/API.md).
 */
import type { IncomingMessage } from 'node:http';
import { AuthError } from '../auth/commands.js';
import { actionProblem, hashToken, nameProblem, type Role } from '../auth/model.js';
import type { AuthService } from '../auth/service.js';

/** An error answer: status, code, message, extra headers. */
export interface AuthHttpError {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly headers: Record<string, string>;
}

/** A bearer token's hash; undefined without an Authorization header. A malformed header hashes to no live token. */
export function bearerHash(req: IncomingMessage): string | undefined {
  const h = req.headers['authorization'];
  if (h === undefined) return undefined;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(h);
  return hashToken(m === null ? `malformed:${h}` : m[1]!);
}

/** The HTTP answer for an {@link AuthError}. */
export function authHttpError(e: AuthError): AuthHttpError {
  switch (e.reason) {
    case 'unauthenticated':
      return { status: 401, code: 'unauthenticated', message: e.message, headers: { 'www-authenticate': 'Bearer' } };
    case 'permission-denied':
      return { status: 403, code: 'permission-denied', message: e.message, headers: {} };
    case 'not-found':
      return { status: 404, code: 'not-found', message: e.message, headers: {} };
    case 'conflict':
      return { status: 409, code: 'conflict', message: e.message, headers: {} };
    case 'invalid':
      return { status: 400, code: 'invalid', message: e.message, headers: {} };
  }
}

/** What the `/v1/auth` routes need from the HTTP layer. */
export interface AuthRouteContext {
  readonly auth: AuthService;
  /** The caller's token hash. */
  readonly by: string | undefined;
  readonly method: string;
  /** The path after `/v1/auth`: '' | '/status' | '/roles' | '/roles/NAME' | ... */
  readonly rest: string;
  body(): Promise<Record<string, unknown>>;
  /** Bounds a cluster round trip in time. */
  timed<T>(p: Promise<T>): Promise<T>;
  /** Refuses a method not in `methods` (comma-separated) with 405. */
  allow(methods: string): void;
}

function invalid(message: string): AuthError {
  return new AuthError('invalid', message);
}

function only(body: Record<string, unknown>, allowed: readonly string[]): void {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw invalid(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}; expected ${allowed.join(', ')}`);
}

function pathName(raw: string, what: string): string {
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    throw invalid(`the ${what} is not valid percent-encoding`);
  }
  const p = nameProblem(name, `the ${what}`);
  if (p !== null) throw invalid(p);
  return name;
}

/** `POST /v1/auth/roles` body: `{name, read?: [prefix], write?: [prefix], admin?: bool}`. */
function roleOf(body: Record<string, unknown>): Role {
  only(body, ['name', 'read', 'write', 'admin']);
  const role = { name: body['name'], read: body['read'] ?? [], write: body['write'] ?? [], admin: body['admin'] ?? false };
  const p = actionProblem({ type: 'role-add', role });
  if (p !== null) throw invalid(p);
  return role as Role;
}

/** The answer (status, JSON body) of a `/v1/auth/...` request; null if there is no such endpoint. */
export async function handleAuthRoute(c: AuthRouteContext): Promise<{ status: number; body: unknown } | null> {
  const { auth, by, rest } = c;
  const parts = rest.split('/').slice(1);
  const [what, name, ...more] = parts;
  if (more.length > 0) return null;
  switch (what) {
    case 'status':
      if (name !== undefined) return null;
      c.allow('GET');
      return { status: 200, body: await c.timed(auth.read(by, { kind: 'authenticated' }, (s) => ({ enabled: s.enabled, token: (by === undefined ? undefined : s.tokenByHash(by)?.name) ?? null }))) };
    case 'enable':
    case 'disable':
      if (name !== undefined) return null;
      c.allow('POST');
      only(await c.body(), []);
      // While auth is off anyone may enable it (as in etcd); once on, only an admin (which issues a new root token).
      if (what === 'enable' && auth.state.enabled) auth.demand(by, { kind: 'admin' });
      if (what === 'enable') return { status: 200, body: { enabled: true, ...(await c.timed(auth.enable(by))) } };
      auth.demand(by, { kind: 'admin' });
      await c.timed(auth.disable(by));
      return { status: 200, body: { enabled: false } };
    case 'roles':
      if (name === undefined) {
        c.allow('GET, POST');
        if (c.method === 'GET') return { status: 200, body: { roles: await c.timed(auth.read(by, { kind: 'admin' }, (s) => s.roleList())) } };
        const role = roleOf(await c.body());
        auth.demand(by, { kind: 'admin' });
        await c.timed(auth.addRole(role, by));
        return { status: 201, body: { role } };
      } else {
        c.allow('DELETE');
        const n = pathName(name, 'role name');
        auth.demand(by, { kind: 'admin' });
        await c.timed(auth.removeRole(n, by));
        return { status: 200, body: { removed: n } };
      }
    case 'tokens':
      if (name === undefined) {
        c.allow('GET, POST');
        if (c.method === 'GET') return { status: 200, body: { tokens: await c.timed(auth.read(by, { kind: 'admin' }, (s) => s.tokenList())) } };
        const body = await c.body();
        only(body, ['name', 'roles']);
        const roles = body['roles'];
        const p = actionProblem({ type: 'token-create', name: body['name'], hash: '0'.repeat(64), roles });
        if (p !== null) throw invalid(p);
        auth.demand(by, { kind: 'admin' });
        return { status: 201, body: await c.timed(auth.createToken(body['name'] as string, roles as string[], by)) };
      } else {
        c.allow('DELETE');
        const n = pathName(name, 'token name');
        auth.demand(by, { kind: 'admin' });
        await c.timed(auth.revokeToken(n, by));
        return { status: 200, body: { revoked: n } };
      }
    default:
      return null;
  }
}
