import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { AuthError } from '../auth/commands.js';
import type { Permission } from '../auth/model.js';
import type { AuthService } from '../auth/service.js';
import { authHttpError, bearerHash, handleAuthRoute } from './auth-routes.js';
import { KvInputError, KvSessionError, validateSession, type Session } from '../kv/commands.js';
import { KvNoSpaceError, validateAlarmName } from '../kv/alarms.js';
import type { Consistency, KvService } from '../kv/service.js';
import { MembershipError, type AddMemberRequest, type MembershipApi } from './membership.js';
import { NodeStoppedError, NotLeaderError, ProposalUnknownError, ReadIndexError } from '../node/errors.js';
import type { Logger } from '../util/log.js';
import type { Backup } from '../backup/format.js';
import { handleBackupRequest } from '../backup/take.js';
import { RateLimitedLog } from '../util/rate-limit.js';
import { ClientAbortedError, readJsonBody, type BodyLimits } from './body.js';
import { guardServer, httpServerOptions, resolveApiLimits, type ApiLimits, type ConnectionGateStats } from './limits.js';
import { RequestError } from './request-error.js';
import { PLAYGROUND_FILE, eventsCorsHeaders, eventsPreflight, serveDashboard } from './dashboard-route.js';
import { checkRequestLine, decodeComponent, parseTarget, strictQuery } from './request-target.js';
import { WatchCompactedError } from '../kv/watch-history.js';
import { txnKeys, validateTxn } from '../kv/txn.js';
import { WatchUnavailableError, type WatchHub } from '../server/watch.js';
import { LeaseLimitError, LeaseNotFoundError, validateLeaseId } from '../kv/leases.js';
import type { LeaseService } from '../kv/lease-service.js';
import { handleLeaseRoute } from './lease-routes.js';

/** What `GET /v1/status` reports. `role` is one of "leader", "follower", "candidate". */
export interface ApiStatus {
  readonly id: string;
  readonly role: 'leader' | 'follower' | 'candidate';
  readonly term: number;
  readonly leader: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly members: readonly string[];
}

export interface ApiOptions {
  readonly kv: KvService;
  readonly status: () => ApiStatus;
  /** Prometheus exposition, if metrics are enabled. */
  readonly metrics?: { readonly contentType: string; text(): Promise<string> };
  readonly logger: Logger;
  /** Largest request body accepted (bytes). Default 2 MiB. */
  readonly maxBodyBytes?: number;
  /** A request the cluster has not finished by then gets 504: its outcome is unknown (ms). Default 5 s. */
  readonly requestTimeoutMs?: number;
  /** Membership changes (`/v1/members`, `/v1/leader/transfer`); without it those routes answer 501. */
  readonly membership?: MembershipApi;
  /**
   * A membership change the cluster has not finished by then gets 504 (ms). Default 60 s: adding a
   * voter waits for it to catch up, removing one waits for the joint configuration to be left.
   */
  readonly membershipTimeoutMs?: number;
  /** A consistent backup of the store (`GET /v1/backup`); without it that route answers 404. */
  readonly backup?: () => Promise<Backup>;
  /** Why the node is shutting down, or null while it serves: `/healthz` answers 503 with it. */
  readonly stopping?: () => string | null;
  /** Bearer tokens and roles (`/v1/auth/...`, and every route checked while auth is enabled); without it, no auth. */
  readonly auth?: AuthService;
  /** Routes served without a token even while auth is enabled: any of `healthz`, `metrics`. Default both. */
  readonly authExempt?: readonly string[];
  /** Serve HTTPS only, with this certificate and key (PEM). */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Connection cap and timeouts (src/api/limits.ts); defaults for what is not given. */
  readonly limits?: Partial<ApiLimits>;
  /** Called for each connection refused because the cap was reached (a metric). */
  readonly onConnectionRefused?: () => void;
  /**
   * How reads without `?consistency=` are served (`tsraft serve --read-consistency`). Default
   * `linearizable`. `lease` (asked for or by default) falls back to ReadIndex where lease reads are off.
   */
  readonly readConsistency?: 'linearizable' | 'lease';
  /**
   * The live events stream (`GET /v1/events`, src/server/events.ts), and the members' API URLs
   * whose pages may read it from another origin; without it that route answers 404.
   */
  readonly events?: { serve(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): void; memberUrls(): readonly string[] };
  /** The dashboard page served at `/` and `/dashboard` (default: the one `npm run build` makes). */
  readonly dashboardFile?: string;
  /** The watch streams (`GET /v1/watch`, src/server/watch.ts); without it that route answers 404. */
  readonly watch?: Pick<WatchHub, 'serve'>;
  /** Leases (`/v1/leases`, src/api/lease-routes.ts); without it those routes answer 404. */
  readonly leases?: LeaseService;
}

