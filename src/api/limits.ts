/**
 * Resource limits of the HTTP API: a cap on client connections (answered
 * with a short 503 above it, never a silent hang), the header and whole-request
 * timeouts Node enforces, what accept errors (EMFILE) and malformed HTTP do to
 * a connection, and the margin the cap keeps below the process's file limit.
 */
import { readFileSync } from 'node:fs';
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { RateLimitedLog } from '../util/rate-limit.js';
import { AcceptBurst } from './accept-burst.js';

/** The API's resource limits (docs/OPERATIONS.md, "Limits"). */
export interface ApiLimits {
  /** Client connections open at once; above it a new connection gets 503 and is closed. Default 1000. */
  readonly maxConnections: number;
  /** The request line and headers must arrive within this (ms), else 408 and close. Default 10 s. */
  readonly headersTimeoutMs: number;
  /** A request body that sends no byte for this long is cut (ms): 408 and close. Default 10 s. */
  readonly bodyIdleTimeoutMs: number;
  /** A whole request (headers and body) must arrive within this (ms), however it trickles: 408 and close. Default 60 s. */
  readonly receiveTimeoutMs: number;
  /** An idle keep-alive connection is closed after this (ms). Default 60 s. */
  readonly keepAliveTimeoutMs: number;
}

export const DEFAULT_API_LIMITS: ApiLimits = {
  maxConnections: 1000,
  headersTimeoutMs: 10_000,
  bodyIdleTimeoutMs: 10_000,
  receiveTimeoutMs: 60_000,
  keepAliveTimeoutMs: 60_000,
};

/** Fills in defaults and checks every limit is a positive integer; throws RangeError naming the bad one. */
export function resolveApiLimits(over: Partial<ApiLimits> = {}): ApiLimits {
  const l = { ...DEFAULT_API_LIMITS, ...Object.fromEntries(Object.entries(over).filter(([, v]) => v !== undefined)) } as ApiLimits;
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`API limit ${k} must be a positive integer, got ${String(v)}`);
  }
  // Node refuses a headers timeout above the request timeout.
  if (l.headersTimeoutMs > l.receiveTimeoutMs) return { ...l, headersTimeoutMs: l.receiveTimeoutMs };
  return l;
}

/**
 * The soft limit on open files of this process, from /proc/self/limits
 * (Linux); Infinity if unlimited, null if it cannot be read. Node raises the
 * soft limit to the hard one at start, so this is the limit in force.
 */
export function readOpenFileLimit(file = '/proc/self/limits'): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  return parseOpenFileLimit(text);
}

/** The soft "Max open files" of a /proc/PID/limits text. */
export function parseOpenFileLimit(text: string): number | null {
  const m = /^Max open files\s+(\S+)/m.exec(text);
  if (m === null) return null;
  if (m[1] === 'unlimited') return Infinity;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

/** File descriptors kept for everything but client connections: WAL and snapshot files, peer sockets, stdio. */
export function reservedDescriptors(fileLimit: number): number {
  return Math.min(128, Math.floor(fileLimit / 2));
}

/**
 * The connection cap to use: `requested`, lowered to keep
 * {@link reservedDescriptors} free below the file limit (a process out of
 * descriptors cannot open its WAL's next segment, and its clients hang).
 * `lowered` is set when the cap was lowered, to be logged.
 */
export function connectionCapFor(requested: number, fileLimit: number | null): { cap: number; lowered?: { fileLimit: number; reserved: number } } {
  if (fileLimit === null || !Number.isFinite(fileLimit)) return { cap: requested };
  const reserved = reservedDescriptors(fileLimit);
  const most = Math.max(1, fileLimit - reserved);
  return requested <= most ? { cap: requested } : { cap: most, lowered: { fileLimit, reserved } };
}

/** Node's options for `http.createServer` that enforce {@link ApiLimits}. */
export function httpServerOptions(l: ApiLimits): { headersTimeout: number; requestTimeout: number; keepAliveTimeout: number; connectionsCheckingInterval: number; requireHostHeader: boolean } {
  return {
    // The handler checks Host itself, to answer in JSON like every other error (src/api/request-target.ts).
    requireHostHeader: false,
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: l.receiveTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    // Node checks both timeouts only this often (default 30 s): a 10 s timeout would otherwise act after up to 40 s.
    connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(l.headersTimeoutMs / 4))),
  };
}

