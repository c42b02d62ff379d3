import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Message, NodeId } from '../core/types.js';
import type { Transport } from '../node/raft-node.js';
import { silentLogger, type Logger } from '../util/log.js';
import { SeededRandom, entropySeed, type Random } from '../util/random.js';
import { decode, encode } from '../util/codec.js';
import { DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, FrameDecoder, FrameError, encodeFrame, frameHeader } from './frame.js';
import { validateMessage } from './validate.js';

/**
 * The TCP transport: Raft messages between cluster members over mutual TLS
 * ({@link TcpTransportOptions.tls}) or, when explicitly configured without it,
 * plain TCP.
 *
 * Each ordered pair of nodes has its own connection: node A dials B to send
 * A's messages to B, and only ever reads B's answer to its hello on it; B
 * dials A for the other direction. One writer per connection keeps the
 * protocol trivial (no request ids, no multiplexing), and a broken direction
 * heals on its own schedule without disturbing the other.
 *
 * Handshake, on every new connection:
 *   dialer → acceptor: `{ kind: 'hello', version: 1, clusterId, from, to, uid?, apiUrl? }`
 *   acceptor → dialer: `{ kind: 'accepted', uid? }`, or `{ kind: 'refused', reason, identity? }` and close.
 * `uid` names the sender's data directory (its incarnation). Both sides show it
 * to {@link TcpTransportOptions.verifyPeer}, which may refuse a peer id that
 * presents another data directory than the one it is known by; such a refusal
 * is flagged `identity` so the refused node can stop instead of retrying forever.
 * The dialer sends no Raft message before `accepted`, so a refused connection
 * costs no queued messages, and "connected" in {@link PeerStats} means the
 * peer accepted us, not merely that TCP connected. After that every frame from
 * the dialer is one Raft message.
 *
 * With TLS, identities come from certificates, never from the hello: both
 * sides present a certificate of the cluster CA whose subject CN is their
 * member name. The dialer accepts only the certificate of the member it meant
 * to reach, and the acceptor accepts a hello only when its `from` is a member
 * of the current configuration (a configured peer) whose name is the CN of the
 * certificate the connection was made with. Before the hello, connections are
 * capped per remote address and overall, so a flood of idle sockets cannot
 * exhaust the file limit; after it, one connection per member is kept (the
 * newest, which only the holder of that member's key can open).
 *
 * Raft tolerates loss, duplication and reordering, so the transport never
 * retransmits: messages in a socket buffer when a connection breaks are lost,
 * and a full send queue drops its oldest messages.
 */

/** Where a node listens. */
export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * The stream a connection runs over: a `net.Socket`, a `tls.TLSSocket`, or any
 * Duplex that emits `close` once it is finished. The optional socket methods
 * are used when present.
 */
export type TransportSocket = Duplex & Partial<Pick<net.Socket, 'remoteAddress' | 'remotePort' | 'setNoDelay' | 'setKeepAlive'>>;

/**
 * Mutual TLS for peer connections: PEM buffers, as `readTlsDir`
 * (src/security/certs.ts) returns them.
 */
export interface PeerTlsOptions {
  /** The cluster CA: the only issuer trusted for peers' certificates. */
  readonly ca: Buffer | string;
  /** This node's certificate; its subject CN must be this node's member name. */
  readonly cert: Buffer | string;
  /** This node's private key. */
  readonly key: Buffer | string;
}

/** Options of {@link TcpTransport.start}. */
export interface TcpTransportOptions {
  /** Identifies the cluster; a peer presenting another id is refused. */
  readonly clusterId: string;
  /** This node's id. */
  readonly nodeId: NodeId;
  /** Where to listen; port 0 picks a free port (see {@link TcpTransport.address}). */
  readonly listen: PeerAddress;
  /** Every other member and where it listens. More can be added later with {@link TcpTransport.setPeer}. */
  readonly peers: ReadonlyMap<NodeId, PeerAddress>;
  /** This node's data-directory id, sent in hellos and in accept replies. Default: none sent. */
  readonly uid?: string | undefined;
  /** This node's HTTP API URL, sent in hellos so peers learn it. Default: none sent. */
  readonly apiUrl?: string | undefined;
  /**
   * Checks a peer's identity: called with what an inbound hello presents
   * (after the cluster id, version and addressing checks pass) and with the uid
   * of an outbound connection's accept reply. Returns null to go on, or a
   * reason to refuse (inbound: sent to the peer flagged `identity`; outbound:
   * the connection is closed). It runs before the connection is accepted, so a
   * record it makes durably is in place before any message is delivered.
   * Default: everyone who passes the other checks is accepted.
   */
  readonly verifyPeer?: ((id: NodeId, presented: { readonly uid: string | undefined; readonly apiUrl: string | undefined }) => string | null) | undefined;
  /** Called when a peer refuses this node's hello because of its identity (see {@link verifyPeer}). */
  readonly onIdentityRefused?: ((id: NodeId, reason: string) => void) | undefined;
  /**
   * Receives each valid message addressed to this node, in order per sending
   * peer. Called synchronously from socket callbacks: it should hand the
   * message on (e.g. `RaftNode.step`) and not block. Exceptions are logged.
   */
  readonly onMessage: (m: Message) => void;
  /** Default: silent. */
  readonly logger?: Logger;
  /**
   * The name operators know a node by (e.g. "n2"), for logs; asked for this
   * node's id and every peer's. Log lines then say `node n2` and carry
   * `peer: "n2", peerId: 60485724`. Default: ids only.
   */
  readonly peerName?: ((id: NodeId) => string | undefined) | undefined;
  /** Jitter for reconnect delays. Default: seeded from the platform's entropy. */
  readonly random?: Random;
  /** Largest message payload (encoded bytes) accepted or sent. Default 64 MiB. */
  readonly maxFrameBytes?: number;
  /** Messages queued per peer before the oldest are dropped. Default 8192. */
  readonly maxQueueMessages?: number;
  /** Encoded bytes queued per peer before the oldest messages are dropped. Default 64 MiB. */
  readonly maxQueueBytes?: number;
  /** First reconnect delay (before jitter); doubles per failed attempt. Default 50 ms. */
  readonly reconnectMinMs?: number;
  /** Cap on the reconnect delay (before jitter). Default 2000 ms. */
  readonly reconnectMaxMs?: number;
  /** How long a new connection may take to complete its handshake, on either side. Default 5000 ms. */
  readonly handshakeTimeoutMs?: number;
  /**
   * Mutual TLS with the cluster CA (see the module comment). Requires
   * {@link peerName}: a peer's certificate must name the member its id belongs
   * to. Without it, connections are plain TCP and a hello's `from` is taken on
   * trust: only for tests and `--insecure-peers`. Not combinable with
   * {@link connect} / {@link createServer}.
   */
  readonly tls?: PeerTlsOptions | undefined;
  /** Inbound connections not yet past their hello, per remote address. Default 16. */
  readonly maxPendingPerAddress?: number;
  /** Inbound connections not yet past their hello, overall. Default 128. */
  readonly maxPendingConnections?: number;
  /** Open inbound connections, overall (`net.Server.maxConnections`). Default 512. */
  readonly maxConnections?: number;
  /**
   * Opens a connection to a peer (default `net.connect`). A seam for tests.
   * Writes made before the stream connects must be buffered, as `net.Socket`
   * does; failures are reported by `error`/`close`.
   */
  readonly connect?: (addr: PeerAddress) => TransportSocket;
  /**
   * Creates the listening server (default `net.createServer`), calling
   * `onConnection` with each accepted stream. A seam for tests.
   */
  readonly createServer?: (onConnection: (socket: TransportSocket) => void) => net.Server;
}

