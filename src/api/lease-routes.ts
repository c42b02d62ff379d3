/**
 * The lease endpoints (docs/API.md "Leases"): `POST /v1/leases` {ttl},
 * `GET /v1/leases`, `GET /v1/leases/{id}`, `POST /v1/leases/{id}/keepalive`,
 * `DELETE /v1/leases/{id}`. Every one needs a valid token while auth is on;
 * a revoke is also checked at apply time against write permission on each
 * key it deletes.
 */
import type { LeaseService } from '../kv/lease-service.js';
import type { Session } from '../kv/commands.js';
import type { Consistency } from '../kv/service.js';
import { RequestError } from './request-error.js';

/** What a lease route needs of the HTTP server. */
export interface LeaseRouteContext {
  readonly leases: LeaseService;
  readonly method: string;
  /** The path after `/v1/leases`: '' or '/{id}' or '/{id}/keepalive'. */
  readonly rest: string;
  readonly body: () => Promise<Record<string, unknown>>;
  readonly timed: <T>(p: Promise<T>) => Promise<T>;
  readonly consistency: Consistency;
  /** Refuses (405) a method not in `methods` (comma-separated). */
  readonly allow: (methods: string) => void;
  /** The caller's token hash when auth is on (a revoke is re-checked with it at apply time). */
  readonly by: string | undefined;
  /** The request's session (X-Client-Id, X-Request-Seq), if it has one: a grant, keep-alive or revoke retried with it applies once. */
  readonly session: () => Session | undefined;
}

/** Serves a lease route; returns the status and JSON body, or null if `rest` names no lease route. */
export async function handleLeaseRoute(c: LeaseRouteContext): Promise<{ status: number; body: unknown } | null> {
  if (c.rest === '' || c.rest === '/') {
    c.allow('GET, POST');
    if (c.method === 'GET') return { status: 200, body: { leases: await c.timed(c.leases.list(c.consistency)) } };
    const body = await c.body();
    const extra = Object.keys(body).filter((k) => k !== 'ttl');
    if (extra.length > 0) throw new RequestError(400, 'invalid', `unknown field ${JSON.stringify(extra[0])}; expected ttl`);
    if (body['ttl'] === undefined) throw new RequestError(400, 'invalid', 'field "ttl" is required: the lease\'s time to live in seconds');
    return { status: 200, body: await c.timed(c.leases.grant(body['ttl'], c.session())) };
  }
  const m = /^\/([^/]+)(\/keepalive)?$/.exec(c.rest);
  if (m === null) return null;
  const id = m[1]!;
  if (m[2] !== undefined) {
    c.allow('POST');
    return { status: 200, body: await c.timed(c.leases.keepAlive(id, c.session())) };
  }
  c.allow('GET, DELETE');
  if (c.method === 'GET') return { status: 200, body: await c.timed(c.leases.get(id, c.consistency)) };
  return { status: 200, body: await c.timed(c.leases.revoke(id, c.by, c.session())) };
}
