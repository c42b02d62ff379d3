import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { MembershipError, type AddMemberRequest } from '../../src/api/membership.js';
import type { ServerConfig } from '../../src/server/config.js';
import { TsraftServer, type ServerOptions } from '../../src/server/server.js';
import { ensureClusterCerts } from '../../src/security/cluster-certs.js';
import { silentLogger, type Logger } from '../../src/util/log.js';

/** Fast timing: 10 ms ticks, heartbeats every 50 ms, elections after 300–600 ms. */
export const TIMING = { tickMs: 10, heartbeatTicks: 5, electionTicks: 30 } as const;

import { freePort } from '../util/ports.js';
export { freePort };

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

/** Real servers in this process, on loopback, in a temporary directory. */
export class TestCluster {
  readonly root = mkdtempSync(path.join(tmpdir(), 'tsraft-server-'));
  readonly servers = new Map<string, TsraftServer>();
  readonly fatal = new Map<string, unknown[]>();
  private gateway: Server | null = null;
  gatewayUrl = '';
  /** Peers authenticate with certificates of a CA in `<root>/ca` (`<root>/certs/<name>`); else `insecurePeers`. */
  peerTls = false;

  /**
   * Starts n servers; with `peerTls`, over mutual TLS with a CA made for this cluster.
   * `logger` gives a node its logger (default silent); `timing` overrides {@link TIMING}.
   */
  static async start(n: number, opts: { readonly peerTls?: boolean; readonly logger?: (name: string) => Logger; readonly timing?: Partial<ServerConfig> } = {}): Promise<TestCluster> {
    const c = new TestCluster();
    const names = Array.from({ length: n }, (_, k) => `n${k + 1}`);
    if (opts.peerTls === true) {
      c.peerTls = true;
      await ensureClusterCerts(c.root, names);
    }
    const ports = await Promise.all(names.map(() => freePort()));
    const members = names.map((name, k) => ({ name, raft: { host: '127.0.0.1', port: ports[k]! } }));
    await Promise.all(names.map((name, k) => c.startNode({ name, listen: { host: '127.0.0.1', port: ports[k]! }, members, ...opts.timing }, opts.logger !== undefined ? { logger: opts.logger(name) } : {})));
    await c.leader();
    await c.startGateway();
    return c;
  }

  dataDir(name: string): string {
    return path.join(this.root, name);
  }

  config(over: Partial<ServerConfig> & { name: string }): ServerConfig {
    return {
      clusterId: 'test-cluster',
      // Most of these tests are about the server and membership, not peer authentication (test/security covers that).
      ...(this.peerTls ? { tlsDir: path.join(this.root, 'certs', over.name) } : { insecurePeers: true }),
      dataDir: this.dataDir(over.name),
      listen: { host: '127.0.0.1', port: 0 },
      api: { host: '127.0.0.1', port: 0 },
      members: [],
      ...TIMING,
      ...over,
    };
  }

  async startNode(over: Partial<ServerConfig> & { name: string }, opts: ServerOptions = {}): Promise<TsraftServer> {
    const errors: unknown[] = [];
    this.fatal.set(over.name, errors);
    const s = await TsraftServer.start(this.config(over), { logger: silentLogger(), onFatal: (e) => errors.push(e), ...opts });
    this.servers.set(over.name, s);
    return s;
  }

  get(name: string): TsraftServer {
    const s = this.servers.get(name);
    if (s === undefined) throw new Error(`no server ${name}`);
    return s;
  }

  async stopNode(name: string): Promise<void> {
    await this.servers.get(name)?.stop();
    this.servers.delete(name);
  }

  /** The one running leader, once there is one. */
  async leader(timeoutMs = 10_000): Promise<TsraftServer> {
    let found: TsraftServer | null = null;
    await waitFor(
      'a leader',
      () => {
        const ls = [...this.servers.values()].filter((s) => s.node.isLeader());
        found = ls.length === 1 ? ls[0]! : null;
        return found !== null;
      },
      timeoutMs,
    );
    return found!;
  }

  /** Writes through the leader, retrying while leadership moves. */
  async put(key: string, value: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await (await this.leader()).kv.put(key, value);
        return;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** Waits until `name` holds every key with its value (read locally). */
  async holds(name: string, kv: ReadonlyMap<string, string>): Promise<void> {
    const s = this.get(name);
    await waitFor(`${name} holds ${kv.size} keys`, async () => {
      for (const [k, v] of kv) if ((await s.kv.get(k, 'stale'))?.value !== v) return false;
      return true;
    });
  }

  /**
   * POST /v1/members for joining nodes, answered by the current leader's
   * membership (the HTTP routes belong to src/api/http.ts; this keeps these
   * tests about the server).
   */
  private async startGateway(): Promise<void> {
    this.gateway = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          try {
            if (req.method !== 'POST' || req.url !== '/v1/members') throw new MembershipError('not-found', 'no such route');
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AddMemberRequest;
            const r = await (await this.leader()).membership.add(body);
            res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(r));
          } catch (e) {
            const code = e instanceof MembershipError ? e.code : 'internal';
            const status = { 'bad-request': 400, 'not-found': 404, conflict: 409, unavailable: 503, internal: 500 }[code];
            res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: code, message: (e as Error).message }));
          }
        })();
      });
    });
    await new Promise<void>((r) => this.gateway!.listen(0, '127.0.0.1', () => r()));
    this.gatewayUrl = `http://127.0.0.1:${(this.gateway.address() as net.AddressInfo).port}`;
  }

  async close(): Promise<void> {
    await Promise.all([...this.servers.values()].map((s) => s.stop()));
    this.servers.clear();
    await new Promise<void>((r) => (this.gateway === null ? r() : this.gateway.close(() => r())));
    rmSync(this.root, { recursive: true, force: true });
  }
}
