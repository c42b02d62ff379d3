/**
 * `tsraft/client`: a client for the HTTP API of a tsraft cluster. It tries the
 * endpoint that last answered first and fails over to the others, retries what
 * is safe to retry, and gives every write a session id (client id + sequence
 * number) so a retried write applies exactly once. It learns the cluster's
 * members from `GET /v1/members`, so it keeps working as nodes come and go.
 */
import type { Role } from '../auth/model.js';
import type { Alarm, AlarmName } from '../kv/alarms.js';
import type { AddMemberResult, MemberView, MembersView } from '../api/membership.js';
import { caFetchOptions } from '../security/https-client.js';
import { readSse } from './sse.js';
import type { TxnCompare, TxnOp, TxnOpResult } from '../kv/txn.js';
import type { LeaseView } from '../kv/leases.js';

export type { LeaseView } from '../kv/leases.js';

/** A running {@link KvClient.keepLeaseAlive}: `stop()` ends it; `done` settles when it ends (rejects if the lease was lost). */
export interface LeaseKeeper {
  stop(): void;
  readonly done: Promise<void>;
}

export type { TxnCompare, TxnCompareOp, TxnItem, TxnOp, TxnOpResult, TxnTarget } from '../kv/txn.js';

/** What {@link KvClient.txn} sends: compares, then `success` if all hold, else `failure`. */
export interface TxnRequest {
  readonly compare?: readonly TxnCompare[];
  readonly success?: readonly TxnOp[];
  readonly failure?: readonly TxnOp[];
}

/** What a transaction answered: which branch applied, at which revision, and each operation's result. */
export interface TxnResponse {
  readonly succeeded: boolean;
  readonly revision: number;
  readonly results: readonly TxnOpResult[];
}

export type { AddMemberResult, MemberView, MembersView } from '../api/membership.js';

/** How a read is served (the `consistency` query parameter): see docs/API.md. */
export type ReadConsistency = 'linearizable' | 'lease' | 'stale';

/** What {@link KvClient.addMember} sends: the new node's name and addresses. */
export interface AddMemberOptions {
  readonly name: string;
  /** Where its Raft transport listens (HOST:PORT). */
  readonly peerAddress: string;
  /** Its HTTP API base URL. */
  readonly apiUrl: string;
  /** Keep it a learner; by default the leader promotes it to voter once it has caught up. */
  readonly learner?: boolean;
  /** The node's data-directory uid (sent by `tsraft serve --join`). */
  readonly uid?: string;
}

/** A key's value, the revisions (log indexes) that last modified and created it, and its lease if it has one. */
export interface KvItem {
  readonly key: string;
  readonly value: string;
  /** The revision that last modified the key. */
  readonly revision: number;
  /** The revision that created the key (since it last did not exist). */
  readonly createRevision: number;
  /** The lease the key is attached to; absent when it has none. */
  readonly lease?: number;
}

export interface KvClientOptions {
  /** Base URLs of the nodes' APIs, e.g. `http://127.0.0.1:7101`. Any node serves any request. */
  readonly endpoints: readonly string[];
  /** How long one operation may take, all retries included (ms). Default 10 s. */
  readonly timeoutMs?: number;
  /** How long one HTTP attempt may take (ms). Default 3 s. */
  readonly requestTimeoutMs?: number;
  /** The session prefix; default a random one. */
  readonly clientId?: string;
  /**
   * Learn the endpoints from the cluster (`GET /v1/members`: every member's
   * apiUrl) when a request fails over and every `refreshIntervalMs`. Default
   * true; a cluster without membership support (501) turns it off.
   */
  readonly discover?: boolean;
  /** How often the member list is refreshed while the client is used (ms). Default 30 s. */
  readonly refreshIntervalMs?: number;
  /** How long a membership change or leadership transfer may take (ms). Default 60 s. */
  readonly adminTimeoutMs?: number;
  /** The CA certificate (PEM) to trust for https:// endpoints: the cluster's `ca.pem`. */
  readonly ca?: string | Buffer;
  /** A bearer token, sent as `Authorization: Bearer <token>` with every request. */
  readonly token?: string;
}