/** Counters for one peer. Outbound figures describe this node → peer; `received`/`rejected` the peer → this node. */
export interface PeerStats {
  readonly address: PeerAddress;
  /** The outbound connection is up and the peer accepted our hello. */
  readonly connected: boolean;
  /** Messages waiting in the send queue. */
  readonly queued: number;
  /** Encoded bytes waiting in the send queue. */
  readonly queuedBytes: number;
  /** Messages written to a socket (not necessarily delivered: Raft copes with loss). */
  readonly sent: number;
  /** Bytes written to sockets, frame headers included. */
  readonly bytesSent: number;
  /** Messages dropped before sending: queue overflow, too large, not encodable, or sent after close. */
  readonly dropped: number;
  /** Connection attempts after the first one. */
  readonly reconnects: number;
  /** Messages from this peer delivered to `onMessage`. */
  readonly received: number;
  /** Well-framed messages from this peer dropped as malformed or misaddressed. */
  readonly rejected: number;
}

/** Counters that belong to no configured peer. */
export interface TransportCounters {
  /** Messages passed to `send` for an id that is not a configured peer. */
  readonly droppedUnknownPeer: number;
  /** Inbound connections refused at the handshake. */
  readonly refusedConnections: number;
  /** Handshakes refused (inbound) or dropped (outbound) because the peer presented another data directory's uid. */
  readonly refusedIdentities: number;
  /** Inbound connections closed because their byte stream was not valid framing (oversized or corrupt frame). */
  readonly frameErrors: number;
  /** Inbound TLS handshakes that failed (no certificate, another CA, plaintext, wrong protocol version...). */
  readonly tlsHandshakeFailures: number;
  /** Inbound hellos refused because `from` is not the member the connection's certificate names. */
  readonly refusedCertificates: number;
  /** Inbound connections closed at once because too many were waiting for their hello (per address or overall). */
  readonly cappedConnections: number;
}

/** The handshake version this code speaks. */
export const PROTOCOL_VERSION = 1;

/** The first frame on every outbound connection. */
export interface Hello {
  readonly kind: 'hello';
  readonly version: number;
  readonly clusterId: string;
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's data-directory id, when it has one. */
  readonly uid?: string;
  /** The sender's HTTP API URL, when it has one. */
  readonly apiUrl?: string;
}

/** The acceptor's answer to a {@link Hello}. `identity`: refused because of the uid the dialer presented. */
export type HelloReply =
  | { readonly kind: 'accepted'; readonly uid?: string }
  | { readonly kind: 'refused'; readonly reason: string; readonly identity?: true };

/** What an inbound hello that fails the cluster, version or addressing checks is told: nothing about this cluster or node. */
export const REFUSED_REASON = 'refused';

/** Frames before and around the handshake are tiny; nobody gets to make us buffer 64 MiB before saying who they are. */
const CONTROL_FRAME_BYTES = 64 * 1024;
/** At most one warning per kind and peer in this interval; the rest are counted and reported with the next. */
const LOG_INTERVAL_MS = 10_000;
/**
 * Values (containers, keys, elements) one message may hold. msgpack costs one
 * byte per empty map on the wire and tens on the heap: without a budget one
 * 64 MiB frame would decode to gigabytes. Two million is far above any append
 * the core sends (maxBytesPerAppend, 1 MiB by default, is at most ~350,000
 * values of the smallest entries) and bounds a message's heap to ~150 MB.
 */
export const MAX_MESSAGE_VALUES = 2_000_000;
/** A hello or its reply is a small map. */
const MAX_HELLO_VALUES = 64;

/** How long a refused connection may linger after the refusal was written. */
const REFUSAL_LINGER_MS = 1000;
const KEEPALIVE_MS = 5000;

// ---- helpers ------------------------------------------------------------------

/** A FIFO with O(1) amortised push and shift (an array shifted from the front is O(n)). */
class Queue<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(x: T): void {
    this.items.push(x);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head]!;
    // Release the slot so a dropped payload is collectable before compaction.
    (this.items as (T | undefined)[])[this.head] = undefined;
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

/**
 * Rate limits repeated log lines: the first occurrence of a key is let
 * through, then at most one per interval, reporting how many were held back.
 * A misconfigured peer retries every couple of seconds forever, and a buggy
 * one may send thousands of bad messages a second; the log must stay readable.
 */
class LogLimiter {
  private readonly seen = new Map<string, { last: number; suppressed: number }>();

  constructor(private readonly intervalMs: number) {}

