import { decode, encode } from '../util/codec.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';

/** An RPC method: takes decoded arguments, returns a reply (or a promise of one). */
export type RpcMethod = (args: never) => unknown;

/**
 * A set of named services, each a set of named methods, reachable as
 * `"Service.Method"`. Counts the requests dispatched to it.
 */
export class RpcServer {
  private readonly services = new Map<string, Record<string, RpcMethod>>();
  private count = 0;

  addService(name: string, methods: Record<string, RpcMethod>): void {
    this.services.set(name, methods);
  }

  /** Requests that reached this server (including those whose replies were lost). */
  get rpcCount(): number {
    return this.count;
  }

  /** @internal Runs one request. Unknown services and methods are programming errors. */
  dispatch(svcMeth: string, args: unknown): Promise<unknown> {
    this.count++;
    const dot = svcMeth.lastIndexOf('.');
    const service = this.services.get(svcMeth.slice(0, dot));
    const method = service?.[svcMeth.slice(dot + 1)];
    if (method === undefined) {
      const known = [...this.services.keys()].join(', ') || 'none';
      throw new Error(`labrpc: unknown method ${svcMeth} (services: ${known})`);
    }
    return Promise.resolve((method as (a: unknown) => unknown)(args));
  }
}

/** One direction of one connection: a caller's handle on a (possibly absent) server. */
export class ClientEnd {
  constructor(
    readonly name: string,
    private readonly net: SimNetwork,
  ) {}

  /** The network this end belongs to (its clock and randomness). */
  get network(): SimNetwork {
    return this.net;
  }

  /**
   * Sends a request and resolves with the decoded reply, or null if there is
   * none: request or reply lost, server dead or unreachable, end disabled.
   * Always resolves eventually. Calls may overtake one another.
   */
  call<R = unknown>(svcMeth: string, args: unknown): Promise<R | null> {
    return this.net.deliver(this.name, svcMeth, args) as Promise<R | null>;
  }
}

interface EndState {
  readonly end: ClientEnd;
  enabled: boolean;
  server: string | null;
  /** Who calls through this end (a server's name, or a clerk's), for traces. */
  readonly owner: string | undefined;
}

/** One step in the life of a request, for traces and determinism checks. */
export interface NetEvent {
  readonly time: number;
  readonly kind: 'send' | 'unreachable' | 'request-lost' | 'handled' | 'dead' | 'reply-lost' | 'reply';
  readonly end: string;
  readonly method: string;
  readonly bytes: number;
  /** The request's number on this network: every event of one request carries the same. */
  readonly id: number;
  /** The caller (the end's owner, if it was given one) and the server the end reaches. */
  readonly from: string | undefined;
  readonly to: string | null;
  /** The request's arguments (on `send`) and the reply (on `handled`), decoded. Read only. */
  readonly args?: unknown;
  readonly reply?: unknown;
}

/** Construction options of a {@link SimNetwork}. */
export interface SimNetworkOptions {
  readonly clock: Clock;
  readonly random: Random;
  /** Sees every step of every request. */
  readonly trace?: (e: NetEvent) => void;
  /**
   * One-way delivery time of requests and replies, uniform in [min, max] ms
   * (default 0: the lab's labrpc adds none). A little models the cost of a
   * real network and scheduler, so clients in virtual time cannot issue
   * unboundedly many operations per simulated second.
   */
  readonly latency?: { readonly min: number; readonly max: number };
}

/** How often a waiting request checks whether its server died (ms). */
const DEAD_POLL_MS = 100;

/**
 * The 6.824 lab's simulated RPC network (labrpc), on any {@link Clock}:
 * named ends connected to named servers, enabled and disabled at will;
 * unreliable mode (0–26 ms delay, 10% of requests and 10% of replies lost);
 * long delays for unreachable targets (0–7 s, else 0–99 ms); long reordering
 * (2/3 of replies held 200–2199 ms). Arguments and replies travel encoded,
 * so caller and server never share objects, and their bytes are counted.
 */
export class SimNetwork {
  readonly clock: Clock;
  readonly random: Random;
  private readonly trace: ((e: NetEvent) => void) | undefined;
  private readonly latency: { readonly min: number; readonly max: number } | undefined;
  private reliable = true;
  private longDelays = false;
  private longReordering = false;
  private closed = false;
  private readonly ends = new Map<string, EndState>();
  private readonly servers = new Map<string, RpcServer | null>();
  private totalRpcs = 0;
  private totalBytes = 0;
  private requestSeq = 0;

  constructor(opts: SimNetworkOptions) {
    this.clock = opts.clock;
    this.random = opts.random;
    this.trace = opts.trace;
    this.latency = opts.latency;
  }

  /** One-way travel time of a delivered request or reply (ms). */
  private travel(): number {
    const l = this.latency;
    if (l === undefined) return 0;
    return l.min + this.random.float() * (l.max - l.min);
  }

  private note(kind: NetEvent['kind'], end: string, method: string, bytes: number, id: number, payload?: { args?: Uint8Array; reply?: Uint8Array }): void {
    if (this.trace === undefined) return;
    const st = this.ends.get(end);
    const e: NetEvent = {
      time: this.clock.now(),
      kind,
      end,
      method,
      bytes,
      id,
      from: st?.owner,
      to: st?.server ?? null,
      ...(payload?.args !== undefined && { args: decode(payload.args) }),
      ...(payload?.reply !== undefined && { reply: decode(payload.reply) }),
    };
    this.trace(e);
  }