/** A complete HTTP/1.1 answer with a JSON error body that closes the connection, written raw to a socket. */
export function rawJsonAnswer(status: number, reason: string, code: string, message: string, headers: Record<string, string> = {}, head = false): string {
  const json = JSON.stringify({ error: code, message });
  // An answer to HEAD has the headers of the answer to GET, and no body.
  const body = head ? '' : json;
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(json)}\r\nconnection: close\r\n${extra}\r\n${body}`;
}

/** Refusals whose socket is still open at once; past this, a refused connection is closed without an answer. */
const MAX_LINGERING_REFUSALS = 64;
/** How long a refused connection may take to read its answer before it is closed (ms). */
const REFUSAL_LINGER_MS = 2_000;

/** Counts of a {@link ConnectionGate}. */
export interface ConnectionGateStats {
  /** Client connections open now. */
  readonly open: number;
  /** Connections refused since start because the cap was reached. */
  readonly refused: number;
  /** Bursts of new connections during which established ones were not read, since start (src/api/accept-burst.ts). */
  readonly acceptBursts: number;
}

/**
 * Caps the connections of an HTTP (or HTTPS) server. It sits in front of the
 * server's own connection handling: a connection over the cap never reaches
 * the HTTP parser; it is answered `503 too-many-connections` (plain HTTP; a
 * TLS server just closes it) and closed. Also keeps accept errors (EMFILE,
 * ENFILE) from crashing the process: they are logged, rate-limited, and the
 * server keeps serving (libuv closes connections it cannot accept).
 */
export class ConnectionGate {
  private readonly sockets = new Set<Duplex>();
  private lingering = 0;
  private refusedCount = 0;
  private readonly burst = new AcceptBurst();

  constructor(
    server: net.Server,
    private readonly max: number,
    private readonly log: RateLimitedLog,
    private readonly onRefused: () => void = () => {},
  ) {
    const tlsServer = server instanceof tls.Server;
    // The server's own 'connection' handling (the HTTP parser, or the TLS handshake) runs only for connections under the cap.
    const inner = server.listeners('connection') as ((s: Duplex) => void)[];
    server.removeAllListeners('connection');
    server.on('connection', (socket: net.Socket) => {
      this.burst.accepted();
      if (this.sockets.size >= this.max) {
        this.refuse(socket, tlsServer);
        return;
      }
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      for (const l of inner) l.call(server, socket);
    });
    server.on('error', (err: NodeJS.ErrnoException) => {
      // Errors of listen() (EADDRINUSE) are for whoever called listen; these come from accept().
      if (err.syscall !== 'accept') return;
      this.log.log('error', `accept:${err.code ?? '?'}`, { code: err.code, open: this.sockets.size, cap: this.max }, err.code === 'EMFILE' || err.code === 'ENFILE' ? 'cannot accept a client connection: out of file descriptors; raise the file limit (ulimit -n) or lower --max-client-connections' : `cannot accept a client connection: ${err.message}`);
    });
  }

  /** A request arrived on `socket` (its server's request handler says so): it is an established connection, which a burst of new ones pauses. */
  served(socket: Duplex): void {
    this.burst.served(socket);
  }

  get stats(): ConnectionGateStats {
    return { open: this.sockets.size, refused: this.refusedCount, acceptBursts: this.burst.stats.bursts };
  }

  private refuse(socket: net.Socket, tlsServer: boolean): void {
    this.refusedCount++;
    this.onRefused();
    this.log.log('warn', 'cap', { cap: this.max, remote: socket.remoteAddress }, 'client connection refused: the connection cap is reached');
    socket.on('error', () => {});
    if (tlsServer || this.lingering >= MAX_LINGERING_REFUSALS) {
      socket.destroy();
      return;
    }
    this.lingering++;
    // Read and drop what the client sends: closing a socket with unread input resets it, and the client might lose the answer.
    socket.resume();
    socket.end(rawJsonAnswer(503, 'Service Unavailable', 'too-many-connections', `this node serves at most ${this.max} client connections at once; retry later`, { 'retry-after': '1' }));
    const t = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
    t.unref();
    socket.once('close', () => {
      clearTimeout(t);
      this.lingering--;
    });
  }
}

/** Node's error codes of a malformed request, mapped to an answer. */
function clientErrorAnswer(err: NodeJS.ErrnoException & { reason?: string; rawPacket?: Buffer }): string {
  // The parser gives up before a request exists, but the bytes it read tell whether it was a HEAD.
  const head = err.rawPacket !== undefined && err.rawPacket.subarray(0, 5).toString('latin1') === 'HEAD ';
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return rawJsonAnswer(431, 'Request Header Fields Too Large', 'headers-too-large', 'the request line and headers exceed the limit of 16 KiB', {}, head);
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return rawJsonAnswer(408, 'Request Timeout', 'request-timeout', 'the request did not arrive in time', {}, head);
    default:
      return rawJsonAnswer(400, 'Bad Request', 'invalid', `malformed HTTP request: ${err.reason ?? err.message} (${err.code ?? 'unknown'})`, {}, head);
  }
}

/**
 * Answers a request Node's HTTP parser refused (the server's 'clientError'
 * event) with a JSON error naming the problem, as every other error of the
 * API, and closes the connection. A client's mistake is not ours: logged at
 * debug, rate-limited.
 */
export function handleClientError(log: RateLimitedLog): (err: Error, socket: Duplex) => void {
  return (err, socket) => {
    const e = err as NodeJS.ErrnoException & { reason?: string; rawPacket?: Buffer };
    log.log('debug', `client:${e.code ?? '?'}`, { code: e.code, reason: e.reason ?? e.message }, 'malformed or aborted client request');
    socket.on('error', () => {});
    // An answer only if none has started on this connection: it would corrupt it.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (e.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent === true) {
      socket.destroy();
      return;
    }
    socket.end(clientErrorAnswer(e));
    const t = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
    t.unref();
    socket.once('close', () => clearTimeout(t));
  };
}

/** Answers CONNECT (a proxy request) with 405 instead of Node's silent close. */
export function refuseConnect(_req: unknown, socket: Duplex): void {
  socket.on('error', () => {});
  socket.end(rawJsonAnswer(405, 'Method Not Allowed', 'method-not-allowed', 'CONNECT is not allowed: this is not a proxy'));
}

/** Answers an `Expect` other than 100-continue with a JSON 417 (Node's own answer has no body). */
function refuseExpectation(req: IncomingMessage, res: ServerResponse): void {
  const body = JSON.stringify({ error: 'expectation-failed', message: `Expect: ${req.headers.expect ?? ''} is not supported; only 100-continue is` });
  res.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}

/** Installs the gate, the client-error answers and the CONNECT and Expect refusals on an API server. */
export function guardServer(server: HttpServer, limits: ApiLimits, log: RateLimitedLog, onRefused?: () => void): ConnectionGate {
  server.on('clientError', handleClientError(log));
  server.on('connect', refuseConnect);
  server.on('checkExpectation', refuseExpectation);
  return new ConnectionGate(server, limits.maxConnections, log, onRefused);
}
