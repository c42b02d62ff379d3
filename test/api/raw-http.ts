/**
 * Raw HTTP/1.1 over a socket, for requests no HTTP client would send
 * (malformed request lines, bad headers, stalled bodies), a logger that keeps
 * its lines, and a one-node cluster to send them to.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pino } from 'pino';
import type { ServerConfig } from '../../src/server/config.js';
import { TsraftServer } from '../../src/server/server.js';
import type { Logger } from '../../src/util/log.js';

export interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** The body as JSON, if it is. */
  readonly json: Record<string, unknown> | undefined;
}

export interface RawExchange {
  /** Complete responses, in order (1xx interim responses left out). */
  readonly responses: RawResponse[];
  /** Whether the server closed (or reset) the connection before the timeout. */
  readonly closed: boolean;
  /** The socket error, if any (ECONNRESET, EPIPE). */
  readonly error: string | undefined;
  /** Milliseconds from connecting to the end. */
  readonly ms: number;
}

/** Parses as many complete responses as `buf` holds. */
export function parseResponses(buf: Buffer): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const headEnd = buf.indexOf('\r\n\r\n', at);
    if (headEnd < 0) return out;
    const lines = buf.subarray(at, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
    if (m === null) return out;
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    let p = headEnd + 4;
    let body: Buffer;
    if (headers['transfer-encoding'] === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const le = buf.indexOf('\r\n', p);
        if (le < 0) return out;
        const size = parseInt(buf.subarray(p, le).toString('latin1'), 16);
        if (buf.length < le + 2 + size + 2) return out;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
        if (size === 0) break;
      }
      body = Buffer.concat(parts);
    } else {
      const n = Number(headers['content-length'] ?? 0);
      if (buf.length < p + n) return out;
      body = buf.subarray(p, p + n);
      p += n;
    }
    at = p;
    const status = Number(m[1]);
    if (status >= 100 && status < 200) continue;
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    out.push({ status, headers, body: body.toString('utf8'), json });
  }
}

/**
 * Connects, writes `data` (chunks are written in turn), and reads until the
 * server closes the connection, `expect` responses have arrived, or `timeoutMs` passed.
 */
export function rawExchange(port: number, data: string | Buffer | readonly (string | Buffer)[], opts: { expect?: number; timeoutMs?: number } = {}): Promise<RawExchange> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ responses: parseResponses(Buffer.concat(chunks)), closed, error, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      if (opts.expect !== undefined && parseResponses(Buffer.concat(chunks)).length >= opts.expect) finish(false);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    sock.on('close', () => finish(true));
    sock.once('connect', () => {
      for (const d of typeof data === 'string' || Buffer.isBuffer(data) ? [data] : data) sock.write(d);
    });
  });
}

/** A request with a Content-Length and `Connection: close` unless headers say otherwise. */
export function request(method: string, target: string, opts: { headers?: Record<string, string>; body?: string | Buffer; keepAlive?: boolean } = {}): Buffer {
  const body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body, 'utf8');
  const h: Record<string, string> = { host: 'probe', ...(opts.keepAlive !== true && { connection: 'close' }), ...(body !== undefined && { 'content-type': 'application/json', 'content-length': String(body.length) }), ...opts.headers };
  const head = `${method} ${target} HTTP/1.1\r\n${Object.entries(h)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
  return body === undefined ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** A pino logger that keeps every line it writes (parsed), at `level`. */
export function captureLogger(level = 'debug'): { logger: Logger; lines: Record<string, unknown>[]; bytes: () => number } {
  const lines: Record<string, unknown>[] = [];
  let bytes = 0;
  const logger = pino(
    { level },
    {
      write(s: string) {
        bytes += Buffer.byteLength(s);
        lines.push(JSON.parse(s) as Record<string, unknown>);
      },
    },
  );
  return { logger, lines, bytes: () => bytes };
}

/** pino's numeric level of "error". */
export const ERROR_LEVEL = 50;

/** A one-node cluster in this process, leader once this resolves; `close` stops it and removes its directory. */
export async function startOneNode(over: Partial<ServerConfig>, logger: Logger): Promise<{ server: TsraftServer; port: number; close: () => Promise<void> }> {
  const root = mkdtempSync(path.join(tmpdir(), 'tsraft-limits-'));
  const server = await TsraftServer.start(
    {
      name: 'n1',
      clusterId: 'limits',
      dataDir: path.join(root, 'n1'),
      listen: { host: '127.0.0.1', port: 0 },
      api: { host: '127.0.0.1', port: 0 },
      members: [{ name: 'n1', raft: { host: '127.0.0.1', port: 0 } }],
      tickMs: 10,
      insecurePeers: true,
      heartbeatTicks: 5,
      electionTicks: 30,
      ...over,
    },
    { logger, onFatal: (e) => logger.fatal({ err: e }, 'fatal in test') },
  );
  const deadline = Date.now() + 10_000;
  // Elected, and its election no-op committed: tests that compare commit indexes see only their own writes.
  const settled = (): boolean => {
    const st = server.node.status();
    return server.node.isLeader() && st.commitIndex === st.lastIndex && st.lastIndex > 0;
  };
  while (!settled()) {
    if (Date.now() > deadline) throw new Error('the one-node cluster elected no leader, or did not commit its election no-op');
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    server,
    port: server.apiAddress.port,
    close: async () => {
      await server.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