  setReliable(yes: boolean): void {
    this.reliable = yes;
  }
  setLongDelays(yes: boolean): void {
    this.longDelays = yes;
  }
  setLongReordering(yes: boolean): void {
    this.longReordering = yes;
  }
  isReliable(): boolean {
    return this.reliable;
  }

  /** Creates a new, disabled and unconnected end. Names must be unique; `owner` names the caller in traces. */
  makeEnd(name: string, owner?: string): ClientEnd {
    if (this.ends.has(name)) throw new Error(`labrpc: makeEnd: ${name} already exists`);
    const end = new ClientEnd(name, this);
    this.ends.set(name, { end, enabled: false, server: null, owner });
    return end;
  }

  /** Binds an end to a server name, for the end's whole life. */
  connect(endName: string, serverName: string): void {
    this.endState(endName).server = serverName;
  }

  enable(endName: string, enabled: boolean): void {
    this.endState(endName).enabled = enabled;
  }

  /** Installs (or replaces) the server reachable under `name`. */
  addServer(name: string, server: RpcServer): void {
    this.servers.set(name, server);
  }

  /** Removes the server under `name`: requests in progress on it lose their replies. */
  deleteServer(name: string): void {
    this.servers.set(name, null);
  }

  /** Requests dispatched to the server now installed under `name`. */
  getCount(name: string): number {
    const s = this.servers.get(name);
    if (s === undefined || s === null) throw new Error(`labrpc: getCount: no server ${name}`);
    return s.rpcCount;
  }

  /** Every request sent, delivered or not. */
  getTotalCount(): number {
    return this.totalRpcs;
  }

  /** Bytes of encoded requests sent plus encoded replies delivered. */
  getTotalBytes(): number {
    return this.totalBytes;
  }

  /** Shuts the network: calls made from now on fail at once. */
  cleanup(): void {
    this.closed = true;
  }

  private endState(name: string): EndState {
    const st = this.ends.get(name);
    if (st === undefined) throw new Error(`labrpc: no end named ${name}`);
    return st;
  }

  /** Is the server that `server` was captured as gone, or the end cut? */
  private isDead(endName: string, serverName: string, server: RpcServer): boolean {
    return !this.endState(endName).enabled || this.servers.get(serverName) !== server;
  }

  /** @internal The delivery algorithm of labrpc, for one request. */
  async deliver(endName: string, svcMeth: string, args: unknown): Promise<unknown> {
    if (this.closed) return null;
    const req = encode(args);
    this.totalRpcs++;
    this.totalBytes += req.length;
    const id = ++this.requestSeq;
    this.note('send', endName, svcMeth, req.length, id, { args: req });

    const st = this.endState(endName);
    const serverName = st.server;
    const server = serverName === null ? undefined : this.servers.get(serverName);
    const reliable = this.reliable;
    const longReordering = this.longReordering;

    if (!st.enabled || serverName === null || server === undefined || server === null) {
      // Unreachable: fail after a while, as a real timeout would.
      await this.clock.sleep(this.random.int(this.longDelays ? 7000 : 100));
      this.note('unreachable', endName, svcMeth, 0, id);
      return null;
    }

    // The request travels: never handled in the caller's own turn.
    await this.clock.sleep(this.travel() + (reliable ? 0 : this.random.int(27)));
    if (!reliable && this.random.int(1000) < 100) {
      this.note('request-lost', endName, svcMeth, 0, id);
      return null;
    }

    const replyBytes = await this.runHandler(endName, serverName, server, svcMeth, req);
    if (replyBytes === null || this.isDead(endName, serverName, server)) {
      this.note('dead', endName, svcMeth, 0, id);
      return null;
    }
    this.note('handled', endName, svcMeth, replyBytes.length, id, { reply: replyBytes });
    if (!reliable && this.random.int(1000) < 100) {
      this.note('reply-lost', endName, svcMeth, 0, id);
      return null;
    }
    if (longReordering && this.random.int(900) < 600) {
      await this.clock.sleep(200 + this.random.int(1 + this.random.int(2000)));
    } else if (this.latency !== undefined) {
      await this.clock.sleep(this.travel());
    }
    if (this.closed) return null;
    this.totalBytes += replyBytes.length;
    this.note('reply', endName, svcMeth, replyBytes.length, id);
    return decode(replyBytes);
  }

  /**
   * Runs the handler, giving up (null) if the server dies first; checks every
   * 100 ms, as labrpc does, so a crash suppresses replies of handlers that had run.
   */
  private runHandler(endName: string, serverName: string, server: RpcServer, svcMeth: string, req: Uint8Array): Promise<Uint8Array | null> {
    return new Promise((resolve, reject) => {
      let finished = false;
      let poll = this.clock.setTimer(DEAD_POLL_MS, check);
      const self = this;
      function check(): void {
        if (finished) return;
        if (self.isDead(endName, serverName, server)) {
          finished = true;
          resolve(null);
        } else {
          poll = self.clock.setTimer(DEAD_POLL_MS, check);
        }
      }
      server.dispatch(svcMeth, decode(req)).then(
        (reply) => {
          if (finished) return;
          finished = true;
          poll.cancel();
          resolve(reply === null || reply === undefined ? null : encode(reply));
        },
        (err: unknown) => {
          if (finished) return;
          finished = true;
          poll.cancel();
          reject(err);
        },
      );
    });
  }
}