/** A role: the key prefixes it may read and write ("" is every key), and whether it may administer (the replicated model's own type). */
export type AuthRole = Role;

/** `GET /v1/auth/status`. */
export interface AuthStatus {
  readonly enabled: boolean;
  /** The name of the token that asked; null without one (or while auth is off and it is unknown). */
  readonly token: string | null;
}

/** An error the server reported, or a request it refused. */
export class KvClientError extends Error {
  override name = 'KvClientError';
  constructor(
    message: string,
    /** HTTP status, or 0 if no server answered. */
    readonly status: number,
    /** The server's error code (`invalid`, `session-expired`, ...) when it gave one. */
    readonly code: string,
  ) {
    super(message);
  }
}

/** One change seen by {@link KvClient.watch}: a put (or append, or swap) with the new value, or a delete. */
export type WatchEvent =
  | { readonly type: 'put'; readonly key: string; readonly value: string; readonly revision: number; readonly createRevision: number }
  | { readonly type: 'delete'; readonly key: string; readonly revision: number };

/** Options of {@link KvClient.watch}. */
export interface WatchOptions {
  /** The first revision to receive (inclusive); default: the next revision the node applies. */
  readonly fromRevision?: number;
  /** Ends the watch (the iteration then simply ends). */
  readonly signal?: AbortSignal;
  /** A stream that sends nothing (not even its progress event, every second) this long is reconnected (ms). Default 5000. */
  readonly idleTimeoutMs?: number;
}

/**
 * A watch cannot continue: the revision it needs is no longer held by any
 * node (`compacted`, or `slow-watcher` if it did not read fast enough). Read
 * the current state and watch again from its revision + 1.
 */
export class WatchCompactedError extends KvClientError {
  override name = 'WatchCompactedError';
  constructor(
    message: string,
    code: string,
    /** The revision the watch needed next. */
    readonly nextRevision: number,
    /** The oldest revision still held by the node that answered last. */
    readonly oldestRevision: number,
  ) {
    super(message, 410, code);
  }
}

/** No endpoint completed the operation in time. For a write, its outcome is unknown. */
export class UnavailableError extends KvClientError {
  override name = 'UnavailableError';
}

interface SessionSlot {
  readonly clientId: string;
  seq: number;
}

interface Attempt {
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  readonly session?: SessionSlot;
  /**
   * Not idempotent and without a session (membership changes): retried only
   * when it certainly did not take effect (503, connection refused).
   */
  readonly once?: boolean;
  /** Per-attempt and total time (ms), instead of requestTimeoutMs / timeoutMs. */
  readonly timeoutMs?: number;
}

/** At most this many endpoints are kept from a member list. */
const MAX_ENDPOINTS = 64;
/** Failovers refresh the member list at most this often (ms). */
const MIN_REFRESH_GAP_MS = 1_000;

const normalize = (url: string): string => url.replace(/\/+$/, '');

/** True when fetch failed before the request could reach a server (nothing was sent). */
function notSent(e: unknown): boolean {
  const cause = (e as { cause?: { code?: unknown; errors?: { code?: unknown }[] } }).cause;
  if (cause?.code === 'ECONNREFUSED') return true;
  // Several addresses tried (localhost: ::1 and 127.0.0.1), all refused.
  return Array.isArray(cause?.errors) && cause.errors.length > 0 && cause.errors.every((x) => x.code === 'ECONNREFUSED');
}

type Outcome = { status: number; json: Record<string, unknown> };

function randomId(): string {
  const b = new Uint8Array(9);
  globalThis.crypto.getRandomValues(b);
  return Buffer.from(b).toString('base64url');
}

