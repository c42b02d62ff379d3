/**
 * `tsraft/client`: a client for the HTTP API of a tsraft cluster. It tries the
 * endpoint that last answered first and fails over to the others, retries what
 * is safe to retry, and gives every write a session id (client id + sequence
 * number) so a retried write applies exactly once.
 */

/** A key's value and the revision (log index) that last modified it. */
export interface KvItem {
  readonly key: string;
  readonly value: string;
  readonly revision: number;
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
}

type Outcome = { status: number; json: Record<string, unknown> };

function randomId(): string {
  const b = new Uint8Array(9);
  globalThis.crypto.getRandomValues(b);
  return Buffer.from(b).toString('base64url');
}

export class KvClient {
  private readonly endpoints: string[];
  private preferred = 0;
  private readonly timeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly clientId: string;
  /** Free sessions: each write in flight holds one, so concurrent writes keep their order per session. */
  private readonly freeSlots: SessionSlot[] = [];
  private slotCount = 0;

  constructor(opts: KvClientOptions) {
    if (opts.endpoints.length === 0) throw new Error('KvClient needs at least one endpoint');
    this.endpoints = opts.endpoints.map((e) => e.replace(/\/+$/, ''));
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 3_000;
    this.clientId = opts.clientId ?? randomId();
  }

  /** The value of `key`, or null if it does not exist. Linearizable unless `stale`. */
  async get(key: string, opts: { stale?: boolean } = {}): Promise<KvItem | null> {
    const r = await this.run({ method: 'GET', path: `/v1/kv/${encodeURIComponent(key)}${opts.stale ? '?consistency=stale' : ''}` }, [200, 404]);
    return r.status === 404 ? null : (r.json as unknown as KvItem);
  }

  async put(key: string, value: string): Promise<{ revision: number }> {
    return (await this.write({ method: 'PUT', path: `/v1/kv/${encodeURIComponent(key)}`, body: { value } }, [200])).json as { revision: number };
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

  /** Keys starting with `prefix`, in order. */
  async list(prefix: string, opts: { stale?: boolean; limit?: number } = {}): Promise<KvItem[]> {
    const q = new URLSearchParams({ prefix });
    if (opts.stale) q.set('consistency', 'stale');
    if (opts.limit !== undefined) q.set('limit', String(opts.limit));
    const r = await this.run({ method: 'GET', path: `/v1/kv?${q.toString()}` }, [200]);
    return r.json['items'] as KvItem[];
  }

  /** The status of every endpoint (null for one that did not answer). */
  async status(): Promise<(Record<string, unknown> | null)[]> {
    return Promise.all(
      this.endpoints.map(async (e) => {
        try {
          const res = await fetch(`${e}/v1/status`, { signal: AbortSignal.timeout(this.requestTimeoutMs) });
          return res.ok ? ((await res.json()) as Record<string, unknown>) : null;
        } catch {
          return null;
        }
      }),
    );
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
    const deadline = Date.now() + this.timeoutMs;
    let lastError = 'no attempt made';
    for (let attempt = 0; Date.now() < deadline; attempt++) {
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
        res = await fetch(url, {
          method: a.method,
          headers,
          ...(a.body !== undefined && { body: JSON.stringify(a.body) }),
          signal: AbortSignal.timeout(Math.max(1, Math.min(this.requestTimeoutMs, deadline - Date.now()))),
        });
      } catch (e) {
        lastError = `${url}: ${(e as Error).message}`;
        continue;
      }
      const json = ((await res.json().catch(() => ({}))) ?? {}) as Record<string, unknown>;
      if (ok.includes(res.status)) {
        this.preferred = i;
        return { status: res.status, json };
      }
      if (res.status === 503 || res.status === 504 || res.status === 502) {
        lastError = `${url}: ${res.status} ${String(json['message'] ?? json['error'] ?? '')}`;
        continue;
      }
      throw new KvClientError(String(json['message'] ?? `HTTP ${res.status}`), res.status, String(json['error'] ?? 'error'));
    }
    throw new UnavailableError(`no endpoint completed ${a.method} ${a.path} within ${this.timeoutMs} ms (last: ${lastError})${a.session ? '; the write may or may not have applied' : ''}`, 0, 'unavailable');
  }
}
