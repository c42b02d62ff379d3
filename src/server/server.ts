import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import * as path from 'node:path';
import { createApiServer, type ApiServer, type ApiStatus } from '../api/http.js';
import { AuthService } from '../auth/service.js';
import { caFetchOptions, readCaFile } from '../security/https-client.js';
import { connectionCapFor, DEFAULT_API_LIMITS, readOpenFileLimit } from '../api/limits.js';
import type { Backup } from '../backup/format.js';
import { membersOfConf, takeBackup } from '../backup/take.js';
import type { AddMemberResult } from '../api/membership.js';
import { isJoint, members as membersOf } from '../core/membership.js';
import type { ConfState, NodeId } from '../core/types.js';
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
import { CertificateError, readTlsDir, type TlsMaterial } from '../security/certs.js';
import { AddressBook } from './address-book.js';
import { ConfigError, DEFAULT_QUOTA_BYTES, nodeIdOf, validateBootstrap, validateConfig, type HostPort, type ServerConfig } from './config.js';
import { decodeMemberContext } from './member-context.js';
import { PeerIdentityError } from './errors.js';
import { ClusterMembership, transportPeers } from './membership.js';
import { newUid, readMeta, writeMeta, type KnownPeer, type Meta } from './meta.js';
import { NodeMetrics } from './metrics.js';
import { EventHub, histogramReading } from './events.js';
import { eventsSource } from './events-source.js';
import { MessageCounter } from './message-counter.js';
import { WatchHistory } from '../kv/watch-history.js';
import { WatchHub, type WatchHubStats } from './watch.js';
import { startLeaseTimer, type ServerLeases } from './leases.js';

export { PeerIdentityError };

function fmtHostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** A free TCP port on `host` (to advertise an address before the node can start listening on it). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Finds out whose the data directory is, and claims it if it is new:
 * an existing meta.json must name this cluster and node (fields missing from
 * older versions are added); a new directory either bootstraps a new cluster
 * from `--peers` or joins one (`join` is then called to ask the cluster).
 */
async function loadMeta(cfg: ServerConfig, logger: Logger, join: (uid: string) => Promise<AddMemberResult>): Promise<Meta> {
  const have = readMeta(cfg.dataDir);
  const peersOf = (ms: ServerConfig['members']): Record<string, KnownPeer> =>
    Object.fromEntries(ms.filter((m) => m.name !== cfg.name).map((m) => [String(nodeIdOf(m.name)), { name: m.name, peer: fmtHostPort(m.raft) }]));
  if (have !== null) {
    if (have.clusterId !== cfg.clusterId || have.name !== cfg.name) {
      throw new ConfigError(`${cfg.dataDir} belongs to node ${have.name} of cluster ${have.clusterId}, not to node ${cfg.name} of cluster ${cfg.clusterId}`);
    }
    if (cfg.join !== undefined) logger.info({ join: cfg.join }, '--join ignored: the data directory already holds this node of its cluster');
    if (have.peers !== undefined && cfg.members.length > 0) logger.info('--peers ignored: the data directory already holds a cluster; addresses come from it and from the replicated configuration');
    if (have.bootstrap === undefined && cfg.members.length === 0) throw new ConfigError(`${cfg.dataDir} was created by an older version: give the --peers it was started with once`);
    const meta: Meta = {
      clusterId: have.clusterId,
      name: have.name,
      uid: have.uid ?? newUid(),
      id: have.id ?? nodeIdOf(have.name),
      bootstrap: have.bootstrap ?? cfg.members.map((m) => nodeIdOf(m.name)),
      peers: have.peers ?? peersOf(cfg.members),
      trusted: have.trusted ?? {},
    };
    if (JSON.stringify(meta) !== JSON.stringify(have)) writeMeta(cfg.dataDir, meta);
    return meta;
  }
  const uid = newUid();
  if (cfg.join !== undefined) {
    const r = await join(uid);
    if (r.clusterId !== cfg.clusterId) throw new ConfigError(`the cluster at ${cfg.join} is '${r.clusterId}', not '${cfg.clusterId}' (--cluster-id); it added ${cfg.name} anyway: remove it with  tsraft member remove ${cfg.name} --endpoints ${cfg.join}`);
    const peers = Object.fromEntries(r.members.filter((m) => m.id !== r.member.id).map((m) => [String(m.id), { name: m.name, peer: m.peerAddress, api: m.apiUrl || undefined }]));
    const meta: Meta = { clusterId: r.clusterId, name: cfg.name, uid, id: r.member.id, bootstrap: [], peers, trusted: {} };
    writeMeta(cfg.dataDir, meta);
    logger.info({ id: meta.id, members: r.members.map((m) => m.name) }, 'joined the cluster as a learner');
    return meta;
  }
  validateBootstrap(cfg);
  const meta: Meta = { clusterId: cfg.clusterId, name: cfg.name, uid, id: nodeIdOf(cfg.name), bootstrap: cfg.members.map((m) => nodeIdOf(m.name)), peers: peersOf(cfg.members), trusted: {} };
  writeMeta(cfg.dataDir, meta);
  return meta;
}