/** The API server, with the counts of its connection cap and of the requests it received. */
export type ApiServer = (Server | HttpsServer) & { readonly connections: () => ConnectionGateStats; readonly requests: () => number };

/** A request refused with an HTTP status and a JSON error body. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

class TimeoutError extends Error {}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** The JSON object in the request's body; `optional`: an empty body reads as `{}`. */
function readBody(req: IncomingMessage, limits: BodyLimits, optional = false): Promise<Record<string, unknown>> {
  return readJsonBody(req, limits, optional);
}

/** The session of a request from its optional X-Client-Id and X-Request-Seq headers. */
function sessionOf(req: IncomingMessage): Session | undefined {
  const id = req.headers['x-client-id'];
  const seq = req.headers['x-request-seq'];
  if (id === undefined && seq === undefined) return undefined;
  if (typeof id !== 'string' || typeof seq !== 'string') throw new HttpError(400, 'invalid', 'X-Client-Id and X-Request-Seq go together');
  if (!/^\d+$/.test(seq)) throw new HttpError(400, 'invalid', `X-Request-Seq must be a positive integer, got '${seq}'`);
  try {
    return validateSession({ clientId: id, seq: Number(seq) });
  } catch (e) {
    throw new HttpError(400, 'invalid', (e as Error).message);
  }
}

function consistencyOf(query: ReadonlyMap<string, string>, fallback: Consistency): Consistency {
  const c = query.get('consistency') ?? fallback;
  if (c !== 'linearizable' && c !== 'lease' && c !== 'stale') throw new HttpError(400, 'invalid', `consistency must be 'linearizable', 'lease' or 'stale', got '${c}'`);
  return c;
}

function stringField(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  if (typeof v !== 'string') throw new HttpError(400, 'invalid', `field "${name}" must be a string`);
  return v;
}

/** A member's name: what `tsraft serve --id` accepts. */
const MEMBER_NAME = /^[A-Za-z0-9._-]{1,64}$/;
/** A data directory's uid, as `tsraft serve --join` sends it. */
const MEMBER_UID = /^[A-Za-z0-9._:-]{1,128}$/;

function memberName(v: unknown, what: string): string {
  if (typeof v !== 'string' || !MEMBER_NAME.test(v)) {
    throw new HttpError(400, 'invalid', `${what} must be 1 to 64 characters among A-Z a-z 0-9 . _ -, got ${JSON.stringify(v) ?? 'nothing'}`);
  }
  return v;
}

/** HOST:PORT with a host name, an IPv4 address or a bracketed IPv6 address, and a port in 1..65535. */
function hostPort(v: unknown, what: string): string {
  const m = typeof v === 'string' ? /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(\d{1,5})$/.exec(v) : null;
  const port = m === null ? 0 : Number(m[3]);
  if (m === null || port < 1 || port > 65535) throw new HttpError(400, 'invalid', `${what} must be HOST:PORT (port 1-65535), got ${JSON.stringify(v) ?? 'nothing'}`);
  return v as string;
}

/** An http(s) base URL without credentials, query or fragment; returned without a trailing slash. */
function baseUrl(v: unknown, what: string): string {
  let u: URL | null = null;
  if (typeof v === 'string') {
    try {
      u = new URL(v);
    } catch {
      u = null;
    }
  }
  if (u === null || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '') {
    throw new HttpError(400, 'invalid', `${what} must be an http:// or https:// URL without credentials, query or fragment, got ${JSON.stringify(v) ?? 'nothing'}`);
  }
  return (v as string).replace(/\/+$/, '');
}

