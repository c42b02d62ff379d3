import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RaftNode } from '../node/raft-node.js';
import type { LogStorage, StorageUpdate } from '../storage/types.js';
import type { SnapshotMeta } from '../core/types.js';

/** How often the event-loop delay is sampled (ms). */
const EVENT_LOOP_RESOLUTION_MS = 10;

/** Per-peer transport counters, as the metrics read them. */
export interface PeerCounters {
  readonly sent: number;
  readonly dropped: number;
}

/**
 * A node's Prometheus metrics (prom-client): proposals, commits, applies,
 * elections, leader changes, fsync latency, proposal latency, and messages
 * sent and dropped per peer, plus the process's default metrics.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly proposals: Counter;
  readonly proposalFailures: Counter;
  readonly elections: Counter;
  readonly leaderChanges: Counter;
  readonly fsyncSeconds: Histogram;
  readonly proposalSeconds: Histogram;
  /** Configurations put in force on this node, by kind (enter-joint, leave-joint, add-learner, remove-learner). */
  readonly confChanges: Counter;
  /** Leadership transfers this node started, by outcome. */
  readonly transfers: Counter;
  /** Times a follower's log was found shorter than what it had acknowledged (leader only). */
  readonly followersLostEntries: Counter;
  /** Peer handshakes refused because the peer presented another data directory than the one it is known by. */
  readonly refusedHandshakes: Counter;
  /** Client connections refused because the API's connection cap was reached. */
  readonly apiConnectionsRefused: Counter;
  /** Snapshots of the state machine: `taken` here (by log size) or `installed` from the leader. */
  readonly snapshots: Counter;
  private readonly commits: Counter;
  private readonly applies: Counter;
  private lastCommit = 0;
  private lastApplied = 0;

  constructor(opts: {
    node: () => RaftNode | null;
    peers: () => ReadonlyMap<string, PeerCounters>;
    labels: { node: string };
    /** On the leader: how many entries each learner is behind, by name. */
    learnerLag?: () => ReadonlyMap<string, number>;
    /** The KV store's size (what the space quota counts) and its active alarms. */
    store?: () => { readonly sizeBytes: number; readonly alarms: readonly string[] } | null;
    /** Client connections open on the API now. */
    apiConnections?: () => number;
    /** Bursts of new client connections during which established ones were not read, since start (src/api/accept-burst.ts). */
    apiAcceptBursts?: () => number;
    /** Inbound peer connections refused since start, by reason (tls-handshake, certificate, hello, capped). */
    peerRefusals?: () => ReadonlyMap<string, number>;
    /** The watch streams (`GET /v1/watch`): open now, change events sent, streams cut by reason and refused, since start. */
    watch?: () => { readonly watchers: number; readonly sent: number; readonly passes: number; readonly refused: number; readonly cut: Readonly<Record<string, number>> } | undefined;
    /** Leases held now, expiries this node's timer proposed (as leader) and expiries applied here, since start. */
    leases?: () => { readonly count: number; readonly expiriesProposed: number; readonly expiriesApplied: number };
    /** Transactions applied here since start, by outcome: succeeded, failed (compares did not hold), refused. */
    txns?: () => Readonly<Record<'succeeded' | 'failed' | 'refused', number>>;
  }) {
    this.registry.setDefaultLabels(opts.labels);
    collectDefaultMetrics({ register: this.registry });
    const r = [this.registry];
    // prom-client's nodejs_eventloop_lag_* report each sample as the whole interval its 10 ms
    // timer saw (an idle process reads 10 ms); this one reports how late the timer was.
    const delay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
    delay.enable();
    new Gauge({
      name: 'tsraft_event_loop_delay_seconds',
      help: `How late the event loop ran a timer sampled every ${EVENT_LOOP_RESOLUTION_MS} ms, since the previous scrape (perf_hooks.monitorEventLoopDelay, the interval subtracted): quantiles 0.5, 0.99 and 1 (the maximum)`,
      labelNames: ['quantile'],
      registers: r,
      collect() {
        const late = (ns: number): number => (delay.count === 0 ? 0 : Math.max(0, ns / 1e6 - EVENT_LOOP_RESOLUTION_MS) / 1000);
        this.set({ quantile: '0.5' }, late(delay.percentile(50)));
        this.set({ quantile: '0.99' }, late(delay.percentile(99)));
        this.set({ quantile: '1' }, late(delay.max));
        delay.reset();
      },
    });
    this.proposals = new Counter({ name: 'tsraft_proposals_total', help: 'Writes proposed through this node', registers: r });
    this.proposalFailures = new Counter({ name: 'tsraft_proposal_failures_total', help: 'Proposals that failed or timed out', labelNames: ['reason'], registers: r });
    this.elections = new Counter({ name: 'tsraft_elections_total', help: 'Elections this node started', registers: r });
    this.leaderChanges = new Counter({ name: 'tsraft_leader_changes_total', help: 'Times the leader this node knows changed', registers: r });
    this.fsyncSeconds = new Histogram({
      name: 'tsraft_fsync_duration_seconds',
      help: 'Time to write and fsync one Ready to the WAL',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: r,
    });
    this.proposalSeconds = new Histogram({
      name: 'tsraft_proposal_duration_seconds',
      help: 'Time from proposing a write to applying it on this node',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: r,
    });
    this.confChanges = new Counter({ name: 'tsraft_conf_changes_total', help: 'Configurations put in force on this node, by kind', labelNames: ['kind'], registers: r });
    this.transfers = new Counter({ name: 'tsraft_leader_transfers_total', help: 'Leadership transfers this node started, by outcome', labelNames: ['outcome'], registers: r });
    this.followersLostEntries = new Counter({
      name: 'tsraft_follower_lost_entries_total',
      help: 'Times a follower was found to hold fewer entries than it had acknowledged (it is caught up from there)',
      labelNames: ['peer'],
      registers: r,
    });
    this.refusedHandshakes = new Counter({ name: 'tsraft_peer_identity_refusals_total', help: 'Peer handshakes refused: the peer presented another data directory than the one it is known by', labelNames: ['peer'], registers: r });
    this.snapshots = new Counter({ name: 'tsraft_snapshots_total', help: 'Snapshots of the state machine, taken here or installed from the leader', labelNames: ['kind'], registers: r });
    this.apiConnectionsRefused = new Counter({ name: 'tsraft_api_connections_refused_total', help: 'Client connections refused with 503 because the connection cap (--max-client-connections) was reached', registers: r });
    new Gauge({
      name: 'tsraft_api_connections',
      help: 'Client connections open on the HTTP API',
      registers: r,
      collect() {
        const n = opts.apiConnections?.();
        if (n !== undefined) this.set(n);
      },
    });
    new Gauge({
      name: 'tsraft_learner_lag_entries',
      help: 'On the leader: entries each learner is behind the leader',
      labelNames: ['learner'],
      registers: r,
      collect() {
        this.reset();
        for (const [learner, lag] of opts.learnerLag?.() ?? new Map<string, number>()) this.set({ learner }, lag);
      },
    });
    new Gauge({
      name: 'tsraft_snapshot_memory_bytes',
      help: 'Bytes of the latest snapshot the Raft core keeps in memory to send to followers: 0 once it reads them from the snapshot file',
      registers: r,
      collect() {
        const n = opts.node();
        if (n !== null) this.set(n.snapshotMemoryBytes);
      },
    });
    new Gauge({
      name: 'tsraft_kv_state_bytes',
      help: 'Bytes of keys and values in the KV store: what --quota-bytes counts',
      registers: r,
      collect() {
        const st = opts.store?.();
        if (st !== undefined && st !== null) this.set(st.sizeBytes);
      },
    });
    new Gauge({
      name: 'tsraft_alarms_active',
      help: 'Active alarms of the KV store, by alarm (1 while active; NOSPACE: the store is read-only)',
      labelNames: ['alarm'],
      registers: r,
      collect() {
        const st = opts.store?.();
        if (st === undefined || st === null) return;
        this.set({ alarm: 'NOSPACE' }, st.alarms.includes('NOSPACE') ? 1 : 0);
      },
    });
    this.commits = new Counter({ name: 'tsraft_commits_total', help: 'Log entries this node learned committed', registers: r });
    this.applies = new Counter({ name: 'tsraft_applies_total', help: 'Log entries applied to the state machine', registers: r });
    const self = this;
    const gauge = (name: string, help: string, read: (n: RaftNode) => number): void => {
      new Gauge({
        name,
        help,
        registers: r,
        collect() {
          const n = opts.node();
          if (n !== null) this.set(read(n));
        },
      });
    };
    gauge('tsraft_term', 'Current term', (n) => n.term);
    gauge('tsraft_commit_index', 'Commit index', (n) => n.status().commitIndex);
    gauge('tsraft_applied_index', 'Index applied (handed to the state machine)', (n) => n.status().appliedIndex);
    gauge('tsraft_last_index', 'Last log index', (n) => n.status().lastIndex);
    gauge('tsraft_is_leader', '1 if this node is the leader', (n) => (n.isLeader() ? 1 : 0));
    gauge('tsraft_lease_reads_served', 'Reads this node answered from its leader lease, without a heartbeat round, since it started (--lease-reads)', (n) => n.leaseReadsServed);
    new Gauge({
      name: 'tsraft_index_progress',
      help: 'Internal: keeps the commit and apply counters current',
      registers: r,
      collect() {
        const n = opts.node();
        if (n === null) return;
        const s = n.status();
        if (s.commitIndex > self.lastCommit) self.commits.inc(s.commitIndex - self.lastCommit);
        if (s.appliedIndex > self.lastApplied) self.applies.inc(s.appliedIndex - self.lastApplied);
        self.lastCommit = Math.max(self.lastCommit, s.commitIndex);
        self.lastApplied = Math.max(self.lastApplied, s.appliedIndex);
        this.set(0);
      },
    });
    const perPeer = (name: string, help: string, read: (c: PeerCounters) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['peer'],
        registers: r,
        collect() {
          for (const [peer, c] of opts.peers()) this.set({ peer }, read(c));
        },
      });
    };
    new Gauge({
      name: 'tsraft_peer_connections_refused',
      help: 'Inbound peer connections refused since start, by reason: tls-handshake (no or a foreign certificate, plaintext), certificate (the hello claims another member than the certificate names), hello (not a member, wrong cluster...), capped (too many waiting for their hello)',
      labelNames: ['reason'],
      registers: r,
      collect() {
        for (const [reason, n] of opts.peerRefusals?.() ?? []) this.set({ reason }, n);
      },
    });
    // Counters kept elsewhere (the watch hub, the state machine, the lease timer): each scrape adds what they grew by.
    const counterOf = (name: string, help: string, labelName: string | null, read: () => Readonly<Record<string, number>> | number | undefined): void => {
      const last = new Map<string, number>();
      new Counter({
        name,
        help,
        labelNames: labelName === null ? [] : [labelName],
        registers: r,
        collect() {
          const v = read();
          if (v === undefined) return;
          for (const [label, n] of typeof v === 'number' ? ([['', v]] as const) : Object.entries(v)) {
            const grew = n - (last.get(label) ?? 0);
            last.set(label, n);
            if (labelName === null) this.inc(grew);
            else this.inc({ [labelName]: label }, grew);
          }
        },
      });
    };
    new Gauge({
      name: 'tsraft_watchers',
      help: 'Watch streams (GET /v1/watch) open on this node',
      registers: r,
      collect() {
        const w = opts.watch?.();
        if (w !== undefined) this.set(w.watchers);
      },
    });
    counterOf('tsraft_watch_events_sent_total', 'Change events (put, delete) written to watch streams on this node, over every stream', null, () => opts.watch?.()?.sent);
    counterOf('tsraft_watch_delivery_passes_total', 'Delivery passes over the watch streams (each writes once to every stream with something new; spaced out under load so delivery takes at most a quarter of the event loop)', null, () => opts.watch?.()?.passes);
    counterOf('tsraft_watchers_cut_total', 'Watch streams this node ended with an error event, by reason: slow-watcher, compacted, unauthenticated, permission-denied, stopping', 'reason', () => opts.watch?.()?.cut);
    counterOf('tsraft_watch_streams_refused_total', 'Watch streams refused with 503: the node was shutting down or served its maximum of streams', null, () => opts.watch?.()?.refused);
    new Gauge({
      name: 'tsraft_leases',
      help: 'Leases the KV store holds (as of this node\'s last applied entry); --max-leases caps them',
      registers: r,
      collect() {
        const l = opts.leases?.();
        if (l !== undefined) this.set(l.count);
      },
    });
    counterOf('tsraft_lease_expiries_proposed_total', 'Lease expiries this node proposed as leader (its timer found a lease past its deadline)', null, () => opts.leases?.().expiriesProposed);
    counterOf('tsraft_lease_expiries_applied_total', 'Lease expiries applied on this node (the lease was still at the generation the leader saw; one that lost to a keep-alive is not counted)', null, () => opts.leases?.().expiriesApplied);
    counterOf('tsraft_api_accept_bursts_total', 'Bursts of new client connections during which established connections were not read, so that the new ones could be accepted', null, () => opts.apiAcceptBursts?.());
    counterOf('tsraft_txns_applied_total', 'Transactions (POST /v1/txn) applied on this node, by outcome: succeeded (compares held), failed (they did not), refused (permission, space quota, lease gone)', 'outcome', () => opts.txns?.());
    perPeer('tsraft_messages_sent', 'Raft messages sent to each peer since start', (c) => c.sent);
    perPeer('tsraft_messages_dropped', 'Raft messages dropped for each peer since start (queue overflow, unknown peer)', (c) => c.dropped);
  }

  /** Wraps a storage so every write is timed; the rest is passed through. */
  timeStorage(s: LogStorage): LogStorage {
    return {
      load: () => s.load(),
      close: () => s.close(),
      // Without it the node would keep its latest snapshot in memory (RaftNode.readSnapshotFromStorage).
      ...(s.openSnapshot !== undefined && { openSnapshot: (meta: SnapshotMeta) => s.openSnapshot!(meta) }),
      write: async (u: StorageUpdate) => {
        const end = this.fsyncSeconds.startTimer();
        try {
          await s.write(u);
        } finally {
          end();
        }
      },
    };
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