/** A file's contents for a setting; a {@link ConfigError} naming the setting if it cannot be read. */
function readSetting(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${what} ${file}: ${(e as Error).message}`);
  }
}

/**
 * The CA to trust for other members' HTTPS APIs: `--api-cacert`, else the
 * ca.pem next to `--api-cert`, else the cluster CA of `--tls-dir` (the same CA
 * signs both in `tsraft cluster --tls`).
 */
function apiCaOf(cfg: ServerConfig): string | undefined {
  const beside = (dir: string | undefined): string | undefined => (dir !== undefined && existsSync(path.join(dir, 'ca.pem')) ? path.join(dir, 'ca.pem') : undefined);
  const file = cfg.apiCaFile ?? beside(cfg.apiCertFile === undefined ? undefined : path.dirname(cfg.apiCertFile)) ?? beside(cfg.tlsDir);
  if (file === undefined) return undefined;
  try {
    return readCaFile(file, '--api-cacert');
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
}

/** `POST URL/v1/members` for a node that joins. */
async function askToJoin(cfg: ServerConfig, body: { name: string; peerAddress: string; apiUrl: string; learner: boolean; uid: string }, fetchOptions: Record<string, unknown>): Promise<AddMemberResult> {
  const url = `${cfg.join!.replace(/\/+$/, '')}/v1/members`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  // A cluster with auth on adds members only for an admin token.
  if (cfg.tokenFile !== undefined) headers['authorization'] = `Bearer ${readSetting(cfg.tokenFile, '--token-file').trim()}`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(90_000), ...fetchOptions } as RequestInit);
  } catch (e) {
    throw new ConfigError(`--join: cannot reach ${url}: ${(e as Error).message}`);
  }
  const text = await res.text();
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    v = undefined;
  }
  if (!res.ok) {
    const msg = (v as { message?: unknown } | undefined)?.message;
    const why = typeof msg === 'string' ? msg : text.slice(0, 200);
    const auth = res.status === 401 ? ' (the cluster has auth on: give an admin token with --token-file)' : res.status === 403 ? ' (the token given with --token-file is not an admin token)' : '';
    const hint = auth !== '' ? auth : res.status === 409 ? ' (if this node was added before and its data directory is gone, remove it first: tsraft member remove ' + cfg.name + ' --endpoints ' + cfg.join + ')' : '';
    throw new ConfigError(`--join: the cluster refused to add ${cfg.name}: HTTP ${res.status}: ${why}${hint}`);
  }
  const r = v as Partial<AddMemberResult> | undefined;
  if (r === undefined || typeof r.clusterId !== 'string' || typeof r.member?.id !== 'number' || !Array.isArray(r.members)) throw new ConfigError(`--join: ${url} answered something that is not a membership answer`);
  return r as AddMemberResult;
}

/** Options beyond the configuration. */
export interface ServerOptions {
  readonly logger?: Logger;
  /**
   * Called if the node must stop: its storage failed, an invariant broke, or a
   * peer refused it as not the member it claims to be ({@link PeerIdentityError},
   * whose message names the commands to run). Default: log it and set a non-zero exit code.
   */
  readonly onFatal?: (err: unknown) => void;
}

/** Whether the node is shutting down, and why. */
interface NodeHealth {
  stopping: string | null;
}

/** The kind of configuration change from `prev` to `next`, for the metric and the log. */
function changeKind(prev: ConfState, next: ConfState): string {
  if (isJoint(next) && !isJoint(prev)) return 'enter-joint';
  if (isJoint(prev) && !isJoint(next)) return 'leave-joint';
  const before = new Set(membersOf(prev));
  const after = new Set(membersOf(next));
  if ([...after].some((id) => !before.has(id))) return 'add-learner';
  if ([...before].some((id) => !after.has(id))) return 'remove-learner';
  return 'other';
}

/**
 * A tsraft node on real parts: `FileStorage` in its data directory, the TCP
 * transport to its peers, a real clock, the replicated KV store, and the HTTP
 * API with metrics and membership changes. {@link stop} shuts it down cleanly.
 *
 * Peers' addresses come from the data directory's meta.json (seeded by
 * `--peers` for a new cluster, or by the join answer) and from the replicated
 * configuration: the transport's peers follow the configuration in force.
 */
export class TsraftServer {
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly config: ServerConfig,
    readonly logger: Logger,
    readonly node: RaftNode,
    readonly replica: Replica<KvResult>,
    readonly kv: KvService,
    /** The membership operations (leader does the work; followers forward to it). */
    readonly membership: ClusterMembership,
    private readonly book: AddressBook,
    private readonly storage: FileStorage,
    private readonly transport: TcpTransport,
    private readonly http: ApiServer,
    private readonly clock: RealClock,
    /** Where the API actually listens (the configured port may be 0). */
    readonly apiAddress: HostPort,
    /** Why the node is shutting down, once it is (`/healthz` answers 503 with it). */
    private readonly health: NodeHealth,
    private readonly apiScheme: 'http' | 'https',
    /** The live events of `GET /v1/events`. */
    readonly events: EventHub,
    /** The watch streams of `GET /v1/watch`. */
    readonly watch: WatchHub,
    /** Leases (`/v1/leases`) and the leader's expiry timer. */
    readonly leases: ServerLeases,
  ) {}

  /** The API's base URL (https:// with `--api-cert`). */
  get apiUrl(): string {
    return apiUrlOf(this.apiAddress, this.apiScheme);
  }

  /** Where Raft traffic is accepted (the configured port may be 0). */
  get raftAddress(): HostPort {
    return this.transport.address;
  }

  /** This node's Raft id (`nodeIdOf(name)` for a bootstrap member, a fresh id for one that joined). */
  get id(): NodeId {
    return this.book.self.id;
  }

  /** This data directory's incarnation id. */
  get uid(): string {
    return this.book.self.uid;
  }

  static async start(cfg: ServerConfig, opts: ServerOptions = {}): Promise<TsraftServer> {
    validateConfig(cfg);
    const logger = opts.logger ?? createLogger({ level: cfg.logLevel, bindings: { node: cfg.name } });
    mkdirSync(cfg.dataDir, { recursive: true });

    const peerTls = await loadPeerTls(cfg, logger);
    // HTTPS for the API, and the CA for calls to other members' APIs, read before anything starts.
    const tls = cfg.apiCertFile !== undefined && cfg.apiKeyFile !== undefined ? { cert: readSetting(cfg.apiCertFile, '--api-cert'), key: readSetting(cfg.apiKeyFile, '--api-key') } : undefined;
    const fetchOptions = caFetchOptions(apiCaOf(cfg));
    const scheme = tls === undefined ? 'http' : 'https';
    const storage = await FileStorage.open(path.join(cfg.dataDir, 'raft'), { logger });
    let transport: TcpTransport | undefined;
    let http: ApiServer | undefined;
    let membership: ClusterMembership | undefined;
    let leaseTimer: ServerLeases | undefined;
    const health: NodeHealth = { stopping: null };
    try {
      // A node that joins must say where it will listen before it can listen: pick the ports now.
      let listen = cfg.listen;
      let apiAt = cfg.api;
      const meta = await loadMeta(cfg, logger, async (uid) => {
        if (listen.port === 0) listen = { ...listen, port: await freePort(listen.host) };
        if (apiAt.port === 0) apiAt = { ...apiAt, port: await freePort(apiAt.host) };
        return askToJoin(cfg, { name: cfg.name, peerAddress: fmtHostPort(listen), apiUrl: apiUrlOf(apiAt, scheme), learner: cfg.learner === true, uid }, fetchOptions);
      });
      // Peers learn this node's API URL from its hellos: it must be the real one.
      if (apiAt.port === 0) apiAt = { ...apiAt, port: await freePort(apiAt.host) };
      const book = new AddressBook(cfg.dataDir, meta, logger);
      const selfId = meta.id;
      const nameOf = (id: NodeId): string | undefined => book.nameOf(id);
      let node: RaftNode | null = null;
      // Changes kept for watchers (GET /v1/watch): recorded on the apply path, delivered off it.
      const watchHistory = new WatchHistory({ maxRevisions: cfg.watchHistory });
      const sm = new KvStateMachine({ changes: watchHistory });
      // Filled once they exist: the metrics are made before the node, its watch hub and lease timer.
      let watchStats = (): WatchHubStats | undefined => undefined;
      let expiriesProposed = (): number => 0;
      const metrics = new NodeMetrics({
        node: () => node,
        watch: () => watchStats(),
        leases: () => ({ count: sm.leaseCount, expiriesProposed: expiriesProposed(), expiriesApplied: sm.leaseExpiriesApplied }),
        txns: () => sm.txnsApplied,
        store: () => ({ sizeBytes: sm.sizeBytes, alarms: sm.alarms().map((a) => a.alarm) }),
        peers: () => new Map([...(transport?.stats() ?? new Map())].map(([id, st]) => [nameOf(id) ?? String(id), st])),
        labels: { node: cfg.name },
        apiConnections: () => http?.connections().open ?? 0,
        apiAcceptBursts: () => http?.connections().acceptBursts ?? 0,
        peerRefusals: () => {
          const c = transport?.counters();
          if (c === undefined) return new Map();
          return new Map([
            ['tls-handshake', c.tlsHandshakeFailures],
            ['certificate', c.refusedCertificates],
            ['hello', c.refusedConnections - c.refusedCertificates],
            ['capped', c.cappedConnections],
          ]);
        },
        learnerLag: () => {
          const out = new Map<string, number>();
          if (node === null || !node.isLeader()) return out;
          const progress = node.progress();
          const last = node.status().lastIndex;
          for (const id of node.conf.learners) out.set(nameOf(id) ?? String(id), Math.max(0, last - (progress.get(id)?.match ?? 0)));
          return out;
        },
      });
      const reportFatal =
        opts.onFatal ??
        ((err: unknown) => {
          logger.fatal({ err }, 'node stopped: it cannot continue safely');
          process.exitCode = 1;
        });
      // From the fatal error on, /healthz says the node is going (a supervisor must not see it healthy).
      const onFatal = (err: unknown): void => {
        health.stopping ??= `fatal error: ${err instanceof Error ? err.message : String(err)}`;
        reportFatal(err);
      };
      let refused = false;
      const random = new SeededRandom(entropySeed());
      const conf = (): ConfState => node?.conf ?? { voters: meta.bootstrap, outgoing: [], learners: [], context: {} };
      const initialPeers = new Map<NodeId, HostPort>();
      for (const id of book.ids()) {
        const a = book.peerAddress(id);
        if (a !== undefined) initialPeers.set(id, a);
      }
      transport = await TcpTransport.start({
        clusterId: meta.clusterId,
        nodeId: selfId,
        listen,
        peers: initialPeers,
        peerName: nameOf,
        uid: meta.uid,
        apiUrl: apiUrlOf(apiAt, scheme),
        verifyPeer: (id, presented) => {
          const why = book.verify(id, presented.uid, presented.apiUrl, conf());
          if (why !== null) metrics.refusedHandshakes.inc({ peer: nameOf(id) ?? String(id) });
          return why;
        },
        onIdentityRefused: (id, reason) => {
          if (refused) return;
          refused = true;
          // Stop taking part at once; then give the peers that dial us a moment to tell us their API URLs.
          node?.stop();
          const anyApi = (): string | undefined => book.get(id)?.api ?? book.ids().map((p) => book.get(p)?.api).find((a) => a !== undefined) ?? cfg.join;
          void (async () => {
            for (let i = 0; i < 40 && anyApi() === undefined; i++) await new Promise((r) => setTimeout(r, 50));
            const via = anyApi() ?? 'URL-OF-A-MEMBER';
            const err = new PeerIdentityError(
              `${nameOf(id) ?? `node ${id}`} refused this node: ${reason}. ` +
                `The data directory ${cfg.dataDir} is not the one the cluster added as ${cfg.name} (it was emptied or replaced), so this node cannot take part as ${cfg.name}. ` +
                `To bring this machine back: run  tsraft member remove ${cfg.name} --endpoints ${via}  then restart this node with an empty --data and  --join ${via}`,
            );
            logger.error({ peer: nameOf(id) ?? id, reason }, err.message);
            onFatal(err);
          })();
        },
        onMessage: (m) => node?.step(m),
        logger,
        random: random.fork(),
        tls: peerTls,
      });
      const clock = new RealClock();
      let lastLeader: number | null = null;
      // The live events stream (GET /v1/events): its source is read only while someone watches.
      const counter = new MessageCounter();
      let eventsReady: Parameters<typeof eventsSource>[0] | null = null;
      const hub = new EventHub({
        logger,
        source: {
          state: () => eventsSource(eventsReady!).state(),
          counters: () => eventsSource(eventsReady!).counters(),
          histograms: async () => ({ proposal: await histogramReading(metrics.proposalSeconds), fsync: await histogramReading(metrics.fsyncSeconds) }),
          watching: (on) => {
            counter.enabled = on;
            if (!on) counter.reset();
          },
        },
      });
      let eventTerm = -1;
      let proposed = 0;
      const started = await startNode({
        id: selfId,
        // A bootstrap member starts from the configuration of the brand-new cluster; a node
        // that joined starts empty and learns the configuration from the leader's log.
        voters: meta.bootstrap,
        // etcd's timing, pre-vote and check quorum: a node that was cut off must not disrupt the cluster
        // when it returns, and a leader that lost its majority must step down rather than keep accepting
        // writes it cannot commit. The configuration may override the timing.
        profile: 'production',
        options: { tickMs: cfg.tickMs, heartbeatTicks: cfg.heartbeatTicks, electionTicks: cfg.electionTicks, leaseReads: cfg.leaseReads, maxClockDriftPpm: cfg.maxClockDriftPpm },
        storage: metrics.timeStorage(storage),
        transport: counter.wrap(transport),
        clock,
        random,
        onFatal,
        observer: {
          onRoleChange: ({ role, term, leader }) => {
            if (term !== eventTerm && term > 0) {
              eventTerm = term;
              hub.record({ kind: 'term-changed', term });
            }
            if (role === 'candidate') {
              metrics.elections.inc();
              hub.record({ kind: 'election-started', term });
              logger.info({ term }, 'election started');
            }
            if (leader !== lastLeader) {
              lastLeader = leader;
              if (leader !== null) {
                metrics.leaderChanges.inc();
                hub.record({ kind: 'leader-changed', term, leader: nameOf(leader) ?? String(leader) });
                logger.info({ term, leader: nameOf(leader) ?? leader }, leader === selfId ? 'became leader' : 'new leader');
              }
            }
          },
          onFollowerLostEntries: ({ id, match, lastIndex }) => {
            metrics.followersLostEntries.inc({ peer: nameOf(id) ?? String(id) });
            logger.warn({ peer: nameOf(id) ?? id, acknowledged: match, lastIndex }, 'a follower holds fewer entries than it acknowledged; catching it up from its last index');
          },
        },
        stateMachine: sm,
        replica: {
          maxRaftState: cfg.maxRaftState ?? 16 << 20,
          // Members that share a log would otherwise all snapshot at once (see ReplicaOptions.snapshotJitter).
          snapshotJitter: 0.25,
          onSnapshot: (kind, index, bytes) => {
            metrics.snapshots.inc({ kind });
            hub.record({ kind: kind === 'taken' ? 'snapshot-taken' : 'snapshot-installed', term: node?.term ?? 0, index, bytes });
            logger.info({ index, bytes }, kind === 'taken' ? 'snapshot taken' : 'snapshot installed from the leader');
          },
          onProposal: (outcome, ms) => {
            metrics.proposals.inc();
            proposed += 1;
            if (outcome === 'applied') metrics.proposalSeconds.observe(ms / 1000);
            else metrics.proposalFailures.inc({ reason: outcome });
          },
        },
      });
      node = started.node;
      const { replica, recovered: state, options } = started;
      const t = transport;
      // The transport's peers follow the configuration in force.
      const followConf = (c: ConfState): void => {
        book.learnConf(c);
        if (membersOf(c).length === 0) return; // a node still waiting to be added keeps the peers it was told of
        const want = transportPeers(c, selfId, book);
        for (const [id, a] of want) t.setPeer(id, a);
        for (const id of t.peerIds()) if (!want.has(id)) t.removePeer(id);
        for (const id of membersOf(c)) if (id !== selfId && !want.has(id)) logger.warn({ member: id }, 'no address known for a member');
      };
      let current = started.node.conf;
      followConf(current);
      started.node.onConfChange((next) => {
        const kind = changeKind(current, next);
        metrics.confChanges.inc({ kind });
        const names = (ids: readonly NodeId[]): string[] => ids.map((id) => nameOf(id) ?? decodeMemberContext(next.context[String(id)])?.name ?? String(id));
        logger.info({ kind, voters: names(next.voters), outgoing: names(next.outgoing), learners: names(next.learners) }, 'configuration changed');
        hub.record({ kind: 'membership-changed', term: started.node.term, change: kind, voters: names([...new Set([...next.voters, ...next.outgoing])]), learners: names(next.learners) });
        current = next;
        followConf(next);
      });
      const rank = (id: NodeId): number => {
        const i = meta.bootstrap.indexOf(id);
        return i < 0 ? meta.bootstrap.length : i;
      };
      const kv = new KvService(replica, sm, Date.now, cfg.quotaBytes ?? DEFAULT_QUOTA_BYTES);
      const status = (): ApiStatus => {
        const st = started.node.status();
        return {
          id: cfg.name,
          role: st.role === 'leader' ? 'leader' : st.role === 'follower' ? 'follower' : 'candidate',
          term: st.term,
          leader: st.leader === null ? null : (nameOf(st.leader) ?? String(st.leader)),
          commitIndex: st.commitIndex,
          appliedIndex: replica.applied,
          lastIndex: st.lastIndex,
          // Bootstrap members in --peers order (as before membership changes), then those that joined.
          members: membersOf(started.node.conf)
            .sort((a, b) => rank(a) - rank(b) || a - b)
            .map((id) => nameOf(id) ?? String(id)),
        };
      };
      membership = new ClusterMembership({
        node: started.node,
        book,
        clusterId: meta.clusterId,
        logger,
        metrics,
        electionMs: options.electionTicks * 2 * options.tickMs,
        heartbeatMs: options.heartbeatTicks * options.tickMs,
        maxLearnerLag: options.maxLearnerLag,
        fetchOptions,
      });
      const backup = (): Promise<Backup> => takeBackup({ replica, sm, clusterId: cfg.clusterId, members: () => membersOfConf(started.node.conf) });
      // The cap stays below the open-file limit by a margin: WAL segments, snapshots and peers need descriptors too.
      const requestedCap = cfg.maxClientConnections ?? DEFAULT_API_LIMITS.maxConnections;
      const { cap, lowered } = connectionCapFor(requestedCap, readOpenFileLimit());
      if (lowered !== undefined) logger.warn({ requested: requestedCap, cap, ...lowered }, `client connection cap lowered to ${cap}: the open-file limit is ${lowered.fileLimit} and ${lowered.reserved} descriptors are kept for storage and peers; raise the limit (ulimit -n) to allow more`);
      const auth = new AuthService({ replica, sm, dataDir: cfg.dataDir });
      const watch = new WatchHub({ history: watchHistory, revision: () => sm.revision, logger });
      // Extended by the longest randomized election timeout when this node becomes leader.
      const leases = startLeaseTimer({ node: started.node, replica, sm, logger, leaderExtensionMs: options.electionTicks * 2 * options.tickMs, maxLeases: cfg.maxLeases });
      leaseTimer = leases;
      watchStats = () => watch.stats;
      expiriesProposed = () => leases.expirer.proposed;
      http = createApiServer({
        kv,
        status,
        metrics,
        logger,
        membership,
        backup,
        auth,
        authExempt: cfg.authExempt,
        tls,
        stopping: () => health.stopping,
        limits: { maxConnections: cap, headersTimeoutMs: cfg.headerTimeoutMs, bodyIdleTimeoutMs: cfg.bodyTimeoutMs },
        onConnectionRefused: () => metrics.apiConnectionsRefused.inc(),
        readConsistency: cfg.readConsistency,
        events: { serve: (req, res, headers) => hub.serve(req, res, headers), memberUrls: () => eventsSource(eventsReady!).memberUrls() },
        watch,
        leases: leases.service,
      });
      const server = http;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(apiAt.port, apiAt.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const addr = http.address();
      const apiAddress = typeof addr === 'object' && addr !== null ? { host: apiAt.host, port: addr.port } : apiAt;
      membership.selfPeer = fmtHostPort(transport.address);
      membership.selfApi = apiUrlOf(apiAddress, scheme);
      const api = http;
      eventsReady = { node: started.node, replica, book, transport, counter, selfApi: apiUrlOf(apiAddress, scheme), requests: () => api.requests(), proposals: () => proposed };
      membership.start();
      logger.info(
        { cluster: meta.clusterId, id: selfId, raft: transport.address, api: apiAddress, dashboard: `${apiUrlOf(apiAddress, scheme)}/`, members: status().members, restoredIndex: state.snapshot?.meta.index ?? 0, entries: state.entries.length, term: state.hardState.term },
        'node started',
      );
      return new TsraftServer(cfg, logger, started.node, replica, kv, membership, book, storage, transport, http, clock, apiAddress, health, scheme, hub, watch, leases);
    } catch (e) {
      leaseTimer?.stop();
      membership?.stop();
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
  stop(why = 'stop requested'): Promise<void> {
    this.health.stopping ??= why;
    this.stopping ??= (async () => {
      this.logger.info({ why }, 'shutting down');
      this.membership.stop();
      this.events.close();
      this.watch.close();
      this.leases.stop();
      const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
      this.http.closeIdleConnections();
      this.replica.stop();
      this.node.stop();
      // Each part closes even if another failed (a failed disk must not keep the network open).
      const failures: unknown[] = [];
      await this.storage.close().catch((e: unknown) => failures.push(e));
      await this.transport.close().catch((e: unknown) => failures.push(e));
      this.clock.dispose();
      this.http.closeAllConnections();
      await closed;
      if (failures.length > 0) {
        this.logger.warn({ err: failures[0] }, 'stopped, with errors');
        throw failures[0];
      }
      this.logger.info('stopped');
    })();
    return this.stopping;
  }
}

/** Reads `--tls-dir` and checks that its certificate names this node; warns when peers are unauthenticated. */
async function loadPeerTls(cfg: ServerConfig, logger: Logger): Promise<TlsMaterial | undefined> {
  if (cfg.tlsDir === undefined) {
    logger.warn('--insecure-peers: peer connections are plain TCP and unauthenticated; any process that reaches the Raft port can act as a member (docs/SECURITY.md)');
    return undefined;
  }
  let m: TlsMaterial;
  try {
    m = await readTlsDir(cfg.tlsDir);
  } catch (e) {
    if (e instanceof CertificateError) throw new ConfigError(`--tls-dir: ${e.message}`);
    throw e;
  }
  if (m.name !== cfg.name) throw new ConfigError(`--tls-dir: the certificate in ${path.join(cfg.tlsDir, 'node.pem')} is for '${m.name}', but this node is '${cfg.name}' (--id); make one with  tsraft certs node ${cfg.name} --ca CA-DIR --out DIR`);
  logger.info({ tlsDir: cfg.tlsDir }, 'peer connections use mutual TLS');
  return m;
}

function apiUrlOf(a: HostPort, scheme: 'http' | 'https'): string {
  const h = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${scheme}://${h}:${a.port}`;
}