/** Refuses fields a body must not have, so a typo is an error rather than a silently ignored option. */
function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new HttpError(400, 'invalid', `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}; expected ${allowed.join(', ')}`);
}

/** `POST /v1/members` body. */
function addMemberRequest(body: Record<string, unknown>): AddMemberRequest {
  onlyFields(body, ['name', 'peerAddress', 'apiUrl', 'learner', 'uid']);
  const learner = body['learner'] ?? false;
  if (typeof learner !== 'boolean') throw new HttpError(400, 'invalid', 'field "learner" must be true or false');
  const uid = body['uid'];
  if (uid !== undefined && (typeof uid !== 'string' || !MEMBER_UID.test(uid))) throw new HttpError(400, 'invalid', 'field "uid" must be 1 to 128 characters among A-Z a-z 0-9 . _ : -');
  return {
    name: memberName(body['name'], 'field "name"'),
    peerAddress: hostPort(body['peerAddress'], 'field "peerAddress"'),
    apiUrl: baseUrl(body['apiUrl'], 'field "apiUrl"'),
    learner,
    ...(uid !== undefined && { uid: uid as string }),
  };
}

/** `POST /v1/leader/transfer` body: `{"to": NAME}`, `{"to": null}`, `{}` or nothing (the most up-to-date voter). */
function transferTarget(body: Record<string, unknown>): string | null {
  onlyFields(body, ['to']);
  const to = body['to'] ?? null;
  return to === null ? null : memberName(to, 'field "to"');
}

const MEMBERSHIP_STATUS: Record<MembershipError['code'], [number, string]> = {
  'bad-request': [400, 'invalid'],
  'not-found': [404, 'not-found'],
  conflict: [409, 'conflict'],
  unavailable: [503, 'unavailable'],
};

/** Maps errors of the KV service and of membership changes to HTTP answers. */
function toHttp(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof RequestError) return new HttpError(e.status, e.code, e.message, e.close ? { connection: 'close' } : {});
  if (e instanceof MembershipError) {
    const [status, code] = MEMBERSHIP_STATUS[e.code] ?? [500, 'internal'];
    return new HttpError(status, code, e.message, status === 503 ? { 'retry-after': '1' } : {});
  }
  if (e instanceof KvNoSpaceError) return new HttpError(507, 'no-space', e.message, {}, { quotaBytes: e.quotaBytes, sizeBytes: e.sizeBytes });
  if (e instanceof AuthError) {
    const a = authHttpError(e);
    return new HttpError(a.status, a.code, a.message, a.headers);
  }
  if (e instanceof KvInputError) return new HttpError(400, 'invalid', e.message);
  if (e instanceof LeaseNotFoundError) return new HttpError(404, 'lease-not-found', e.message);
  if (e instanceof LeaseLimitError) return new HttpError(429, 'too-many-leases', e.message, {}, { maxLeases: e.maxLeases });
  if (e instanceof WatchCompactedError) return new HttpError(410, 'compacted', e.message, {}, { oldestRevision: e.oldestRevision });
  if (e instanceof WatchUnavailableError) return new HttpError(503, 'unavailable', e.message, { 'retry-after': '1' });
  if (e instanceof KvSessionError) return new HttpError(409, e.reason, e.message);
  if (e instanceof TimeoutError || e instanceof ProposalUnknownError) {
    return new HttpError(504, 'timeout', `${e.message}; the request may or may not have taken effect: retry with the same X-Client-Id and X-Request-Seq`);
  }
  if (e instanceof NotLeaderError) return new HttpError(503, 'no-leader', 'the cluster has no leader at the moment', { 'retry-after': '1' });
  if (e instanceof ReadIndexError) return new HttpError(503, 'unavailable', e.message, { 'retry-after': '1' });
  if (e instanceof NodeStoppedError) return new HttpError(503, 'stopping', 'this node is shutting down', { 'retry-after': '1' });
  return new HttpError(500, 'internal', e instanceof Error ? e.message : String(e));
}

/**
 * The node's HTTP API (see docs/API.md): the key-value endpoints under
 * `/v1/kv`, membership under `/v1/members` and `/v1/leader/transfer`,
 * `/v1/status`, `/healthz` and `/metrics`. Any node serves any request: reads
 * by ReadIndex, writes forwarded to the leader by Raft.
 */