export class KvClient {
  private endpoints: string[];
  private preferred = 0;
  private readonly timeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly clientId: string;
  private discover: boolean;
  private readonly refreshIntervalMs: number;
  private readonly adminTimeoutMs: number;
  /** When the member list was last asked for (ms since the epoch); 0: never. */
  private lastRefresh = 0;
  private refreshing: Promise<void> | null = null;
  /** Free sessions: each write in flight holds one, so concurrent writes keep their order per session. */
  private readonly freeSlots: SessionSlot[] = [];
  private slotCount = 0;
  /** The CA's dispatcher, if any. */
  private readonly fetchOptions: Record<string, unknown>;
  private readonly authHeaders: Record<string, string>;

  constructor(opts: KvClientOptions) {
    if (opts.endpoints.length === 0) throw new Error('KvClient needs at least one endpoint');
    this.endpoints = [...new Set(opts.endpoints.map(normalize))];
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 3_000;
    this.clientId = opts.clientId ?? randomId();
    this.discover = opts.discover ?? true;
    this.refreshIntervalMs = opts.refreshIntervalMs ?? 30_000;
    this.adminTimeoutMs = opts.adminTimeoutMs ?? 60_000;
    this.fetchOptions = caFetchOptions(opts.ca);
    this.authHeaders = opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` };
  }

  /** `fetch` with the CA and the token. */
  private fetch(url: string, init: RequestInit = {}): Promise<Response> {
    return fetch(url, { ...init, headers: { ...this.authHeaders, ...(init.headers as Record<string, string> | undefined) }, ...this.fetchOptions } as RequestInit);
  }

  /** The endpoints the client uses now, the one it tries first at the head. */
  get currentEndpoints(): readonly string[] {
    return [...this.endpoints.slice(this.preferred), ...this.endpoints.slice(0, this.preferred)];
  }

  /**
   * Asks the cluster for its members (the preferred endpoint, then the others
   * in parallel, the first answer wins) and adopts their API URLs. Keeps the current list if
   * no endpoint answers; stops discovering if the cluster has no membership
   * API. Concurrent calls share one request.
   */
  refreshEndpoints(): Promise<void> {
    if (this.refreshing !== null) return this.refreshing;
    this.lastRefresh = Date.now();
    const ask = async (base: string): Promise<MembersView> => {
      const res = await this.fetch(`${base}/v1/members`, { signal: AbortSignal.timeout(this.requestTimeoutMs) });
      if (res.status === 501 || res.status === 404) this.discover = false;
      if (res.status !== 200) throw new Error(`${base}: HTTP ${res.status}`);
      return (await res.json()) as MembersView;
    };
    // The preferred endpoint first (one request per refresh in the common case), then all the others at once.
    const [first, ...rest] = this.currentEndpoints;
    this.refreshing = ask(first!)
      .catch(() => (rest.length > 0 ? Promise.any(rest.map(ask)) : Promise.reject(new Error('no endpoint answered'))))
      .then(
        (view) => this.adopt(view),
        () => undefined,
      )
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  /** Takes the members' API URLs as the endpoints, keeping the preferred one first if it is still a member, else the leader's. */
  private adopt(view: MembersView): void {
    if (!Array.isArray(view.members)) return;
    const urls = [...new Set(view.members.map((m) => m.apiUrl).filter((u): u is string => typeof u === 'string' && /^https?:\/\//.test(u)).map(normalize))].slice(0, MAX_ENDPOINTS);
    if (urls.length === 0) return;
    const current = this.endpoints[this.preferred];
    const leaderUrl = view.members.find((m) => m.name === view.leader)?.apiUrl;
    const first = current !== undefined && urls.includes(current) ? current : leaderUrl !== undefined ? normalize(leaderUrl) : urls[0]!;
    this.endpoints = urls;
    this.preferred = Math.max(0, urls.indexOf(first));
  }

  /** A periodic refresh in the background, if one is due. */
  private maybeRefresh(): void {
    if (this.discover && Date.now() - this.lastRefresh >= this.refreshIntervalMs) void this.refreshEndpoints();
  }

  /** On failover: refresh now (waiting for it) unless one ran within the last second. */
  private async refreshOnFailover(): Promise<void> {
    if (this.discover && (this.refreshing !== null || Date.now() - this.lastRefresh >= MIN_REFRESH_GAP_MS)) await this.refreshEndpoints();
  }

  /**
   * The value of `key`, or null if it does not exist. Linearizable unless `stale` (or
   * `consistency: 'stale'`); `consistency: 'lease'` lets a leader with a lease skip the
   * heartbeat round (still linearizable within the cluster's clock drift bound: docs/API.md).
   * Without either, the server's default (`tsraft serve --read-consistency`).
   */
  async get(key: string, opts: { stale?: boolean; consistency?: ReadConsistency } = {}): Promise<KvItem | null> {
    const c = opts.consistency ?? (opts.stale === true ? 'stale' : undefined);
    const r = await this.run({ method: 'GET', path: `/v1/kv/${encodeURIComponent(key)}${c !== undefined ? `?consistency=${c}` : ''}` }, [200, 404]);
    return r.status === 404 ? null : (r.json as unknown as KvItem);
  }

  /** `opts.lease`: attach the key to that lease (deleted with it); without it the key is attached to no lease. */
  async put(key: string, value: string, opts: { lease?: number } = {}): Promise<{ revision: number }> {
    const body = opts.lease === undefined ? { value } : { value, lease: opts.lease };
    return (await this.write({ method: 'PUT', path: `/v1/kv/${encodeURIComponent(key)}`, body }, [200])).json as { revision: number };
  }

  /**
   * Grants a lease of `ttl` seconds (`POST /v1/leases`); its id is the revision of the grant.
   * Sent with a session like a write: retried after a lost answer, it returns the same lease.
   * A {@link KvClientError} `too-many-leases` (429) when the cluster holds its maximum.
   */
  async grantLease(ttl: number): Promise<{ id: number; ttl: number; revision: number }> {
    return (await this.write({ method: 'POST', path: '/v1/leases', body: { ttl } }, [200])).json as unknown as { id: number; ttl: number; revision: number };
  }

  /** Renews lease `id` for its full TTL; a {@link KvClientError} with code `lease-not-found` if it is gone. */
  async keepAlive(id: number): Promise<{ id: number; ttl: number; revision: number }> {
    return (await this.write({ method: 'POST', path: `/v1/leases/${id}/keepalive` }, [200])).json as unknown as { id: number; ttl: number; revision: number };
  }

  /** Revokes lease `id`: its keys are deleted at the revision returned. */
  async revokeLease(id: number): Promise<{ id: number; revision: number; deletedKeys: number }> {
    return (await this.write({ method: 'DELETE', path: `/v1/leases/${id}` }, [200])).json as unknown as { id: number; revision: number; deletedKeys: number };
  }

  /** Every lease, with its TTL, time left and keys. */
  async listLeases(): Promise<LeaseView[]> {
    return (await this.run({ method: 'GET', path: '/v1/leases' }, [200])).json['leases'] as LeaseView[];
  }

  /** Lease `id`, or null if it does not exist. */
  async getLease(id: number): Promise<LeaseView | null> {
    const r = await this.run({ method: 'GET', path: `/v1/leases/${id}` }, [200, 404]);
    return r.status === 404 ? null : (r.json as unknown as LeaseView);
  }

  /**
   * Keeps lease `id` alive until {@link LeaseKeeper.stop}: a keep-alive every
   * `intervalMs` (default a third of the TTL). A failed keep-alive is retried
   * at the next beat (the client fails over meanwhile); `done` rejects when the
   * lease is gone (expired or revoked) and resolves on stop.
   */
  keepLeaseAlive(id: number, opts: { ttl: number; intervalMs?: number; onError?: (e: unknown) => void }): LeaseKeeper {
    const every = opts.intervalMs ?? Math.max(100, (opts.ttl * 1000) / 3);
    let stopped = false;
    let wake: (() => void) | null = null;
    let timer: NodeJS.Timeout | undefined;
    const done = (async () => {
      while (!stopped) {
        try {
          await this.keepAlive(id);
        } catch (e) {
          if (e instanceof KvClientError && e.code === 'lease-not-found') throw e;
          opts.onError?.(e);
        }
        if (stopped) break;
        await new Promise<void>((r) => {
          wake = r;
          timer = setTimeout(r, every);
        });
      }
    })();
    return {
      stop: () => {
        stopped = true;
        clearTimeout(timer);
        wake?.();
      },
      done,
    };
  }

  async append(key: string, value: string): Promise<{ revision: number }> {
    return (await this.write({ method: 'POST', path: `/v1/kv/${encodeURIComponent(key)}/append`, body: { value } }, [200])).json as { revision: number };
  }

  /** Deletes `key`; `deleted` says whether it existed. */
  async delete(key: string): Promise<{ deleted: boolean; revision?: number }> {
    const r = await this.write({ method: 'DELETE', path: `/v1/kv/${encodeURIComponent(key)}` }, [200, 404]);
    return r.status === 404 ? { deleted: false } : { deleted: true, revision: r.json['revision'] as number };
  }

  /**
   * Sets `value` if the current value is `expected` (null: the key must not
   * exist). Returns whether it swapped and, if not, what the value was.
   */
  async cas(key: string, expected: string | null, value: string): Promise<{ swapped: boolean; revision?: number; current?: string | null }> {
    const r = await this.write({ method: 'PUT', path: `/v1/kv/${encodeURIComponent(key)}`, body: { value, prevValue: expected } }, [200, 412]);
    if (r.status === 412) return { swapped: false, current: (r.json['current'] as string | null | undefined) ?? null };
    return { swapped: true, revision: r.json['revision'] as number };
  }

  /**
   * A transaction (`POST /v1/txn`): the compares are evaluated and the
   * `success` or `failure` operations applied atomically at one revision,
   * exactly once even when retried on another node (the write's session).
   */
  async txn(t: TxnRequest): Promise<TxnResponse> {
    const body = { compare: t.compare ?? [], success: t.success ?? [], failure: t.failure ?? [] };
    return (await this.write({ method: 'POST', path: '/v1/txn', body }, [200])).json as unknown as TxnResponse;
  }

  /** Keys starting with `prefix`, in order. */
  async list(prefix: string, opts: { stale?: boolean; consistency?: ReadConsistency; limit?: number } = {}): Promise<KvItem[]> {
    return (await this.listAt(prefix, opts)).items;
  }

  /**
   * {@link list}, and the store's revision the items were read at: every change
   * up to it is in them and none after, so a watch from `revision + 1` misses nothing.
   */
  async listAt(prefix: string, opts: { stale?: boolean; consistency?: ReadConsistency; limit?: number } = {}): Promise<{ items: KvItem[]; revision: number }> {
    const q = new URLSearchParams({ prefix });
    const c = opts.consistency ?? (opts.stale === true ? 'stale' : undefined);
    if (c !== undefined) q.set('consistency', c);
    if (opts.limit !== undefined) q.set('limit', String(opts.limit));
    const r = await this.run({ method: 'GET', path: `/v1/kv?${q.toString()}` }, [200]);
    return { items: r.json['items'] as KvItem[], revision: r.json['revision'] as number };
  }

  /**
   * The changes under `prefix` from `fromRevision` on, in revision order, each
   * once: a stream that breaks (a node that stops, a network fault, an idle
   * stream) is reopened on the next endpoint from the last complete revision
   * received + 1 (or past the last progress event); if it broke in the middle of
   * a revision's changes (a transaction), from that revision, dropping the
   * changes of it already yielded (by key). Throws {@link WatchCompactedError} when
   * no node holds the revision needed any more, and {@link KvClientError} for a
   * refusal (invalid request, 401, 403). Ends when `signal` aborts or the loop breaks.
   */
  async *watch(prefix: string, opts: WatchOptions = {}): AsyncGenerator<WatchEvent, void, undefined> {
    let next = opts.fromRevision;
    /** The keys received of revision `next` when it is not complete yet (a transaction's changes arrive one event each). */
    let partial: { revision: number; keys: Set<string> } | null = null;
    let failures = 0;
    let compacted = 0;
    let i = this.preferred;
    const idleMs = opts.idleTimeoutMs ?? 5000;
    const aborted = (): boolean => opts.signal?.aborted === true;
    while (!aborted()) {
      if (failures > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * failures)));
      if (aborted()) return;
      const base = this.endpoints[i % this.endpoints.length]!;
      const q = new URLSearchParams({ prefix });
      if (next !== undefined) q.set('fromRevision', String(next));
      const ac = new AbortController();
      const onAbort = (): void => ac.abort();
      opts.signal?.addEventListener('abort', onAbort);
      let idle: NodeJS.Timeout | undefined;
      const alive = (): void => {
        clearTimeout(idle);
        idle = setTimeout(() => ac.abort(), idleMs);
      };
      try {
        alive();
        let res: Response;
        try {
          res = await this.fetch(`${base}/v1/watch?${q.toString()}`, { signal: ac.signal });
        } catch {
          failures += 1;
          i += 1;
          continue;
        }
        if (res.status !== 200) {
          const json = ((await res.json().catch(() => ({}))) ?? {}) as Record<string, unknown>;
          const message = String(json['message'] ?? `HTTP ${res.status}`);
          if (res.status === 410) {
            // Another node may still hold the revision (this one may have restarted or installed a snapshot).
            compacted += 1;
            if (compacted >= this.endpoints.length) throw new WatchCompactedError(message, 'compacted', next ?? 0, Number(json['oldestRevision'] ?? 0));
          } else if (res.status < 500 && res.status !== 404) {
            throw new KvClientError(message, res.status, String(json['error'] ?? 'error'));
          }
          failures += 1;
          i += 1;
          continue;
        }
        this.preferred = i % this.endpoints.length;
        try {
          for await (const m of readSse(res.body as unknown as AsyncIterable<Uint8Array>)) {
            alive();
            const data = JSON.parse(m.data) as Record<string, unknown>;
            if (m.event === 'start') {
              next ??= data['fromRevision'] as number;
              failures = 0;
              compacted = 0;
            } else if (m.event === 'put' || m.event === 'delete') {
              const ev = data as unknown as WatchEvent;
              // Sent again after a reconnect in the middle of its revision: already yielded.
              const again = partial !== null && ev.revision === partial.revision && partial.keys.has(ev.key);
              if (m.id !== undefined) {
                // The last change of its revision under the prefix (the id marks it): resume after it.
                next = ev.revision + 1;
                partial = null;
              } else {
                // More changes of this revision follow (a transaction): a break now resumes at this revision.
                if (partial === null || partial.revision !== ev.revision) partial = { revision: ev.revision, keys: new Set() };
                partial.keys.add(ev.key);
                next = ev.revision;
              }
              if (!again) yield ev;
            } else if (m.event === 'progress') {
              const revision = data['revision'] as number;
              next = Math.max(next ?? 0, revision + 1);
              if (partial !== null && partial.revision <= revision) partial = null;
            } else if (m.event === 'error') {
              const code = String(data['error']);
              const message = String(data['message']);
              if (code === 'compacted' || code === 'slow-watcher') throw new WatchCompactedError(message, code, next ?? 0, Number(data['oldestRevision'] ?? 0));
              if (code === 'unauthenticated' || code === 'permission-denied') throw new KvClientError(message, code === 'unauthenticated' ? 401 : 403, code);
              break; // stopping: on to another node
            }
          }
        } catch (e) {
          if (e instanceof KvClientError) throw e;
          // The stream broke: reopened below.
        }
        if (aborted()) return;
        failures += 1;
        i += 1;
      } finally {
        clearTimeout(idle);
        opts.signal?.removeEventListener('abort', onAbort);
        ac.abort();
      }
    }
  }

  /** The status of every endpoint (null for one that did not answer). */
  async status(): Promise<(Record<string, unknown> | null)[]> {
    return Promise.all(
      this.endpoints.map(async (e) => {
        try {
          const res = await this.fetch(`${e}/v1/status`, { signal: AbortSignal.timeout(this.requestTimeoutMs) });
          return res.ok ? ((await res.json()) as Record<string, unknown>) : null;
        } catch {
          return null;
        }
      }),
    );
  }

  /** The cluster's members and leader (`GET /v1/members`); also refreshes the endpoints. */
  async members(): Promise<MembersView> {
    const view = (await this.run({ method: 'GET', path: '/v1/members' }, [200])).json as unknown as MembersView;
    if (this.discover) {
      this.lastRefresh = Date.now();
      this.adopt(view);
    }
    return view;
  }

  /** Adds a node (`POST /v1/members`); resolves once the change is committed. */
  async addMember(m: AddMemberOptions): Promise<AddMemberResult> {
    const body = { name: m.name, peerAddress: m.peerAddress, apiUrl: m.apiUrl, learner: m.learner ?? false, ...(m.uid !== undefined && { uid: m.uid }) };
    return (await this.admin({ method: 'POST', path: '/v1/members', body }, [201])).json as unknown as AddMemberResult;
  }

  /** Promotes a learner to voter. */
  async promoteMember(name: string): Promise<MemberView> {
    return (await this.admin({ method: 'POST', path: `/v1/members/${encodeURIComponent(name)}/promote` }, [200])).json['member'] as MemberView;
  }

  /** Removes a member (the leader included: it hands over leadership first). */
  async removeMember(name: string): Promise<void> {
    await this.admin({ method: 'DELETE', path: `/v1/members/${encodeURIComponent(name)}` }, [200]);
  }

  /** Transfers leadership to `to`, or (null) to the most up-to-date voter; resolves with the new leader. */
  async transferLeader(to: string | null = null): Promise<{ leader: string }> {
    return (await this.admin({ method: 'POST', path: '/v1/leader/transfer', body: to === null ? {} : { to } }, [200])).json as { leader: string };
  }

  /** The active alarms (`GET /v1/alarms`), e.g. NOSPACE when the store reached its space quota. */
  async alarms(): Promise<Alarm[]> {
    return (await this.run({ method: 'GET', path: '/v1/alarms' }, [200])).json['alarms'] as Alarm[];
  }

  /** Disarms every alarm, or only `alarm` (`POST /v1/alarms/disarm`); returns those it disarmed. */
  async disarmAlarms(alarm?: AlarmName): Promise<{ revision: number; disarmed: Alarm[] }> {
    return (await this.admin({ method: 'POST', path: '/v1/alarms/disarm', body: alarm === undefined ? {} : { alarm } }, [200])).json as unknown as { revision: number; disarmed: Alarm[] };
  }

  // ---- auth (/v1/auth/..., docs/API.md) -----------------------------------------

  /** Whether auth is enabled, and the name of this client's token (null: none or unknown). */
  async authStatus(): Promise<AuthStatus> {
    return (await this.run({ method: 'GET', path: '/v1/auth/status' }, [200])).json as unknown as AuthStatus;
  }

  /** Enables auth; returns the new root token (shown once) and where the node that handled it wrote it. */
  async authEnable(): Promise<{ name: string; token: string; file: string | null }> {
    return (await this.admin({ method: 'POST', path: '/v1/auth/enable' }, [200])).json as unknown as { name: string; token: string; file: string | null };
  }

  async authDisable(): Promise<void> {
    await this.admin({ method: 'POST', path: '/v1/auth/disable' }, [200]);
  }

  async roles(): Promise<AuthRole[]> {
    return (await this.run({ method: 'GET', path: '/v1/auth/roles' }, [200])).json['roles'] as AuthRole[];
  }

  /** Adds a role, or replaces the one of that name. */
  async addRole(role: AuthRole): Promise<void> {
    await this.admin({ method: 'POST', path: '/v1/auth/roles', body: role }, [201]);
  }

  async removeRole(name: string): Promise<void> {
    await this.admin({ method: 'DELETE', path: `/v1/auth/roles/${encodeURIComponent(name)}` }, [200]);
  }

  /** Every token's name and roles (never the secrets). */
  async tokens(): Promise<{ name: string; roles: string[] }[]> {
    return (await this.run({ method: 'GET', path: '/v1/auth/tokens' }, [200])).json['tokens'] as { name: string; roles: string[] }[];
  }

  /** Creates a token with these roles; its secret is in the answer, and only there. */
  async createToken(name: string, roles: readonly string[]): Promise<{ name: string; roles: string[]; token: string }> {
    return (await this.admin({ method: 'POST', path: '/v1/auth/tokens', body: { name, roles } }, [201])).json as unknown as { name: string; roles: string[]; token: string };
  }

  async revokeToken(name: string): Promise<void> {
    await this.admin({ method: 'DELETE', path: `/v1/auth/tokens/${encodeURIComponent(name)}` }, [200]);
  }

  private admin(a: Attempt, ok: number[]): Promise<Outcome> {
    return this.run({ ...a, once: true, timeoutMs: this.adminTimeoutMs }, ok);
  }

  private async write(a: Attempt, ok: number[]): Promise<Outcome> {
    const slot = this.freeSlots.pop() ?? { clientId: `${this.clientId}-${this.slotCount++}`, seq: 0 };
    slot.seq++;
    try {
      return await this.run({ ...a, session: slot }, ok);
    } finally {
      this.freeSlots.push(slot);
    }
  }

  /**
   * Sends one operation until it succeeds, fails for good, or the deadline
   * passes: node unavailable (503), timed out (504) or unreachable → the next
   * endpoint, the same session ids (so a write applies once).
   */
  private async run(a: Attempt, ok: number[]): Promise<Outcome> {
    const total = a.timeoutMs ?? this.timeoutMs;
    const perAttempt = a.timeoutMs ?? this.requestTimeoutMs;
    const deadline = Date.now() + total;
    let lastError = 'no attempt made';
    this.maybeRefresh();
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      if (attempt > 0) await this.refreshOnFailover();
      const i = (this.preferred + attempt) % this.endpoints.length;
      if (attempt > 0 && attempt % this.endpoints.length === 0) await new Promise((r) => setTimeout(r, Math.min(500, 50 * attempt)));
      const url = this.endpoints[i]! + a.path;
      let res: Response;
      try {
        const headers: Record<string, string> = {};
        if (a.body !== undefined) headers['content-type'] = 'application/json';
        if (a.session !== undefined) {
          headers['x-client-id'] = a.session.clientId;
          headers['x-request-seq'] = String(a.session.seq);
        }
        res = await this.fetch(url, {
          method: a.method,
          headers,
          ...(a.body !== undefined && { body: JSON.stringify(a.body) }),
          signal: AbortSignal.timeout(Math.max(1, Math.min(perAttempt, deadline - Date.now()))),
        });
      } catch (e) {
        lastError = `${url}: ${(e as Error).message}`;
        if (a.once === true && !notSent(e)) throw new UnavailableError(`${a.method} ${a.path}: ${lastError}; the change may or may not have taken effect: check the members before retrying`, 0, 'unavailable');
        continue;
      }
      const json = ((await res.json().catch(() => ({}))) ?? {}) as Record<string, unknown>;
      if (ok.includes(res.status)) {
        this.preferred = i;
        return { status: res.status, json };
      }
      if (res.status === 503 || ((res.status === 504 || res.status === 502) && a.once !== true)) {
        lastError = `${url}: ${res.status} ${String(json['message'] ?? json['error'] ?? '')}`;
        continue;
      }
      throw new KvClientError(String(json['message'] ?? `HTTP ${res.status}`), res.status, String(json['error'] ?? 'error'));
    }
    throw new UnavailableError(`no endpoint completed ${a.method} ${a.path} within ${total} ms (last: ${lastError})${a.session ? '; the write may or may not have applied' : ''}`, 0, 'unavailable');
  }
}