  /** Whether to log now; if so, how many were suppressed since the last one. */
  allow(key: string): { ok: true; suppressed: number } | { ok: false } {
    const now = performance.now();
    const s = this.seen.get(key);
    if (s === undefined) {
      // Keys include remote hosts, which a hostile network controls: bound the map.
      if (this.seen.size >= 4096) this.seen.clear();
      this.seen.set(key, { last: now, suppressed: 0 });
      return { ok: true, suppressed: 0 };
    }
    if (now - s.last < this.intervalMs) {
      s.suppressed++;
      return { ok: false };
    }
    const suppressed = s.suppressed;
    s.last = now;
    s.suppressed = 0;
    return { ok: true, suppressed };
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function describeRemote(sock: TransportSocket): string {
  return sock.remoteAddress !== undefined ? `${sock.remoteAddress}:${sock.remotePort ?? '?'}` : 'unknown address';
}

function fmt(addr: PeerAddress): string {
  return addr.host.includes(':') ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}

function isNodeId(x: unknown): x is NodeId {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** A peer-controlled value, made safe and short for a log line. */
function claimed(x: unknown): string | number | null {
  if (typeof x === 'number') return x;
  if (typeof x === 'string') return x.length > 100 ? `${x.slice(0, 100)}…` : x;
  return x === undefined ? null : `<${typeof x}>`;
}

function positiveInt(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!Number.isSafeInteger(x) || x <= 0) throw new RangeError(`${name} must be a positive integer, got ${x}`);
  return x;
}

/** The remote host of each raw inbound socket, for logs about a TLS socket that failed before it learned its address. */
const remoteHosts = new WeakMap<object, string>();

/** Identifies a connection by its remote end: the raw socket and its TLS wrapper agree on it. */
function pendingKey(sock: TransportSocket): string {
  return `${sock.remoteAddress ?? '?'}|${sock.remotePort ?? '?'}`;
}

/** The member name a TLS peer proved (its verified certificate's subject CN), or undefined. */
function certificateName(sock: TransportSocket): string | undefined {
  if (!(sock instanceof tls.TLSSocket) || !sock.authorized) return undefined;
  const cn = sock.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' ? cn : undefined;
}

/** Resolves when the socket has emitted `close`. */
function closedPromise(sock: TransportSocket): Promise<void> {
  return new Promise((resolve) => sock.once('close', () => resolve()));
}

// ---- per-connection and per-peer state ---------------------------------------------

/** One outbound connection attempt (this node → peer). */
interface OutboundConn {
  readonly sock: TransportSocket;
  readonly decoder: FrameDecoder;
  readonly closed: Promise<void>;
  /** The peer answered `accepted`: Raft messages may flow. */
  accepted: boolean;
  /** We are done with it (destroyed, or the socket closed); later events are ignored. */
  ended: boolean;
  /** The first socket error, to say why the connection closed. */
  error: string | null;
  handshakeTimer: NodeJS.Timeout | null;
}

/** One accepted connection (peer → this node). */
interface InboundConn {
  readonly sock: TransportSocket;
  readonly remote: string;
  readonly decoder: FrameDecoder;
  readonly closed: Promise<void>;
  /** Set by a valid hello: every later frame is a message from this peer. */
  peer: NodeId | null;
  ended: boolean;
  /** The handshake deadline, then (after a refusal) the linger deadline. */
  timer: NodeJS.Timeout | null;
}

/** Everything about one peer: where it is, its send queue and outbound connection, and counters. */
interface PeerLink {
  readonly id: NodeId;
  addr: PeerAddress;
  readonly queue: Queue<Uint8Array>;
  queuedBytes: number;
  conn: OutboundConn | null;
  /** The socket asked us to stop writing (`write()` returned false) until `drain`. */
  blocked: boolean;
  flushScheduled: boolean;
  /** Failed attempts since the last accepted connection: the backoff exponent. */
  failures: number;
  attempted: boolean;
  reconnectTimer: NodeJS.Timeout | null;
  removed: boolean;
  sent: number;
  bytesSent: number;
  dropped: number;
  reconnects: number;
  received: number;
  rejected: number;
}

// ---- the transport ---------------------------------------------------------------------

/**
 * A {@link Transport} over TCP. See the module comment for the protocol.
 *
 * ```ts
 * const t = await TcpTransport.start({ clusterId: 'prod', nodeId: 1, listen: { host: '0.0.0.0', port: 7001 },
 *   peers: new Map([[2, { host: 'b', port: 7001 }], [3, { host: 'c', port: 7001 }]]),
 *   onMessage: (m) => node.step(m), logger });
 * ```
 */
export class TcpTransport implements Transport {
  /** This node's id. */
  readonly nodeId: NodeId;
  /** The cluster this node belongs to. */
  readonly clusterId: string;

  private readonly onMessage: (m: Message) => void;
  private readonly log: Logger;
  private readonly random: Random;
  private readonly maxFrameBytes: number;
  private readonly maxQueueMessages: number;
  private readonly maxQueueBytes: number;
  private readonly reconnectMinMs: number;
  private readonly reconnectMaxMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly connectFn: (addr: PeerAddress, peer: NodeId) => TransportSocket;
  private readonly server: net.Server;
  private readonly limiter = new LogLimiter(LOG_INTERVAL_MS);

  private readonly links = new Map<NodeId, PeerLink>();
  private readonly inbound = new Set<InboundConn>();
  private listenAddress: PeerAddress | null = null;
  /** Set by {@link close}: nothing new starts after it. */
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly peerName: ((id: NodeId) => string | undefined) | undefined;
  private droppedUnknownPeer = 0;
  private refusedConnections = 0;
  private refusedIdentities = 0;
  private frameErrors = 0;
  private tlsHandshakeFailures = 0;
  private refusedCertificates = 0;
  private cappedConnections = 0;
  private readonly tls: PeerTlsOptions | undefined;
  private readonly maxPendingPerAddress: number;
  private readonly maxPendingConnections: number;
  /** Inbound connections not yet past their hello, by remote address. */
  private readonly pendingByAddress = new Map<string, number>();
  /** Releases a pending slot, keyed by `address|port` (the raw socket and its TLS wrapper share it). */
  private readonly pendingRelease = new Map<string, () => void>();
  private pendingTotal = 0;
  private readonly uid: string | undefined;
  private readonly apiUrl: string | undefined;
  private readonly verifyPeer: TcpTransportOptions['verifyPeer'];
  private readonly onIdentityRefused: TcpTransportOptions['onIdentityRefused'];

  private constructor(opts: TcpTransportOptions) {
    if (!isNodeId(opts.nodeId)) throw new RangeError(`nodeId must be a non-negative safe integer, got ${opts.nodeId}`);
    this.nodeId = opts.nodeId;
    this.clusterId = opts.clusterId;
    this.onMessage = opts.onMessage;
    this.peerName = opts.peerName;
    this.uid = opts.uid;
    this.apiUrl = opts.apiUrl;
    this.verifyPeer = opts.verifyPeer;
    this.onIdentityRefused = opts.onIdentityRefused;
    this.log = (opts.logger ?? silentLogger()).child({ component: 'tcp-transport', node: opts.peerName?.(opts.nodeId) ?? opts.nodeId });
    this.random = opts.random ?? new SeededRandom(entropySeed());
    this.maxFrameBytes = positiveInt('maxFrameBytes', opts.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES);
    this.maxQueueMessages = positiveInt('maxQueueMessages', opts.maxQueueMessages, 8192);
    this.maxQueueBytes = positiveInt('maxQueueBytes', opts.maxQueueBytes, 64 * 1024 * 1024);
    this.reconnectMinMs = positiveInt('reconnectMinMs', opts.reconnectMinMs, 50);
    this.reconnectMaxMs = Math.max(this.reconnectMinMs, positiveInt('reconnectMaxMs', opts.reconnectMaxMs, 2000));
    this.handshakeTimeoutMs = positiveInt('handshakeTimeoutMs', opts.handshakeTimeoutMs, 5000);
    this.maxPendingPerAddress = positiveInt('maxPendingPerAddress', opts.maxPendingPerAddress, 16);
    this.maxPendingConnections = positiveInt('maxPendingConnections', opts.maxPendingConnections, 128);
    this.tls = opts.tls;
    if (this.tls !== undefined) {
      if (opts.connect !== undefined || opts.createServer !== undefined) throw new RangeError('tls cannot be combined with the connect/createServer seams');
      if (opts.peerName === undefined) throw new RangeError('tls needs peerName: a peer is authenticated by the member name its certificate carries');
      this.connectFn = (addr, peer) => this.connectTls(addr, peer);
      this.server = this.createTlsServer(this.tls);
    } else {
      this.connectFn = opts.connect ?? ((addr) => net.connect({ host: addr.host, port: addr.port }));
      const createServer = opts.createServer ?? ((on: (socket: TransportSocket) => void) => net.createServer(on));
      this.server = createServer((sock) => this.accept(sock));
    }
    this.server.maxConnections = positiveInt('maxConnections', opts.maxConnections, 512);
    // Runs before the server's own connection listener (TLS wrapping, or accept): a capped socket goes no further.
    this.server.prependListener('connection', (raw: net.Socket) => this.admit(raw));
    this.server.on('drop', (d?: { remoteAddress?: string }) => {
      this.cappedConnections++;
      this.limited('warn', `capped:${d?.remoteAddress}`, { remote: d?.remoteAddress ?? null, maxConnections: this.server.maxConnections }, 'too many open peer connections; closing a new one');
    });
    for (const [id, addr] of opts.peers) this.addLink(id, addr);
  }

  /**
   * Starts listening and dialling every peer. Resolves once listening;
   * connections to peers come up in the background (messages queue meanwhile).
   * Rejects if the address cannot be bound.
   */
  static async start(opts: TcpTransportOptions): Promise<TcpTransport> {
    const t = new TcpTransport(opts);
    await t.listen(opts.listen);
    for (const link of t.links.values()) t.connect(link);
    return t;
  }

  /** The address actually listened on (the real port when 0 was asked for). */
  get address(): PeerAddress {
    return this.listenAddress!;
  }

  private listen(at: PeerAddress): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(at.port, at.host, () => {
        this.server.off('error', onError);
        // Later server errors (e.g. EMFILE on accept) must not crash the process.
        this.server.on('error', (err) => this.log.error({ err: errorText(err) }, 'listening socket error'));
        const a = this.server.address();
        this.listenAddress = a !== null && typeof a === 'object' ? { host: a.address, port: a.port } : at;
        this.log.info({ address: fmt(this.listenAddress) }, 'listening');
        resolve();
      });
    });
  }

  // ---- sending --------------------------------------------------------------------

  /**
   * Queues `m` for its peer `m.to` and returns at once. Never blocks and never
   * throws: a message that cannot be queued (unknown peer, too large, not
   * encodable, transport closed) is dropped and counted, and when the queue is
   * full its oldest messages are dropped to make room.
   */
  send(m: Message): void {
    try {
      this.enqueue(m);
    } catch (err) {
      // Unreachable unless a caller passes something that is not a Message; still, never throw.
      this.limited('error', 'send', { err: errorText(err) }, 'send failed; message dropped');
    }
  }

  private enqueue(m: Message): void {
    const link = this.links.get(m.to);
    if (link === undefined) {
      this.droppedUnknownPeer++;
      this.limited('warn', `unknown:${m.to}`, { to: m.to }, `message for node ${m.to}, which is not a configured peer, dropped`);
      return;
    }
    if (this.closed) {
      link.dropped++;
      return;
    }
    let payload: Uint8Array;
    try {
      payload = encode(m);
    } catch (err) {
      link.dropped++;
      this.limited('error', `encode:${link.id}`, { ...this.peerFields(link.id), err: errorText(err) }, `message for ${this.who(link.id)} could not be encoded; dropped`);
      return;
    }
    if (payload.length > this.maxFrameBytes || payload.length > this.maxQueueBytes) {
      link.dropped++;
      this.limited(
        'error',
        `toolarge:${link.id}`,
        { ...this.peerFields(link.id), bytes: payload.length, maxFrameBytes: this.maxFrameBytes, maxQueueBytes: this.maxQueueBytes },
        `message for ${this.who(link.id)} is ${payload.length} bytes, above the frame or queue limit; dropped`,
      );
      return;
    }
    link.queue.push(payload);
    link.queuedBytes += payload.length;
    let overflow = 0;
    while (link.queue.length > this.maxQueueMessages || link.queuedBytes > this.maxQueueBytes) {
      link.queuedBytes -= link.queue.shift()!.length;
      overflow++;
    }
    if (overflow > 0) {
      link.dropped += overflow;
      this.limited('warn', `overflow:${link.id}`, { ...this.peerFields(link.id), dropped: link.dropped }, `send queue to ${this.who(link.id)} is full; dropped its oldest messages`);
    }
    this.scheduleFlush(link);
  }

  /**
   * Flushing from a microtask rather than inside `send` batches every message
   * a Raft step produces into one corked write (one syscall), and keeps
   * `send` itself O(1).
   */
  private scheduleFlush(link: PeerLink): void {
    if (link.flushScheduled || link.blocked || link.conn === null || !link.conn.accepted) return;
    link.flushScheduled = true;
    queueMicrotask(() => this.flush(link));
  }

  /** Moves queued messages into the socket until it pushes back or the queue is empty. */
  private flush(link: PeerLink): void {
    link.flushScheduled = false;
    const conn = link.conn;
    if (conn === null || conn.ended || !conn.accepted || conn.sock.destroyed || link.blocked || link.queue.length === 0) return;
    const sock = conn.sock;
    let writable = true;
    sock.cork();
    while (writable && link.queue.length > 0) {
      const payload = link.queue.shift()!;
      link.queuedBytes -= payload.length;
      // Header and payload as two writes (gathered by cork): no copy of a large payload.
      sock.write(frameHeader(payload));
      writable = sock.write(payload);
      link.sent++;
      link.bytesSent += FRAME_HEADER_BYTES + payload.length;
    }
    sock.uncork();
    // The socket has taken more than its high-water mark: leave the rest in our
    // bounded queue (where overflow drops the oldest) until it drains.
    if (!writable) link.blocked = true;
  }

  // ---- outbound connections ---------------------------------------------------------

  private addLink(id: NodeId, addr: PeerAddress): PeerLink {
    if (!isNodeId(id)) throw new RangeError(`peer id must be a non-negative safe integer, got ${id}`);
    if (id === this.nodeId) throw new RangeError(`peer ${id} is this node itself`);
    const link: PeerLink = {
      id,
      addr,
      queue: new Queue(),
      queuedBytes: 0,
      conn: null,
      blocked: false,
      flushScheduled: false,
      failures: 0,
      attempted: false,
      reconnectTimer: null,
      removed: false,
      sent: 0,
      bytesSent: 0,
      dropped: 0,
      reconnects: 0,
      received: 0,
      rejected: 0,
    };
    this.links.set(id, link);
    return link;
  }

  private connect(link: PeerLink): void {
    link.reconnectTimer = null;
    if (this.closed || link.removed || link.conn !== null) return;
    if (link.attempted) link.reconnects++;
    link.attempted = true;
    let sock: TransportSocket;
    try {
      sock = this.connectFn(link.addr, link.id);
    } catch (err) {
      link.failures++;
      this.limited('warn', `connect:${link.id}`, { ...this.peerFields(link.id), address: fmt(link.addr), err: errorText(err) }, `cannot connect to ${this.who(link.id)}; will retry`);
      this.scheduleReconnect(link);
      return;
    }
    const conn: OutboundConn = {
      sock,
      decoder: new FrameDecoder(CONTROL_FRAME_BYTES),
      closed: closedPromise(sock),
      accepted: false,
      ended: false,
      error: null,
      handshakeTimer: null,
    };
    link.conn = conn;
    link.blocked = false;
    sock.setNoDelay?.(true);
    sock.setKeepAlive?.(true, KEEPALIVE_MS);
    sock.on('error', (err: Error) => {
      conn.error ??= errorText(err);
    });
    sock.on('close', () => this.onOutboundClosed(link, conn));
    sock.on('data', (chunk: Uint8Array) => this.onOutboundData(link, conn, chunk));
    sock.on('drain', () => {
      if (link.conn !== conn) return;
      link.blocked = false;
      this.flush(link);
    });
    conn.handshakeTimer = setTimeout(() => {
      conn.handshakeTimer = null;
      this.limited(
        'warn',
        `connect:${link.id}`,
        { ...this.peerFields(link.id), address: fmt(link.addr) },
        `no answer to our hello from ${this.who(link.id)} within ${this.handshakeTimeoutMs} ms; will retry`,
      );
      this.endOutbound(link, conn);
    }, this.handshakeTimeoutMs);
    const hello: Hello = {
      kind: 'hello',
      version: PROTOCOL_VERSION,
      clusterId: this.clusterId,
      from: this.nodeId,
      to: link.id,
      ...(this.uid !== undefined && { uid: this.uid }),
      ...(this.apiUrl !== undefined && { apiUrl: this.apiUrl }),
    };
    sock.write(encodeFrame(encode(hello)));
  }

  /** The acceptor's answer to our hello; anything after it is a protocol error. */
  private onOutboundData(link: PeerLink, conn: OutboundConn, chunk: Uint8Array): void {
    if (conn.ended) return;
    conn.decoder.push(chunk);
    let payload: Uint8Array | null;
    try {
      while (!conn.ended && (payload = conn.decoder.next()) !== null) {
        let reply: unknown;
        try {
          reply = decode(payload, { maxValues: MAX_HELLO_VALUES });
        } catch {
          reply = undefined;
        }
        const kind = typeof reply === 'object' && reply !== null ? (reply as { kind?: unknown }).kind : undefined;
        if (kind === 'accepted' && !conn.accepted) {
          const uid = (reply as { uid?: unknown }).uid;
          const why = this.verifyPeer?.(link.id, { uid: typeof uid === 'string' ? uid : undefined, apiUrl: undefined }) ?? null;
          if (why !== null) {
            this.refusedIdentities++;
            this.limited('error', `identity-out:${link.id}`, { ...this.peerFields(link.id), address: fmt(link.addr), uid: claimed(uid), reason: why }, `${this.who(link.id)} at ${fmt(link.addr)} is not who it claims to be: ${why}; not sending to it`);
            this.endOutbound(link, conn);
          } else {
            this.onAccepted(link, conn);
          }
        } else if (kind === 'refused') {
          const reason = claimed((reply as { reason?: unknown }).reason);
          const identity = (reply as { identity?: unknown }).identity === true;
          this.limited('error', `refused:${link.id}:${String(reason)}`, { ...this.peerFields(link.id), address: fmt(link.addr), reason }, `${this.who(link.id)} refused our connection: ${reason}; will retry`);
          this.endOutbound(link, conn);
          if (identity) {
            try {
              this.onIdentityRefused?.(link.id, String(reason));
            } catch (err) {
              this.log.error({ err: errorText(err) }, 'onIdentityRefused threw');
            }
          }
        } else {
          this.limited('error', `unexpected:${link.id}`, { ...this.peerFields(link.id), address: fmt(link.addr) }, `${this.who(link.id)} sent an unexpected frame on our outbound connection; reconnecting`);
          this.endOutbound(link, conn);
        }
      }
    } catch (err) {
      // A FrameError, or a bug of ours: either way this connection cannot go on, and throwing
      // from a socket callback would take the process down.
      const what = err instanceof FrameError ? 'bad frame' : 'internal error';
      this.limited('error', `unexpected:${link.id}`, { ...this.peerFields(link.id), address: fmt(link.addr), err: errorText(err) }, `${what} on our connection to ${this.who(link.id)}; reconnecting`);
      this.endOutbound(link, conn);
    }
  }

  private onAccepted(link: PeerLink, conn: OutboundConn): void {
    conn.accepted = true;
    if (conn.handshakeTimer !== null) clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = null;
    this.log.info({ ...this.peerFields(link.id), address: fmt(link.addr), failedAttempts: link.failures }, `connected to ${this.who(link.id)}`);
    link.failures = 0;
    this.scheduleFlush(link);
  }

  /** Stops using an outbound connection: destroys it and, unless closing, schedules the next attempt. */
  private endOutbound(link: PeerLink, conn: OutboundConn): void {
    if (conn.ended) return;
    conn.ended = true;
    if (conn.handshakeTimer !== null) clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = null;
    conn.sock.destroy();
    if (link.conn !== conn) return;
    link.conn = null;
    link.blocked = false;
    if (!conn.accepted) link.failures++;
    this.scheduleReconnect(link);
  }

  private onOutboundClosed(link: PeerLink, conn: OutboundConn): void {
    if (conn.ended) return; // we ended it ourselves and said why
    if (!this.closed && !link.removed) {
      if (conn.accepted) {
        this.limited('warn', `lost:${link.id}`, { ...this.peerFields(link.id), address: fmt(link.addr), err: conn.error }, `connection to ${this.who(link.id)} lost; reconnecting`);
      } else {
        this.limited(
          'warn',
          `connect:${link.id}`,
          { ...this.peerFields(link.id), address: fmt(link.addr), err: conn.error ?? 'closed before the handshake completed' },
          `cannot connect to ${this.who(link.id)}; will retry`,
        );
      }
    }
    this.endOutbound(link, conn);
  }

  /** Exponential backoff with "equal jitter": half the delay fixed, half random, so peers don't retry in lockstep. */
  private scheduleReconnect(link: PeerLink): void {
    if (this.closed || link.removed || link.reconnectTimer !== null) return;
    const exp = Math.min(link.failures, 30);
    const base = Math.min(this.reconnectMaxMs, this.reconnectMinMs * 2 ** exp);
    const delay = base / 2 + this.random.float() * (base / 2);
    link.reconnectTimer = setTimeout(() => this.connect(link), delay);
  }

  // ---- TLS -------------------------------------------------------------------------

  /** Dials `peer` over TLS, accepting only a cluster-CA certificate that names that member. */
  private connectTls(addr: PeerAddress, peer: NodeId): TransportSocket {
    const t = this.tls!;
    const want = this.peerName?.(peer);
    return tls.connect({
      host: addr.host,
      port: addr.port,
      ca: t.ca,
      cert: t.cert,
      key: t.key,
      minVersion: 'TLSv1.3',
      // Only SNI host names are valid server names; peers are usually reached by IP.
      ...(net.isIP(addr.host) === 0 && { servername: addr.host }),
      // Host names do not identify members (peers move, and share hosts in tests): the CN does.
      checkServerIdentity: (_host, cert) => {
        const cn = typeof cert.subject?.CN === 'string' ? cert.subject.CN : undefined;
        if (want === undefined) return new Error(`no member name is known for node ${peer}; not connecting`);
        return cn === want ? undefined : new Error(`the peer at ${fmt(addr)} presents a certificate for ${JSON.stringify(cn ?? null)}, not for ${want}`);
      },
    });
  }

  /** The acceptor: only certificates of the cluster CA, TLS 1.3, no anonymous peers. */
  private createTlsServer(t: PeerTlsOptions): net.Server {
    const server = tls.createServer(
      { ca: t.ca, cert: t.cert, key: t.key, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', handshakeTimeout: this.handshakeTimeoutMs },
      (sock) => this.accept(sock),
    );
    server.on('tlsClientError', (err: Error, sock: tls.TLSSocket) => {
      if (this.closed) return;
      this.tlsHandshakeFailures++;
      // A failed handshake may have closed the socket already: ask the TCP socket under it, which admit() stamped.
      const host = sock.remoteAddress ?? remoteHosts.get((sock as { _parent?: object })._parent ?? sock);
      const remote = sock.remoteAddress !== undefined ? describeRemote(sock) : (host ?? 'unknown address');
      // A rejected certificate surfaces as a reset; its verification error says why.
      const authErr = (sock as { authorizationError?: unknown }).authorizationError;
      const why = authErr !== undefined && authErr !== null ? `its certificate is not accepted: ${errorText(authErr)}` : errorText(err);
      this.limited('warn', `tls:${host}`, { remote, err: why, failures: this.tlsHandshakeFailures }, `TLS handshake with ${remote} failed; closing: ${why}`);
    });
    return server;
  }

  /**
   * Admits a new inbound socket unless too many connections are waiting for
   * their hello, from its address or overall: those cost a file descriptor
   * each and prove nothing yet.
   */
  private admit(raw: net.Socket): void {
    const addr = raw.remoteAddress ?? '?';
    remoteHosts.set(raw, addr);
    const n = this.pendingByAddress.get(addr) ?? 0;
    if (n >= this.maxPendingPerAddress || this.pendingTotal >= this.maxPendingConnections) {
      this.cappedConnections++;
      this.limited(
        'warn',
        `capped:${addr}`,
        { remote: addr, pending: n, pendingTotal: this.pendingTotal, maxPendingPerAddress: this.maxPendingPerAddress, maxPendingConnections: this.maxPendingConnections },
        `too many peer connections from ${addr} waiting for their hello; closing a new one`,
      );
      raw.destroy();
      return;
    }
    this.pendingByAddress.set(addr, n + 1);
    this.pendingTotal++;
    const key = pendingKey(raw);
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      this.pendingRelease.delete(key);
      this.pendingTotal--;
      const left = (this.pendingByAddress.get(addr) ?? 1) - 1;
      if (left <= 0) this.pendingByAddress.delete(addr);
      else this.pendingByAddress.set(addr, left);
    };
    this.pendingRelease.set(key, release);
    raw.once('close', release);
  }

  // ---- inbound connections --------------------------------------------------------

  private accept(sock: TransportSocket): void {
    if (this.closed || sock.destroyed) {
      sock.destroy();
      return;
    }
    const conn: InboundConn = {
      sock,
      remote: describeRemote(sock),
      decoder: new FrameDecoder(CONTROL_FRAME_BYTES),
      closed: closedPromise(sock),
      peer: null,
      ended: false,
      timer: null,
    };
    this.inbound.add(conn);
    sock.setNoDelay?.(true);
    sock.setKeepAlive?.(true, KEEPALIVE_MS);
    sock.on('error', (err: Error) => {
      if (!conn.ended) this.log.debug({ remote: conn.remote, ...this.peerFields(conn.peer), err: errorText(err) }, 'inbound connection error');
    });
    sock.on('close', () => {
      if (!conn.ended && conn.peer !== null) this.log.debug({ ...this.peerFields(conn.peer), remote: conn.remote }, `connection from ${this.who(conn.peer)} closed`);
      this.endInbound(conn);
      this.inbound.delete(conn);
    });
    sock.on('data', (chunk: Uint8Array) => this.onInboundData(conn, chunk));
    conn.timer = setTimeout(() => {
      conn.timer = null;
      this.limited('warn', `nohello:${sock.remoteAddress}`, { remote: conn.remote }, `no hello from ${conn.remote} within ${this.handshakeTimeoutMs} ms; closing`);
      this.endInbound(conn);
    }, this.handshakeTimeoutMs);
  }

  private onInboundData(conn: InboundConn, chunk: Uint8Array): void {
    if (conn.ended) return;
    conn.decoder.push(chunk);
    let payload: Uint8Array | null;
    try {
      while (!conn.ended && (payload = conn.decoder.next()) !== null) {
        if (conn.peer === null) this.onHello(conn, payload);
        else this.onPeerFrame(conn, conn.peer, payload);
      }
    } catch (err) {
      // A FrameError, or a bug of ours: never let it escape a socket callback.
      if (err instanceof FrameError) this.frameErrors++;
      const who = conn.peer === null ? `${conn.remote} (before its hello)` : `${this.who(conn.peer)} at ${conn.remote}`;
      // Rate-limited per host, sender and kind of damage: something that keeps reconnecting to send junk must not flood the log.
      this.limited(
        'error',
        `frame:${conn.sock.remoteAddress}:${conn.peer}:${err instanceof FrameError ? err.kind : 'internal'}`,
        { remote: conn.remote, ...this.peerFields(conn.peer), err: errorText(err) },
        `closing connection from ${who}: ${errorText(err)}`,
      );
      this.endInbound(conn);
    }
  }

  private onHello(conn: InboundConn, payload: Uint8Array): void {
    let hello: unknown;
    try {
      hello = decode(payload, { maxValues: MAX_HELLO_VALUES });
    } catch {
      hello = undefined;
    }
    const h = (typeof hello === 'object' && hello !== null ? hello : {}) as Partial<Record<keyof Hello, unknown>>;
    const reason = this.checkHello(h);
    if (reason !== null) {
      this.refusedConnections++;
      this.limited(
        'error',
        `refuse:${conn.sock.remoteAddress}:${reason}`,
        { remote: conn.remote, clusterId: claimed(h.clusterId), from: claimed(h.from), to: claimed(h.to), reason },
        `refused connection from ${conn.remote} claiming cluster ${JSON.stringify(claimed(h.clusterId))} node ${claimed(h.from)}: ${reason}`,
      );
      // The details stay in our log: the caller is not authenticated, and the reason names this cluster and node.
      this.refuse(conn, REFUSED_REASON);
      return;
    }
    const peer = h.from as NodeId;
    if (this.tls !== undefined) {
      // The hello's `from` is only a claim: the certificate says who the peer is.
      const proven = certificateName(conn.sock);
      const want = this.peerName?.(peer);
      if (proven === undefined || want === undefined || proven !== want) {
        this.refusedConnections++;
        this.refusedCertificates++;
        this.limited(
          'error',
          `auth:${conn.sock.remoteAddress}`,
          { remote: conn.remote, certificate: claimed(proven), claims: claimed(h.from), member: want ?? null },
          `refused connection from ${conn.remote}: its certificate names ${JSON.stringify(claimed(proven))}, but its hello claims to be ${this.who(peer)}`,
        );
        this.refuse(conn, 'the certificate does not name the member the hello claims to be');
        return;
      }
    }
    const uid = typeof h.uid === 'string' ? h.uid : undefined;
    const apiUrl = typeof h.apiUrl === 'string' ? h.apiUrl : undefined;
    let why: string | null;
    try {
      why = this.verifyPeer?.(peer, { uid, apiUrl }) ?? null;
    } catch (err) {
      // Could not record what we saw (e.g. the disk failed): accepting would skip the check next time.
      why = 'this node cannot verify peers at the moment';
      this.log.error({ ...this.peerFields(peer), err: errorText(err) }, 'verifying a peer failed; refusing it');
    }
    if (why !== null) {
      this.refusedConnections++;
      this.refusedIdentities++;
      this.limited(
        'error',
        `identity-in:${peer}`,
        { ...this.peerFields(peer), remote: conn.remote, uid: claimed(uid), reason: why },
        `refused connection from ${this.who(peer)} at ${conn.remote}: ${why}`,
      );
      this.refuse(conn, why, true);
      return;
    }
    conn.peer = peer;
    this.pendingRelease.get(pendingKey(conn.sock))?.();
    if (conn.timer !== null) clearTimeout(conn.timer);
    conn.timer = null;
    // Only now may the peer send full-size frames.
    conn.decoder.maxFrameBytes = this.maxFrameBytes;
    // A peer dials us again only when it has given up on its previous connection
    // (or two processes claim the same id): the newest connection wins.
    for (const other of this.inbound) {
      if (other !== conn && other.peer === peer && !other.ended) {
        // Worth a warning: normally the old connection is gone by then. If this repeats,
        // two processes are probably configured with the same id.
        this.limited(
          'warn',
          `replaced:${peer}`,
          { ...this.peerFields(peer), remote: conn.remote, previous: other.remote },
          `${this.who(peer)} connected again from ${conn.remote}; closing its previous connection from ${other.remote}`,
        );
        this.endInbound(other);
      }
    }
    const reply: HelloReply = this.uid !== undefined ? { kind: 'accepted', uid: this.uid } : { kind: 'accepted' };
    conn.sock.write(encodeFrame(encode(reply)));
    this.log.info({ ...this.peerFields(peer), remote: conn.remote }, `accepted connection from ${this.who(peer)}`);
  }

  /** Why a hello must be refused, or null to accept it. */
  private checkHello(h: Partial<Record<keyof Hello, unknown>>): string | null {
    if (h.kind !== 'hello') return 'the first frame is not a hello';
    if (h.version !== PROTOCOL_VERSION) return `unsupported protocol version ${claimed(h.version)} (this node speaks ${PROTOCOL_VERSION})`;
    if (h.clusterId !== this.clusterId) return `cluster id ${JSON.stringify(claimed(h.clusterId))} does not match this node's ${JSON.stringify(this.clusterId)}`;
    if (!isNodeId(h.from) || !this.links.has(h.from)) return `node ${claimed(h.from)} is not a configured peer of node ${this.nodeId}`;
    if (h.to !== this.nodeId) return `hello is addressed to node ${claimed(h.to)}, but this is node ${this.nodeId}`;
    return null;
  }

  private refuse(conn: InboundConn, reason: string, identity = false): void {
    conn.ended = true;
    if (conn.timer !== null) clearTimeout(conn.timer);
    const reply: HelloReply = identity ? { kind: 'refused', reason, identity: true } : { kind: 'refused', reason };
    // Flush the refusal and FIN, then close; a peer that never reads does not get to hold the socket.
    conn.sock.end(encodeFrame(encode(reply)), () => conn.sock.destroy());
    conn.timer = setTimeout(() => {
      conn.timer = null;
      conn.sock.destroy();
    }, REFUSAL_LINGER_MS);
  }

  private onPeerFrame(conn: InboundConn, peer: NodeId, payload: Uint8Array): void {
    const link = this.links.get(peer);
    if (link === undefined) return; // removed while this frame was in flight (its connections are being closed)
    let m: Message;
    try {
      m = validateMessage(decode(payload, { maxValues: MAX_MESSAGE_VALUES }));
    } catch (err) {
      link.rejected++;
      this.limited('warn', `malformed:${peer}`, { ...this.peerFields(peer), remote: conn.remote, err: errorText(err), rejected: link.rejected }, `malformed message from ${this.who(peer)} dropped`);
      return;
    }
    if (m.from !== peer || m.to !== this.nodeId) {
      link.rejected++;
      this.limited(
        'warn',
        `misaddressed:${peer}`,
        { ...this.peerFields(peer), remote: conn.remote, from: m.from, to: m.to, rejected: link.rejected },
        `message from ${m.from} to ${m.to} on ${this.who(peer)}'s connection to ${this.who(this.nodeId)} dropped`,
      );
      return;
    }
    link.received++;
    try {
      this.onMessage(m);
    } catch (err) {
      this.limited('error', 'onMessage', { ...this.peerFields(peer), err: errorText(err) }, 'onMessage threw');
    }
  }

  private endInbound(conn: InboundConn): void {
    if (conn.timer !== null) clearTimeout(conn.timer);
    conn.timer = null;
    if (conn.ended && conn.sock.destroyed) return;
    conn.ended = true;
    conn.sock.destroy();
  }

  // ---- membership ------------------------------------------------------------------

  /**
   * Adds a peer, or changes where an existing one listens (its queue is kept
   * and its connection re-established at the new address). For membership
   * changes, and for tests that learn ports only after starting.
   * @throws RangeError if `id` is not a valid node id or is this node's own.
   */
  setPeer(id: NodeId, addr: PeerAddress): void {
    if (this.closed) return;
    const link = this.links.get(id);
    if (link === undefined) {
      this.connect(this.addLink(id, addr));
      return;
    }
    if (link.addr.host === addr.host && link.addr.port === addr.port) return;
    link.addr = addr;
    link.failures = 0;
    if (link.conn !== null) {
      this.endOutbound(link, link.conn);
    } else if (link.reconnectTimer !== null) {
      clearTimeout(link.reconnectTimer);
      link.reconnectTimer = null;
      this.connect(link);
    }
  }

  /** The ids of the configured peers. */
  peerIds(): NodeId[] {
    return [...this.links.keys()];
  }

  /** Forgets a peer: drops its queue, closes its connections both ways, and refuses it from now on. */
  removePeer(id: NodeId): void {
    const link = this.links.get(id);
    if (link === undefined) return;
    link.removed = true;
    this.links.delete(id);
    if (link.reconnectTimer !== null) clearTimeout(link.reconnectTimer);
    link.reconnectTimer = null;
    link.queue.clear();
    link.queuedBytes = 0;
    if (link.conn !== null) this.endOutbound(link, link.conn);
    for (const conn of this.inbound) if (conn.peer === id) this.endInbound(conn);
  }

  // ---- introspection and shutdown --------------------------------------------------------

  /** A snapshot of the per-peer counters, keyed by peer id. */
  stats(): ReadonlyMap<NodeId, PeerStats> {
    const peers = new Map<NodeId, PeerStats>();
    for (const [id, l] of this.links) {
      peers.set(id, {
        address: l.addr,
        connected: l.conn !== null && l.conn.accepted,
        queued: l.queue.length,
        queuedBytes: l.queuedBytes,
        sent: l.sent,
        bytesSent: l.bytesSent,
        dropped: l.dropped,
        reconnects: l.reconnects,
        received: l.received,
        rejected: l.rejected,
      });
    }
    return peers;
  }

  /** A snapshot of the counters that belong to no configured peer. */
  counters(): TransportCounters {
    return {
      droppedUnknownPeer: this.droppedUnknownPeer,
      refusedConnections: this.refusedConnections,
      refusedIdentities: this.refusedIdentities,
      frameErrors: this.frameErrors,
      tlsHandshakeFailures: this.tlsHandshakeFailures,
      refusedCertificates: this.refusedCertificates,
      cappedConnections: this.cappedConnections,
    };
  }

  /**
   * Stops accepting, closes every connection, cancels reconnects and drops
   * what is still queued. Resolves once every socket and the listener have
   * closed. Idempotent; `send` afterwards drops (and counts) its message.
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closed = true;
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const sockets: Promise<void>[] = [];
    for (const link of this.links.values()) {
      if (link.reconnectTimer !== null) clearTimeout(link.reconnectTimer);
      link.reconnectTimer = null;
      link.queue.clear();
      link.queuedBytes = 0;
      if (link.conn !== null) {
        sockets.push(link.conn.closed);
        this.endOutbound(link, link.conn);
      }
    }
    for (const conn of this.inbound) {
      sockets.push(conn.closed);
      this.endInbound(conn);
    }
    this.closing = Promise.all([serverClosed, ...sockets]).then(() => {
      this.log.info('closed');
    });
    return this.closing;
  }

  /** How logs name a node: `node n2` when its name is known, else `node 60485724`. */
  private who(id: NodeId): string {
    return `node ${this.peerName?.(id) ?? id}`;
  }

  /** A peer's log fields: its name and id when the name is known, else its id. */
  private peerFields(id: NodeId | null): { peer: NodeId | string | null; peerId?: NodeId } {
    const name = id === null ? undefined : this.peerName?.(id);
    return name === undefined ? { peer: id } : { peer: name, peerId: id! };
  }

  private limited(level: 'warn' | 'error', key: string, fields: Record<string, unknown>, msg: string): void {
    const r = this.limiter.allow(key);
    if (!r.ok) return;
    this.log[level](r.suppressed > 0 ? { ...fields, suppressed: r.suppressed } : fields, msg);
  }
}
