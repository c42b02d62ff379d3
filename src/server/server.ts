import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import * as path from 'node:path';
import { createApiServer, type ApiStatus } from '../api/http.js';
import type { KvResult } from '../kv/commands.js';
import { KvService } from '../kv/service.js';
import { KvStateMachine } from '../kv/state-machine.js';
import { startNode } from '../node/builder.js';
import type { RaftNode } from '../node/raft-node.js';
import type { Replica } from '../node/replica.js';
import { FileStorage } from '../storage/file-storage.js';
import { TcpTransport } from '../transport/tcp.js';
import { RealClock } from '../util/clock.js';
import { createLogger, type Logger } from '../util/log.js';
import { SeededRandom, entropySeed } from '../util/random.js';
import { ConfigError, nodeIdOf, validateConfig, type HostPort, type ServerConfig } from './config.js';
import { NodeMetrics } from './metrics.js';

/** What a data directory says about whose it is. */
interface Meta {
  readonly clusterId: string;
  readonly name: string;
}

/** Refuses a data directory that belongs to another node or cluster; claims a new one. */
function checkMeta(dataDir: string, want: Meta): void {
  const file = path.join(dataDir, 'meta.json');
  let text: string | null = null;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text === null) {
    writeFileSync(`${file}.tmp`, `${JSON.stringify(want)}\n`);
    renameSync(`${file}.tmp`, file);
    return;
  }
  let have: Meta;
  try {
    have = JSON.parse(text) as Meta;
  } catch {
    throw new ConfigError(`${file} is not valid JSON; this does not look like a tsraft data directory`);
  }
  if (have.clusterId !== want.clusterId || have.name !== want.name) {
    throw new ConfigError(`${dataDir} belongs to node ${have.name} of cluster ${have.clusterId}, not to node ${want.name} of cluster ${want.clusterId}`);
  }
}

/** Options beyond the configuration. */
export interface ServerOptions {
  readonly logger?: Logger;
  /** Called if the node must stop (its storage failed, an invariant broke). */
  readonly onFatal?: (err: unknown) => void;
}

/**
 * A tsraft node on real parts: `FileStorage` in its data directory, the TCP
 * transport to its peers, a real clock, the replicated KV store, and the HTTP
 * API with metrics. {@link stop} shuts it down cleanly.
 */