export function createApiServer(opts: ApiOptions): ApiServer {
  const limits = resolveApiLimits(opts.limits);
  const limit: BodyLimits = { maxBytes: opts.maxBodyBytes ?? 2 << 20, idleTimeoutMs: limits.bodyIdleTimeoutMs };
  // Everything a client can make us log is rate-limited: at most 5 lines per kind per 10 s.
  const log = new RateLimitedLog(opts.logger, { intervalMs: 10_000, burst: 5 });
  const timeoutMs = opts.requestTimeoutMs ?? 5_000;
  const membershipTimeoutMs = opts.membershipTimeoutMs ?? 60_000;
  const kv = opts.kv;
  const readDefault = opts.readConsistency ?? 'linearizable';
  const auth = opts.auth;
  const exempt = new Set(opts.authExempt ?? ['healthz', 'metrics']);

  const withTimeout = <T>(p: Promise<T>, ms = timeoutMs): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new TimeoutError(`not completed within ${ms} ms`)), ms);
      p.then(
        (v) => {
          clearTimeout(t);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(t);
          reject(e);
        },
      );
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    checkRequestLine(req);
    const url = parseTarget(req.url);
    const method = req.method ?? 'GET';
    const p = url.pathname;
    const allow = (methods: string): void => {
      if (!methods.split(', ').includes(method)) throw new HttpError(405, 'method-not-allowed', `${method} is not allowed on ${p}`, { allow: methods });
    };
    // The caller's token (its SHA-256); `need` refuses (401/403) what it may not do in this node's auth state.
    const by = bearerHash(req);
    const need = (perm: Permission): void => auth?.demand(by, perm);

    if (p === '/' || p === '/dashboard') {
      // A static page with no data in it: served without a token (the stream it reads asks for one).
      allow('GET, HEAD');
      return serveDashboard(req, res, opts.dashboardFile);
    }
    if (p === '/playground') {
      // The playground runs a simulated cluster in the page; it reads nothing from this node.
      allow('GET, HEAD');
      return serveDashboard(req, res, PLAYGROUND_FILE);
    }
    if (p === '/v1/events' && opts.events !== undefined) {
      const events = opts.events;
      if (method === 'OPTIONS') return eventsPreflight(req, res, () => events.memberUrls());
      const cors = eventsCorsHeaders(req, () => events.memberUrls());
      // Errors (401, 403, 405) carry the CORS headers too, so a page from another member can read them.
      for (const [k, v] of Object.entries(cors)) res.setHeader(k, v);
      allow('GET');
      need({ kind: 'authenticated' });
      strictQuery(url, []);
      return events.serve(req, res, cors);
    }
    if (p === '/v1/watch' && opts.watch !== undefined) {
      allow('GET');
      const query = strictQuery(url, ['prefix', 'fromRevision']);
      const prefix = query.get('prefix') ?? '';
      // An EventSource that reconnects sends the id of the last event it got: a revision.
      const lastId = req.headers['last-event-id'];
      const from = query.get('fromRevision') ?? (typeof lastId === 'string' && lastId !== '' ? String(Number(lastId) + 1) : undefined);
      if (from !== undefined && (!/^\d+$/.test(from) || !Number.isSafeInteger(Number(from)) || Number(from) < 1)) {
        throw new HttpError(400, 'invalid', `fromRevision must be an integer >= 1, got '${query.get('fromRevision') ?? `Last-Event-ID ${String(lastId)}`}'`);
      }
      const perm: Permission = { kind: 'list', prefix };
      need(perm);
      // Re-checked before each delivery: a revoked token or role stops the stream.
      const allowed = (): { error: 'unauthenticated' | 'permission-denied'; message: string } | null => {
        const c = auth?.state.check(by, perm) ?? { ok: true };
        return c.ok || (c.error !== 'unauthenticated' && c.error !== 'permission-denied') ? null : { error: c.error, message: c.message };
      };
      return opts.watch.serve(res, { prefix, fromRevision: from === undefined ? undefined : Number(from), ...(auth !== undefined && { allowed }) });
    }
    if (p === '/healthz') {
      allow('GET');
      if (!exempt.has('healthz')) need({ kind: 'authenticated' });
      const stopping = opts.stopping?.() ?? null;
      if (stopping !== null) return send(res, 503, { ok: false, error: 'stopping', message: `this node is shutting down: ${stopping}` }, { 'retry-after': '1' });
      return send(res, 200, { ok: true });
    }
    if (p === '/v1/backup' && opts.backup !== undefined) {
      need({ kind: 'admin' });
      return handleBackupRequest(req, res, opts.backup);
    }
    if (p === '/v1/status') {
      allow('GET');
      need({ kind: 'authenticated' });
      return send(res, 200, opts.status());
    }
    if ((p === '/v1/auth' || p.startsWith('/v1/auth/')) && auth !== undefined) {
      const r = await handleAuthRoute({ auth, by, method, rest: p.slice('/v1/auth'.length), body: () => readBody(req, limit, true), timed: (q) => withTimeout(q), allow });
      if (r === null) throw new HttpError(404, 'not-found', `no such endpoint: ${p}`);
      return send(res, r.status, r.body);
    }
    if (p === '/metrics') {
      allow('GET');
      if (!exempt.has('metrics')) need({ kind: 'authenticated' });
      if (opts.metrics === undefined) throw new HttpError(404, 'not-found', 'metrics are not enabled');
      const text = await opts.metrics.text();
      res.writeHead(200, { 'content-type': opts.metrics.contentType });
      res.end(text);
      return;
    }
    if (p === '/v1/members' || p.startsWith('/v1/members/') || p === '/v1/leader/transfer') return handleMembership(req, res, url, method);
    if (p === '/v1/alarms' || p === '/v1/alarms/disarm') {
      // Listing alarms is like reading the status; disarming changes the cluster: admin only.
      need(p === '/v1/alarms' ? { kind: 'authenticated' } : { kind: 'admin' });
      return handleAlarms(req, res, url, method);
    }
    if ((p === '/v1/leases' || p.startsWith('/v1/leases/')) && opts.leases !== undefined) {
      need({ kind: 'authenticated' });
      const query = strictQuery(url, method === 'GET' ? ['consistency'] : []);
      const leases = opts.leases;
      const r = await handleLeaseRoute({ leases, method, rest: p.slice('/v1/leases'.length), body: () => readBody(req, limit), timed: (q) => withTimeout(q), consistency: consistencyOf(query, readDefault), allow, by: auth?.state.enabled === true ? by : undefined, session: () => sessionOf(req) });
      if (r === null) throw new HttpError(404, 'not-found', `no such endpoint: ${p}`);
      return send(res, r.status, r.body);
    }
    if (p === '/v1/txn') {
      allow('POST');
      strictQuery(url, []);
      // A caller without a valid token is refused before its body is read.
      need({ kind: 'authenticated' });
      const t = validateTxn(await readBody(req, limit), kv.sm.limits);
      // Refused here if this node's auth state says so (nothing proposed), and re-checked at apply time.
      const keys = txnKeys(t);
      for (const key of keys.read) need({ kind: 'read', key });
      for (const key of keys.write) need({ kind: 'write', key });
      const r = await withTimeout(kv.txn(t, sessionOf(req), auth?.state.enabled === true ? by : undefined));
      return send(res, 200, r);
    }
    if (p === '/v1/kv' || p === '/v1/kv/') {
      if (method !== 'GET' && p === '/v1/kv/') throw new HttpError(400, 'invalid', 'key must not be empty');
      allow('GET');
      const query = strictQuery(url, ['prefix', 'limit', 'consistency']);
      const prefix = query.get('prefix') ?? '';
      const limitParam = query.get('limit');
      let max: number | undefined;
      if (limitParam !== undefined) {
        if (!/^\d+$/.test(limitParam) || !Number.isSafeInteger(Number(limitParam))) throw new HttpError(400, 'invalid', `limit must be a non-negative integer, got '${limitParam}'`);
        max = Number(limitParam);
      }
      const c = consistencyOf(query, readDefault);
      // A linearizable read is judged after the ReadIndex wait, against the auth state as of the read.
      return send(res, 200, await withTimeout(kv.listAt(prefix, c, max, () => need({ kind: 'list', prefix }))));
    }
    if (!p.startsWith('/v1/kv/')) throw new HttpError(404, 'not-found', `no such endpoint: ${p}`);

    let rawKey = p.slice('/v1/kv/'.length);
    const isAppend = method === 'POST' && rawKey.endsWith('/append');
    if (isAppend) rawKey = rawKey.slice(0, -'/append'.length);
    const key = decodeComponent(rawKey, 'the key');
    if (key.length === 0) throw new HttpError(400, 'invalid', 'key must not be empty');
    const query = strictQuery(url, method === 'GET' ? ['consistency'] : []);

    // Writes: refused here if this node's auth state says so (nothing proposed), and re-checked at apply time.
    const writer = (): string | undefined => {
      need({ kind: 'write', key });
      return auth?.state.enabled === true ? by : undefined;
    };
    if (isAppend) {
      const w = writer();
      const body = await readBody(req, limit);
      onlyFields(body, ['value']);
      const r = await withTimeout(kv.append(key, stringField(body, 'value'), sessionOf(req), w));
      return send(res, 200, { revision: r.revision });
    }
    switch (method) {
      case 'GET': {
        const item = await withTimeout(kv.get(key, consistencyOf(query, readDefault), () => need({ kind: 'read', key })));
        if (item === null) return send(res, 404, { error: 'not-found', message: `key ${JSON.stringify(key)} does not exist` });
        return send(res, 200, item);
      }
      case 'PUT': {
        const w = writer();
        const body = await readBody(req, limit);
        onlyFields(body, ['value', 'prevValue', 'lease']);
        const value = stringField(body, 'value');
        const session = sessionOf(req);
        let lease: number | undefined;
        try {
          lease = body['lease'] === undefined ? undefined : validateLeaseId(body['lease'], 'field "lease"');
        } catch (e) {
          throw new HttpError(400, 'invalid', (e as Error).message);
        }
        if (lease !== undefined && Object.hasOwn(body, 'prevValue')) throw new HttpError(400, 'invalid', 'fields "lease" and "prevValue" exclude each other: attach a key by compare-and-swap with POST /v1/txn');
        if (Object.hasOwn(body, 'prevValue')) {
          const prev = body['prevValue'];
          if (prev !== null && typeof prev !== 'string') throw new HttpError(400, 'invalid', 'field "prevValue" must be a string or null');
          const r = await withTimeout(kv.cas(key, prev, value, session, w));
          if (!r.swapped) return send(res, 412, { error: 'precondition-failed', message: 'the current value is not prevValue', current: r.current });
          return send(res, 200, { revision: r.revision });
        }
        const r = await withTimeout(kv.put(key, value, session, w, lease));
        return send(res, 200, { revision: r.revision });
      }
      case 'DELETE': {
        const r = await withTimeout(kv.delete(key, sessionOf(req), writer()));
        if (!r.deleted) return send(res, 404, { error: 'not-found', message: `key ${JSON.stringify(key)} does not exist` });
        return send(res, 200, { revision: r.revision });
      }
      default:
        throw new HttpError(405, 'method-not-allowed', `${method} is not allowed on ${p}`, { allow: 'GET, PUT, DELETE' });
    }
  };

  /** `GET /v1/alarms` and `POST /v1/alarms/disarm` (body `{}` or `{"alarm": "NOSPACE"}`). */
  const handleAlarms = async (req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<void> => {
    if (url.pathname === '/v1/alarms') {
      if (method !== 'GET') throw new HttpError(405, 'method-not-allowed', `${method} is not allowed on ${url.pathname}`, { allow: 'GET' });
      return send(res, 200, { alarms: await withTimeout(kv.alarms(consistencyOf(strictQuery(url, ['consistency']), readDefault))) });
    }
    if (method !== 'POST') throw new HttpError(405, 'method-not-allowed', `${method} is not allowed on ${url.pathname}`, { allow: 'POST' });
    const body = await readBody(req, limit, true);
    onlyFields(body, ['alarm']);
    let alarm;
    try {
      alarm = body['alarm'] === undefined ? undefined : validateAlarmName(body['alarm']);
    } catch (e) {
      throw new HttpError(400, 'invalid', `field "alarm": ${(e as Error).message}`);
    }
    return send(res, 200, await withTimeout(kv.disarm(alarm)));
  };

  /** `/v1/members[/{name}[/promote]]` and `/v1/leader/transfer`. */
  const handleMembership = async (req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<void> => {
    const p = url.pathname;
    const allow = (methods: string): void => {
      if (!methods.split(', ').includes(method)) throw new HttpError(405, 'method-not-allowed', `${method} is not allowed on ${p}`, { allow: methods });
    };
    const parts = p.split('/').slice(3); // after '', 'v1', 'members' | 'leader'
    let route: 'members' | 'member' | 'promote' | 'transfer';
    if (p === '/v1/leader/transfer') {
      allow('POST');
      route = 'transfer';
    } else if (parts.length === 0) {
      allow('GET, POST');
      route = 'members';
    } else if (parts.length === 1) {
      allow('DELETE');
      route = 'member';
    } else if (parts.length === 2 && parts[1] === 'promote') {
      allow('POST');
      route = 'promote';
    } else {
      throw new HttpError(404, 'not-found', `no such endpoint: ${p}`);
    }
    const membership = opts.membership;
    if (membership === undefined) throw new HttpError(501, 'not-implemented', 'this node does not offer membership changes');
    // Listing needs any valid token; a change needs admin. A forwarded call carries the caller's token on.
    auth?.demand(bearerHash(req), route === 'members' && method === 'GET' ? { kind: 'authenticated' } : { kind: 'admin' });
    const caller = { authorization: req.headers['authorization'] };
    let name = '';
    if (route === 'member' || route === 'promote') {
      name = memberName(decodeComponent(parts[0]!, 'the member name'), 'the member name');
    }
    const slow = <T>(q: Promise<T>): Promise<T> =>
      withTimeout(q, membershipTimeoutMs).catch((e: unknown) => {
        if (!(e instanceof TimeoutError)) throw e;
        throw new HttpError(504, 'timeout', `the change did not complete within ${membershipTimeoutMs} ms; it may still complete: check GET /v1/members before retrying`);
      });
    switch (route) {
      case 'members':
        if (method === 'GET') return send(res, 200, await withTimeout(membership.list(caller)));
        return send(res, 201, await slow(membership.add(addMemberRequest(await readBody(req, limit)), caller)));
      case 'promote':
        onlyFields(await readBody(req, limit, true), []);
        return send(res, 200, { member: await slow(membership.promote(name, caller)) });
      case 'member':
        await slow(membership.remove(name, caller));
        return send(res, 200, { removed: name });
      case 'transfer':
        return send(res, 200, await slow(membership.transferLeader(transferTarget(await readBody(req, limit, true)), caller)));
    }
  };

  let requests = 0;
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    requests += 1;
    gate.served(req.socket);
    handle(req, res).catch((e: unknown) => {
      // A client that went away is not an error of ours, and there is no one to answer.
      if (e instanceof ClientAbortedError || req.socket.destroyed) {
        log.log('debug', 'aborted', { url: req.url, method: req.method }, 'client went away before the end of its request');
        if (!res.writableEnded) res.destroy();
        return;
      }
      const h = toHttp(e);
      // Only a failure of ours is an error; what the client sent or the cluster's state is not.
      if (h.code === 'internal') log.log('error', `failed:${h.code}`, { err: e, url: req.url, method: req.method }, 'request failed');
      if (!res.headersSent) send(res, h.status, { error: h.code, message: h.message, ...h.extra }, h.headers);
      else res.destroy();
      // A body we refused may still be arriving: drain it so the connection can be reused (unless it is closed).
      if (h.headers['connection'] !== 'close') req.resume();
    });
  };
  // With a certificate the API speaks HTTPS only: a plain HTTP request fails the TLS handshake.
  const server: Server | HttpsServer =
    opts.tls !== undefined ? createHttpsServer({ ...httpServerOptions(limits), cert: opts.tls.cert, key: opts.tls.key }, onRequest) : createServer(httpServerOptions(limits), onRequest);
  const gate = guardServer(server, limits, log, opts.onConnectionRefused);
  return Object.assign(server, { connections: () => gate.stats, requests: () => requests });
}