export class TsraftServer {
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly config: ServerConfig,
    readonly logger: Logger,
    readonly node: RaftNode,
    readonly replica: Replica<KvResult>,
    readonly kv: KvService,
    private readonly storage: FileStorage,
    private readonly transport: TcpTransport,
    private readonly http: Server,
    private readonly clock: RealClock,
    /** Where the API actually listens (the configured port may be 0). */
    readonly apiAddress: HostPort,
  ) {}

  /** The API's base URL. */
  get apiUrl(): string {
    const h = this.apiAddress.host.includes(':') ? `[${this.apiAddress.host}]` : this.apiAddress.host;
    return `http://${h}:${this.apiAddress.port}`;
  }

  /** Where Raft traffic is accepted (the configured port may be 0). */
  get raftAddress(): HostPort {
    return this.transport.address;
  }

  static async start(cfg: ServerConfig, opts: ServerOptions = {}): Promise<TsraftServer> {
    validateConfig(cfg);
    const logger = opts.logger ?? createLogger({ level: cfg.logLevel, bindings: { node: cfg.name } });
    const selfId = nodeIdOf(cfg.name);
    const nameOf = new Map(cfg.members.map((m) => [nodeIdOf(m.name), m.name]));
    mkdirSync(cfg.dataDir, { recursive: true });

    const storage = await FileStorage.open(path.join(cfg.dataDir, 'raft'), { logger });
    let transport: TcpTransport | undefined;
    let http: Server | undefined;
    try {
      checkMeta(cfg.dataDir, { clusterId: cfg.clusterId, name: cfg.name });
      let node: RaftNode | null = null;
      const metrics = new NodeMetrics({
        node: () => node,
        peers: () => new Map([...(transport?.stats() ?? new Map())].map(([id, s]) => [nameOf.get(id) ?? String(id), s])),
        labels: { node: cfg.name },
      });
      const random = new SeededRandom(entropySeed());
      const peers = new Map(cfg.members.filter((m) => m.name !== cfg.name).map((m) => [nodeIdOf(m.name), m.raft]));
      transport = await TcpTransport.start({
        clusterId: cfg.clusterId,
        nodeId: selfId,
        listen: cfg.listen,
        peers,
        peerName: (id) => nameOf.get(id),
        onMessage: (m) => node?.step(m),
        logger,
        random: random.fork(),
      });
      const clock = new RealClock();
      const onFatal =
        opts.onFatal ??
        ((err: unknown) => {
          logger.fatal({ err }, 'node stopped: it cannot continue safely');
          process.exitCode = 1;
        });
      let lastLeader: number | null = null;
      const sm = new KvStateMachine();
      const started = await startNode({
        id: selfId,
        voters: [...nameOf.keys()],
        // etcd's timing, pre-vote and check quorum: a node that was cut off must not disrupt the cluster
        // when it returns, and a leader that lost its majority must step down rather than keep accepting
        // writes it cannot commit. The configuration may override the timing.
        profile: 'production',
        options: { tickMs: cfg.tickMs, heartbeatTicks: cfg.heartbeatTicks, electionTicks: cfg.electionTicks },
        storage: metrics.timeStorage(storage),
        transport,
        clock,
        random,
        onFatal,
        observer: {
          onRoleChange: ({ role, term, leader }) => {
            if (role === 'candidate') {
              metrics.elections.inc();
              logger.info({ term }, 'election started');
            }
            if (leader !== lastLeader) {
              lastLeader = leader;
              if (leader !== null) {
                metrics.leaderChanges.inc();
                logger.info({ term, leader: nameOf.get(leader) ?? leader }, leader === selfId ? 'became leader' : 'new leader');
              }
            }
          },
        },
        stateMachine: sm,
        replica: {
          maxRaftState: cfg.maxRaftState ?? 16 << 20,
          onSnapshot: (kind, index, bytes) => logger.info({ index, bytes }, kind === 'taken' ? 'snapshot taken' : 'snapshot installed from the leader'),
          onProposal: (outcome, ms) => {
            metrics.proposals.inc();
            if (outcome === 'applied') metrics.proposalSeconds.observe(ms / 1000);
            else metrics.proposalFailures.inc({ reason: outcome });
          },
        },
      });
      node = started.node;
      const { replica, recovered: state } = started;
      const kv = new KvService(replica, sm, Date.now);
      const status = (): ApiStatus => {
        const s = started.node.status();
        return {
          id: cfg.name,
          role: s.role === 'leader' ? 'leader' : s.role === 'follower' ? 'follower' : 'candidate',
          term: s.term,
          leader: s.leader === null ? null : (nameOf.get(s.leader) ?? String(s.leader)),
          commitIndex: s.commitIndex,
          appliedIndex: replica.applied,
          lastIndex: s.lastIndex,
          members: cfg.members.map((m) => m.name),
        };
      };
      http = createApiServer({ kv, status, metrics, logger });
      const server = http;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(cfg.api.port, cfg.api.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const addr = http.address();
      const apiAddress = typeof addr === 'object' && addr !== null ? { host: cfg.api.host, port: addr.port } : cfg.api;
      logger.info(
        { cluster: cfg.clusterId, raft: transport.address, api: apiAddress, members: cfg.members.map((m) => m.name), restoredIndex: state.snapshot?.meta.index ?? 0, entries: state.entries.length, term: state.hardState.term },
        'node started',
      );
      return new TsraftServer(cfg, logger, started.node, replica, kv, storage, transport, http, clock, apiAddress);
    } catch (e) {
      http?.close();
      await transport?.close().catch(() => {});
      await storage.close().catch(() => {});
      throw e;
    }
  }

  /**
   * Shuts down cleanly: stops accepting requests, stops the node (the write
   * in flight, if any, completes and is fsynced), closes storage (releasing
   * the data directory) and the network. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info('shutting down');
      const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
      this.http.closeIdleConnections();
      this.replica.stop();
      this.node.stop();
      await this.storage.close();
      await this.transport.close();
      this.clock.dispose();
      this.http.closeAllConnections();
      await closed;
      this.logger.info('stopped');
    })();
    return this.stopping;
  }
}
