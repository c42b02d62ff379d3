import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { checkHistory, describeOp, type CheckResult, type HistoryOp } from '../check/index.js';
import { ConfChangeError, isJoint, isMember, members } from '../core/membership.js';
import type { ConfState, Message, NodeId, Role } from '../core/types.js';
import type { KvResult } from '../kv/commands.js';
import type { TxnHistoryOp } from '../check/txn.js';
import { LeaseExpirer } from '../kv/lease-expirer.js';
import { LeaseService } from '../kv/lease-service.js';
import type { LeaseCommand } from '../kv/leases.js';
import { KvService } from '../kv/service.js';
import type { WatchChange } from '../kv/watch-history.js';
import { encode } from '../util/codec.js';
import { KvStateMachine } from '../kv/state-machine.js';
import { DEFAULT_WATCH_HISTORY, WatchHistory } from '../kv/watch-history.js';
import { PROFILES, type RaftOptions } from '../core/config.js';
import { startNode, type StartedReplica } from '../node/builder.js';
import type { RaftNode } from '../node/raft-node.js';
import type { ApplyMeta, Replica, StateMachine } from '../node/replica.js';
import { DurabilityModel } from '../storage/durability.js';
import { FileStorage, StorageRecoveryError } from '../storage/file-storage.js';
import type { LogStorage, StorageState } from '../storage/types.js';
import { WalCorruptionError, scanRecords } from '../storage/wal/record.js';
import type { CanaryName } from '../util/canary.js';
import { SeededRandom, type Random } from '../util/random.js';
import { SimCrashError, SimDisk } from './disk.js';
import { drawMembership, drawPlan, type FaultPlan, type MembershipPlan, type ProfileName } from './faults.js';
import { SimMessageNetwork } from './message-network.js';
import { LOG_TAIL, type HistoryPart, type NodeFrame, type SimObserver } from './observe.js';
import { NodeClock } from './node-clock.js';
import { SafetyMonitor, SimCheckFailure, type CheckName, type NodeView } from './safety.js';
import { Scheduler, SimulationDeadlock } from './scheduler.js';
import { NodeDownError, SimClient, type CallResult } from './workload.js';
import { SimWatcher, checkWatchStream, replayChanges, type WatchSource } from './watchers.js';
import { LEASE_PREFIX, LeaseClient, checkKeptAlive, checkLeaseDrops, checkSameLeases, type AppliedLeases, type LeaseAck, type LeaseExpiry } from './leases.js';
import type { NodeServices } from './retry.js';
import { TxnClient, checkTxns } from './txns.js';

/** Options of one simulation run. Everything not given is drawn from the seed. */
export interface SimulationOptions {
  readonly seed: number;
  /** Cluster size: 1, 3, 5 or 7 (default: drawn, mostly 3 or 5). */
  readonly nodes?: number;
  readonly profile?: ProfileName;
  /** Client operations in the run (default 100). */
  readonly ops?: number;
  /** A planted bug to turn on for this run. */
  readonly canary?: CanaryName | undefined;
  /** Receives every trace line (messages, faults, state changes, client operations). */
  readonly trace?: (line: string) => void;
  /** Hash the trace even when nobody reads it (the determinism self-check). */
  readonly hashTrace?: boolean;
  /** How long the fault phase lasts (ms of virtual time; default drawn from the seed, 4-20 s). */
  readonly durationMs?: number | undefined;
  /** Receives the run's structured events (src/sim/observe.ts); it never changes the run. */
  readonly observer?: SimObserver | undefined;
  /** Raft options that replace the drawn ones (the playground's fixed tuning); the seed's draws are made all the same. */
  readonly raft?: Partial<RaftOptions>;
}

/** What a run covered. */
export interface SimulationStats {
  crashes: number;
  crashAlls: number;
  midWriteCrashes: number;
  restarts: number;
  tornWrites: number;
  partitions: number;
  pauses: number;
  clockJumps: number;
  byteFlips: number;
  refusedStarts: number;
  leaderChanges: number;
  elections: number;
  snapshotsTaken: number;
  snapshotInstalls: number;
  opsCompleted: number;
  clientRetries: number;
  committed: number;
  messagesSent: number;
  messagesDropped: number;
  messagesDuplicated: number;
  /** Membership changes the nemesis made (proposals the leader accepted). */
  adds: number;
  promotions: number;
  removes: number;
  /** Removals of the leader itself. */
  leaderRemovals: number;
  /** Nodes replaced by a fresh node with an empty disk (the old one removed, a new id added). */
  replacements: number;
  transfers: number;
  /** Proposals the leader refused with a ConfChangeError (another change in flight, and so on). */
  changesRefused: number;
  /** Reads a leader answered from its lease (the lease profile). */
  leaseReads: number;
  /** Changes delivered to simulated watchers. */
  watchEvents: number;
  /** Watchers that resumed on another node (crash, restart, removal, compacted, dropped connection). */
  watchMoves: number;
  /** Watchers that ended on a compacted error (the revision they needed gone on every running node). */
  watchCompacted: number;
  /** Transactions answered (the transaction clients). */
  txns: number;
  /** Leases granted, kept alive, revoked and expired (applied expiries) by the lease clients and the expirers. */
  leaseGrants: number;
  leaseKeepAlives: number;
  leaseRevokes: number;
  leaseExpiries: number;
}

/** Zero of every count. */
export function emptyStats(): SimulationStats {
  return {
    crashes: 0,
    crashAlls: 0,
    midWriteCrashes: 0,
    restarts: 0,
    tornWrites: 0,
    partitions: 0,
    pauses: 0,
    clockJumps: 0,
    byteFlips: 0,
    refusedStarts: 0,
    leaderChanges: 0,
    elections: 0,
    snapshotsTaken: 0,
    snapshotInstalls: 0,
    opsCompleted: 0,
    clientRetries: 0,
    committed: 0,
    messagesSent: 0,
    messagesDropped: 0,
    messagesDuplicated: 0,
    adds: 0,
    promotions: 0,
    removes: 0,
    leaderRemovals: 0,
    replacements: 0,
    transfers: 0,
    changesRefused: 0,
    leaseReads: 0,
    watchEvents: 0,
    watchMoves: 0,
    watchCompacted: 0,
    txns: 0,
    leaseGrants: 0,
    leaseKeepAlives: 0,
    leaseRevokes: 0,
    leaseExpiries: 0,
  };
}

export interface SimulationFailure {
  readonly check: CheckName | 'deadlock' | 'exception';
  readonly message: string;
  /** Virtual time of the failure (ms). */
  readonly atMs: number;
}

export interface SimulationResult {
  readonly seed: number;
  readonly nodes: number;
  readonly profile: ProfileName;
  readonly canary: CanaryName | undefined;
  readonly ok: boolean;
  readonly failure: SimulationFailure | undefined;
  readonly stats: SimulationStats;
  /** SHA-256 of the trace (when traced), else of the run's outcome. */
  readonly traceHash: string;
  readonly virtualMs: number;
  readonly wallMs: number;
  /** One line on what the seed drew. */
  readonly summary: string;
}

const DIR = '/data';
/** The longest election timeout (ms): the unit of pauses, jumps and the liveness deadline. */
const ELECTION_MS = 2 * PROFILES.simulation.electionTicks * PROFILES.simulation.tickMs;
const LIVENESS_MS = 20 * ELECTION_MS;
/** How often each node's lease expirer ticks (ms of its own clock): the server's LEASE_TICK_MS (src/server/leases.ts, not imported: the playground bundles the simulator for the browser). */
const LEASE_TICK_MS = 100;

/** Draws the cluster size: 1 (rarely), 3, 5 or 7. */
function drawNodes(r: Random): number {
  const x = r.float();
  return x < 0.08 ? 1 : x < 0.55 ? 3 : x < 0.87 ? 5 : 7;
}

/** One simulated machine: its disk and clock survive crashes; the process on it does not. */
export class SimNode implements NodeView {
  /** `retired`: removed from the cluster and stopped for good. */
  status: 'up' | 'down' | 'starting' | 'refused' | 'retired' = 'down';
  /** Removed from the configuration (committed); it may still run, and must not disrupt. */
  removed = false;
  incarnation = 0;
  raft: RaftNode | null = null;
  replica: Replica<KvResult> | null = null;
  kv: KvService | null = null;
  leases: LeaseService | null = null;
  /** The lease expirer of the running process. */
  expirer: LeaseExpirer | null = null;
  /** The watch history of the running process (lost with it, as in production). */
  watchHistory: WatchHistory | null = null;
  /** Where a byte was flipped in this node's log, if it was. */
  flipped: string | null = null;
  paused = false;
  resumeWaiters: (() => void)[] = [];
  model = new DurabilityModel({ hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });

  constructor(
    readonly id: NodeId,
    readonly disk: SimDisk,
    readonly clock: NodeClock,
    /** A member of the bootstrap configuration; a node added later starts with no voters and joins. */
    readonly bootstrap: boolean,
  ) {}

  conf(): ConfState | undefined {
    return this.raft?.conf;
  }
  snapshotConf(): ConfState | undefined {
    return this.raft?.snapshotConf();
  }

  term(): number {
    return this.raft?.term ?? 0;
  }
  isLeader(): boolean {
    return this.raft?.isLeader() ?? false;
  }
  commitIndex(): number {
    return this.raft?.status().commitIndex ?? 0;
  }
  snapIndex(): number {
    return this.raft?.status().snapshotIndex ?? 0;
  }
  lastIndex(): number {
    return this.raft?.status().lastIndex ?? 0;
  }
  termAt(index: number): number | undefined {
    return this.raft?.termAt(index);
  }
  entryAt(index: number): ReturnType<RaftNode['entryAt']> {
    return this.raft?.entryAt(index);
  }
}

/** The Raft knobs a seed draws (over the simulation profile): both settings of every option get exercised. */
interface NodeConfig {
  readonly tuning: Partial<RaftOptions>;
  readonly segmentBytes: number;
}

/**
 * One seeded run: a cluster of real {@link RaftNode}s with the KV state
 * machine over {@link FileStorage} on {@link SimDisk}, a faulty message
 * network, clients recording a history, and a fault schedule drawn from the
 * seed; every invariant checked as it runs, then liveness after healing,
 * then linearizability. Exported for the playground (src/sim/playground.ts),
 * which starts its nodes and drives it by hand instead of calling `main`.
 */
export class Simulation {
  readonly sched = new Scheduler();
  readonly random: Random;
  readonly faultRandom: Random;
  readonly netRandom: Random;
  /** The membership nemesis's own stream: drawing from it leaves every other stream of the seed alone. */
  readonly memberRandom: Random;
  /** The watchers' own stream (forked last, so every other stream of the seed stays as it was). */
  readonly watchRandom: Random;
  /** Revisions of watch history each node keeps (small in some runs, to exercise compaction). */
  readonly watchHistoryRevisions: number;
  /** The first command applied at each index, by any node: the committed history the watchers are checked against. */
  readonly appliedCommands = new Map<number, { readonly command: Uint8Array; readonly term: number }>();
  readonly watchers: SimWatcher[] = [];
  /** The transaction and lease clients' own stream (forked after the watchers'). */
  readonly txnRandom: Random;
  /** What the transaction clients saw (checked by src/check/txn.ts). */
  readonly txnHistory: TxnHistoryOp[] = [];
  /** Every grant and keep-alive a lease client got an answer to. */
  readonly leaseAcks: LeaseAck[] = [];
  /** Every applied lease expiry, at the time its entry was first applied. */
  readonly leaseExpiries: LeaseExpiry[] = [];
  /** What the first replica to apply each index did (changes, leases held after): every other replica must do the same. */
  private readonly changesAt = new Map<number, AppliedLeases>();
  readonly membership: MembershipPlan;
  /** The voters of the bootstrap configuration. */
  readonly bootstrapIds: NodeId[];
  /** The next node id the nemesis gives out (ids are never reused). */
  private nextId: number;
  /** Removals proposed but not yet seen committed. */
  private readonly pendingRemovals: { id: NodeId; index: number; term: number; stop: boolean; replace: boolean }[] = [];
  /** Removed nodes (committed) waiting for a fresh node to take their place. */
  private replacementsDue = 0;
  readonly plan: FaultPlan;
  readonly n: number;
  readonly nodes: SimNode[];
  readonly net: SimMessageNetwork;
  readonly monitor: SafetyMonitor;
  readonly history: HistoryOp[] = [];
  readonly config: NodeConfig;
  readonly opsTotal: number;
  readonly stats: SimulationStats = emptyStats();
  /** The planted bug of this run, handed to every component that has one. */
  readonly canary: CanaryName | undefined;

  failure: SimCheckFailure | null = null;
  failedAt = 0;
  private readonly traceSink: ((line: string) => void) | undefined;
  private readonly hash = createHash('sha256');
  private flipDone = false;
  readonly observer: SimObserver | undefined;
  private readonly durationMs: number | undefined;
  /** What each node's last frame showed, to send a frame only when something changed. */
  private readonly frameKeys = new Map<NodeId, unknown[]>();
  readonly summary: string;
  /** A crashed node restarts by itself after a while (the playground turns this off: its user restarts nodes). */
  restartAfterCrash = true;

  constructor(
    readonly seed: number,
    readonly profile: ProfileName,
    nodes: number | undefined,
    ops: number,
    opts: SimulationOptions,
  ) {
    const root = new SeededRandom(seed);
    this.random = root.fork();
    this.faultRandom = root.fork();
    this.netRandom = root.fork();
    const drawR = root.fork();
    this.memberRandom = root.fork();
    this.n = nodes ?? drawNodes(drawR);
    this.plan = drawPlan(profile, drawR, this.n);
    this.membership = drawMembership(profile, this.memberRandom);
    this.watchRandom = root.fork();
    this.watchHistoryRevisions = this.watchRandom.float() < 0.4 ? 5 + this.watchRandom.int(100) : DEFAULT_WATCH_HISTORY;
    this.txnRandom = root.fork();
    this.bootstrapIds = Array.from({ length: this.n }, (_, i) => i);
    this.nextId = this.n;
    this.monitor = new SafetyMonitor(50, this.bootstrapIds);
    this.opsTotal = ops;
    this.canary = opts.canary;
    this.config = {
      tuning: {
        preVote: drawR.float() < 0.7,
        // Lease reads need check quorum; their drift bound is the drift this run's clocks have.
        checkQuorum: drawR.float() < 0.7 || profile === 'lease',
        ...(profile === 'lease' && { leaseReads: true, maxClockDriftPpm: this.plan.driftPpm }),
        // Membership changes need the election no-op (the core refuses them without it).
        noopOnElection: drawR.float() < 0.9 || this.membership.on,
        maxInflight: 1 + drawR.int(16),
        maxEntriesPerAppend: 1 + drawR.int(64),
        maxSnapshotChunkBytes: 64 + drawR.int(4096),
        ...opts.raft,
      },
      segmentBytes: 512 + drawR.int(8192),
    };
    const observer = (this.observer = opts.observer);
    this.durationMs = opts.durationMs;
    if (opts.trace !== undefined || opts.hashTrace === true || observer !== undefined) {
      this.traceSink = (line) => {
        const l = `${this.sched.now().toFixed(3)} ${line}`;
        // Stack frames name files and lines: they would make the hash depend on where the code sits.
        this.hash.update(l.replace(/\n\s+at [^\n]*/g, ''));
        this.hash.update('\n');
        opts.trace?.(l);
        observer?.({ kind: 'trace', t: this.sched.now(), line });
      };
    }
    this.net = new SimMessageNetwork(this.sched, this.netRandom, this.plan.link, this.traceSink, observer);
    this.nodes = [];
    for (let id = 0; id < this.n; id++) {
      const diskRandom = this.random.fork();
      const syncRandom = this.random.fork();
      const slow = this.plan.slowFsyncMs;
      const disk = new SimDisk({
        random: diskRandom,
        tornWriteProbability: this.plan.tornWrite,
        ...(slow > 0 ? { syncDelay: () => syncRandom.float() * slow, clock: this.sched } : {}),
      });
      const drift = this.plan.driftPpm === 0 ? 1 : 1 + ((this.random.float() * 2 - 1) * this.plan.driftPpm) / 1e6;
      this.nodes.push(new SimNode(id, disk, new NodeClock(this.sched, drift), true));
    }
    const p = this.plan;
    const kinds = [
      p.link.loss > 0 || p.link.dup > 0 ? `loss ${(p.link.loss * 100).toFixed(0)}% dup ${(p.link.dup * 100).toFixed(1)}% delay ${p.link.baseMs.toFixed(1)}+${p.link.jitterMs.toFixed(1)} ms` : null,
      p.partitions ? 'partitions' : null,
      p.crashes ? `crashes${p.crashAll ? ' (all)' : ''} torn ${(p.tornWrite * 100).toFixed(0)}%` : null,
      p.pauses ? 'pauses' : null,
      p.driftPpm > 0 ? `drift ${p.driftPpm} ppm` : null,
      p.jumps ? 'clock jumps' : null,
      p.slowFsyncMs > 0 ? `fsync <= ${p.slowFsyncMs} ms` : null,
      p.byteFlip ? 'byte flip' : null,
      p.maxRaftState < 1 << 20 ? `snapshots at ${p.maxRaftState} B` : null,
      this.membership.on ? 'membership nemesis' : null,
    ].filter((k) => k !== null);
    const t = this.config.tuning;
    this.summary =
      `${this.n} node(s), ${profile}: ${kinds.length > 0 ? kinds.join(', ') : 'no faults'}; ` +
      `preVote ${t.preVote ? 'on' : 'off'}, checkQuorum ${t.checkQuorum ? 'on' : 'off'}, noop ${t.noopOnElection ? 'on' : 'off'}` +
      (t.leaseReads === true ? `, lease reads (drift bound ${t.maxClockDriftPpm} ppm)` : '');
  }

  trace(line: string): void {
    this.traceSink?.(line);
  }

  /** Records the first failure; the run ends after the current step. */
  report(e: unknown): void {
    if (this.failure !== null) return;
    this.failedAt = this.sched.now();
    this.failure = e instanceof SimCheckFailure ? e : new SimCheckFailure('node-failure', e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    this.trace(`FAILED ${this.failure.check}: ${this.failure.message}`);
    this.observer?.({ kind: 'failure', t: this.failedAt, check: this.failure.check, message: this.failure.message });
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.report(e);
    }
  }

  private live(): SimNode[] {
    return this.nodes.filter((n) => n.status === 'up' && n.raft !== null);
  }

  afterStep(): void {
    if (this.observer !== undefined) this.observeFrames();
    if (this.failure !== null) throw this.failure;
    this.monitor.afterStep(this.live(), this.sched.now());
  }

  /** Sends a frame of every node whose state changed since its last frame. */
  observeFrames(): void {
    const observer = this.observer!;
    for (const n of this.nodes) {
      const raft = n.raft;
      const st = raft?.status();
      // Compared field by field (this runs after every step): the configuration by the index of its entry.
      const key = [n.status, n.paused, n.removed, st?.role, st?.term, raft?.vote, st?.leader, st?.commitIndex, n.replica?.applied, st?.lastIndex, st && raft!.termAt(st.lastIndex), st?.snapshotIndex, raft?.confIndex];
      const prev = this.frameKeys.get(n.id);
      if (prev !== undefined && key.every((v, i) => v === prev[i])) continue;
      this.frameKeys.set(n.id, key);
      const conf = raft?.conf;
      const tailFirst = st ? Math.max(st.snapshotIndex + 1, st.lastIndex - LOG_TAIL + 1, 1) : 1;
      const tailTerms: number[] = [];
      if (raft && st) for (let i = tailFirst; i <= st.lastIndex; i++) tailTerms.push(raft.termAt(i) ?? 0);
      const frame: NodeFrame = {
        id: n.id,
        status: n.status,
        paused: n.paused,
        removed: n.removed,
        role: st?.role ?? null,
        term: st?.term ?? null,
        vote: raft?.vote ?? null,
        leader: st?.leader ?? null,
        commit: st?.commitIndex ?? null,
        applied: n.replica?.applied ?? null,
        lastIndex: st?.lastIndex ?? null,
        snapIndex: st?.snapshotIndex ?? null,
        voters: conf ? [...conf.voters] : [],
        learners: conf ? [...conf.learners] : [],
        outgoing: conf ? [...conf.outgoing] : [],
        tailFirst,
        tailTerms,
      };
      observer({ kind: 'node', t: this.sched.now(), node: frame });
    }
  }

  // ---- processes ----------------------------------------------------------------

  async start(n: SimNode): Promise<void> {
    if (n.status !== 'down') return;
    n.status = 'starting';
    let storage: FileStorage;
    try {
      storage = await FileStorage.open(DIR, { fs: n.disk.mount(), segmentBytes: this.config.segmentBytes, canary: this.canary });
    } catch (e) {
      if (n.flipped !== null && (e instanceof WalCorruptionError || e instanceof StorageRecoveryError)) {
        n.status = 'refused';
        this.stats.refusedStarts++;
        this.trace(`node ${n.id} refuses to start: ${e.message}`);
        this.observer?.({ kind: 'fault', t: this.sched.now(), fault: 'refused', node: n.id, detail: e.message });
        return;
      }
      n.status = 'down';
      this.report(new SimCheckFailure('durability', `node ${n.id} could not recover its storage after a crash: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`));
      return;
    }
    const watchHistory = new WatchHistory({ maxRevisions: this.watchHistoryRevisions });
    // The changes of the command being applied, for the same-changes-on-every-replica check.
    let applying: WatchChange[] = [];
    const recorder = {
      record: (c: WatchChange): void => {
        applying.push(c);
        watchHistory.record(c);
      },
      reset: (revision: number): void => watchHistory.reset(revision),
    };
    // The last index this process applied (or restored): a replica that applies out of order is the apply-order check's to report.
    let lastApplied = 0;
    const sm = new KvStateMachine({ canary: this.canary, changes: recorder, ...(this.canary === 'expiry-by-follower-clock' && { canaryClock: () => n.clock.now() }) });
    const restored = (meta: ApplyMeta): void => {
      lastApplied = meta.index;
      this.guard(() => this.monitor.onRestore(n, meta.index, meta.term, sm.digest()));
    };
    const checked: StateMachine<KvResult> = {
      apply: (command, meta) => {
        const first = !this.appliedCommands.has(meta.index);
        if (first) this.appliedCommands.set(meta.index, { command: command.slice(), term: meta.term });
        applying = [];
        const r = sm.apply(command, meta);
        const mine: AppliedLeases = { node: n.id, changes: applying, leases: sm.leases().map((l) => l.id).join(',') };
        if (first) {
          this.changesAt.set(meta.index, mine);
          if (r.ok && r.op === 'lease' && r.action === 'expire' && r.applied) this.leaseExpiries.push({ id: r.id, index: meta.index, generation: r.generation, at: this.sched.now() });
        } else if (meta.index > lastApplied) {
          const firstChanges = this.changesAt.get(meta.index);
          if (firstChanges !== undefined) this.guard(() => checkSameLeases(meta.index, mine, firstChanges));
        }
        lastApplied = Math.max(lastApplied, meta.index);
        this.guard(() => this.monitor.onApply(n, meta.index, meta.term, command, sm.digest()));
        return r;
      },
      snapshot: () => sm.snapshot(),
      // As in production: a snapshot is written a piece per turn while the node goes on applying.
      snapshotIncrementally: () => sm.snapshotIncrementally(),
      restore: (data, meta) => {
        sm.restore(data, meta);
        restored(meta);
      },
      // As in production: a leader's snapshot is installed a piece per turn.
      restoreIncrementally: (data, meta) => {
        const step = sm.restoreIncrementally(data, meta);
        return () => {
          if (!step()) return false;
          restored(meta);
          return true;
        };
      },
    };
    const model = n.model;
    const tracked: LogStorage = {
      load: () => storage.load(),
      write: (u) => {
        if (u.snapshot !== undefined) {
          const meta = u.snapshot.meta;
          this.guard(() => this.monitor.onSnapshotStored(n.id, meta));
        }
        model.issued(u);
        const p = storage.write(u);
        p.then(
          () => model.acknowledged(u),
          () => {},
        );
        return p;
      },
      close: () => storage.close(),
      openSnapshot: (meta) => storage.openSnapshot(meta),
    };
    const out = this.net.transportFor(n.id);
    let inc = 0;
    let started: StartedReplica<KvResult>;
    try {
      started = await startNode({
        id: n.id,
        voters: n.bootstrap ? this.bootstrapIds : [],
        profile: 'simulation',
        options: this.config.tuning,
        storage: tracked,
        clock: n.clock,
        // A node the nemesis added draws from the nemesis's stream, so the others' draws stay the seed's.
        random: n.bootstrap ? this.random.fork() : this.memberRandom.fork(),
        transport: {
          send: (m: Message) => {
            this.guard(() => this.monitor.onSend(m));
            out.send(m);
          },
        },
        observer: { onRoleChange: (info) => this.onRole(n, info.role, info.term, info.leader) },
        onFatal: (err) => this.onNodeFatal(n, inc, err),
        canary: this.canary,
        // Checked before anything starts: a node must refuse what no crash could leave.
        onRecovered: (state) => {
          if (n.flipped !== null) throw new SimCheckFailure('corruption', `node ${n.id} started from a log with a flipped byte (${n.flipped}) instead of refusing`);
          if (!n.model.allows(state)) throw new SimCheckFailure('durability', `node ${n.id} recovered ${describeState(state)}, which no crash could leave: durable was ${describeState(n.model.durableState)}`);
          this.guard(() => this.monitor.onRecover(n.id, state));
          n.model.reset(state);
          inc = ++n.incarnation;
        },
        stateMachine: checked,
        replica: {
          maxRaftState: this.plan.maxRaftState,
          proposeTimeoutMs: 1000,
          random: n.bootstrap ? this.random.fork() : this.memberRandom.fork(),
          onSnapshot: (kind, index) => {
            if (kind === 'taken') this.stats.snapshotsTaken++;
            else this.stats.snapshotInstalls++;
            this.trace(`node ${n.id} snapshot ${kind} at ${index}`);
          },
        },
      });
    } catch (e) {
      if (e instanceof SimCheckFailure) return this.report(e);
      throw e;
    }
    const { node: raft, replica, recovered: state } = started;
    n.raft = raft;
    n.replica = replica;
    n.kv = new KvService(replica, sm, () => n.clock.now());
    n.watchHistory = watchHistory;
    // The lease expirer as the server runs it (src/server/leases.ts): it judges deadlines by this node's own
    // clock, acts only while this node leads, and proposes through this node; ticked by leaseTicks().
    const expirer = new LeaseExpirer({
      leases: () => sm.leases(),
      leadership: () => ({ leader: raft.isLeader(), term: raft.term }),
      proposeExpiry: (id, generation) => {
        const cmd: LeaseCommand = { kind: 'lease-expire', id, generation, time: n.clock.now() };
        return replica.propose(encode(cmd));
      },
      now: () => n.clock.now(),
      leaderExtensionMs: ELECTION_MS,
    });
    n.leases = new LeaseService(replica, sm, (id) => expirer.remainingMs(id), () => n.clock.now());
    n.expirer = expirer;
    this.net.attach(n.id, (m) => {
      if (n.incarnation !== inc || n.raft === null) return;
      this.guard(() => this.monitor.onReceive(m));
      n.raft.step(m);
    });
    n.status = 'up';
    this.trace(`node ${n.id} up (incarnation ${inc}): term ${state.hardState.term}, commit ${state.hardState.commit}, ${describeState(state)}`);
    this.observer?.({ kind: 'fault', t: this.sched.now(), fault: 'up', node: n.id, detail: `incarnation ${inc}: ${describeState(state)}` });
  }

  private onRole(n: SimNode, role: Role, term: number, leader: NodeId | null): void {
    if (role === 'candidate') this.stats.elections++;
    this.trace(`node ${n.id} ${role} term ${term}${leader !== null ? ` leader ${leader}` : ''}`);
    this.guard(() => this.monitor.onRole(n, role, term));
  }

  private onNodeFatal(n: SimNode, inc: number, err: unknown): void {
    if (n.incarnation !== inc || n.status !== 'up') return;
    if (err instanceof SimCrashError) {
      // The power failed inside a write (crashAfter).
      this.stats.midWriteCrashes++;
      this.kill(n, false);
      return;
    }
    this.report(err instanceof SimCheckFailure ? err : new SimCheckFailure('node-failure', `node ${n.id} stopped: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
  }

  /** Power loss: the process dies, the disk keeps what it synced (maybe a torn tail). */
  kill(n: SimNode, crashDisk = true): void {
    if (n.status !== 'up') return;
    this.stats.leaseReads += n.raft?.leaseReadsServed ?? 0;
    n.raft?.stop();
    n.replica?.stop();
    n.raft = null;
    n.replica = null;
    n.kv = null;
    n.leases = null;
    n.expirer = null;
    n.watchHistory = null;
    this.net.detach(n.id);
    n.clock.reset();
    this.resume(n);
    if (crashDisk) n.disk.crash();
    const torn = n.disk.lastCrash?.tornFiles.length ?? 0;
    if (torn > 0) this.stats.tornWrites++;
    n.status = 'down';
    this.stats.crashes++;
    this.trace(`node ${n.id} crashed: lost ${n.disk.lastCrash?.lostBytes ?? 0} unsynced bytes${torn > 0 ? `, torn tail in ${torn} file(s)` : ''}`);
    this.observer?.({ kind: 'fault', t: this.sched.now(), fault: 'crash', node: n.id, detail: `lost ${n.disk.lastCrash?.lostBytes ?? 0} unsynced bytes${torn > 0 ? `, torn tail in ${torn} file(s)` : ''}` });
    if (!this.restartAfterCrash) return;
    const [lo, hi] = this.plan.restartMs;
    this.sched.setTimer(lo + this.faultRandom.float() * (hi - lo), () => {
      if (n.status === 'down') this.restart(n);
    });
  }

  restart(n: SimNode): void {
    this.stats.restarts++;
    this.observer?.({ kind: 'fault', t: this.sched.now(), fault: 'restart', node: n.id, detail: `node ${n.id} restarts` });
    void this.start(n).catch((e: unknown) => this.report(e));
  }

  /** Freezes node `n`'s process (a GC pause, a stopped VM): its clock stops and its messages wait. */
  pause(n: SimNode): void {
    n.paused = true;
    n.clock.pause();
    this.net.hold(n.id);
  }

  resume(n: SimNode): void {
    if (!n.paused) return;
    n.paused = false;
    this.observer?.({ kind: 'fault', t: this.sched.now(), fault: 'resume', node: n.id, detail: `node ${n.id} resumes` });
    n.clock.resume();
    this.net.release(n.id);
    for (const w of n.resumeWaiters.splice(0)) w();
  }

  private whenRunning(n: SimNode): Promise<void> {
    if (!n.paused) return Promise.resolve();
    return new Promise((resolve) => n.resumeWaiters.push(resolve));
  }

  // ---- clients --------------------------------------------------------------------

  /** A client request to node `node`: delayed and maybe lost each way; it waits while the node is paused. */
  call<T>(node: number, fn: (kv: KvService) => Promise<T>, timeoutMs: number): Promise<CallResult<T>> {
    return this.callNode(node, (s) => fn(s.kv), timeoutMs);
  }

  /** {@link call} with both of the node's services (key-value and leases). */
  callNode<T>(node: number, fn: (s: NodeServices) => Promise<T>, timeoutMs: number): Promise<CallResult<T>> {
    const link = this.net.faults;
    const r = this.netRandom;
    const delay = (): number => link.baseMs + r.float() * link.jitterMs;
    return new Promise((resolve) => {
      let done = false;
      const finish = (res: CallResult<T>): void => {
        if (done) return;
        done = true;
        timer.cancel();
        resolve(res);
      };
      const timer = this.sched.setTimer(timeoutMs, () => finish({ kind: 'lost' }));
      if (r.float() < link.loss) return;
      this.sched.setTimer(delay(), () => {
        const n = this.nodes[node]!;
        void (async () => {
          await this.whenRunning(n);
          if (n.status !== 'up' || n.kv === null || n.leases === null) {
            const refused = { kind: 'error', error: new NodeDownError(`node ${node} is down`) } as const;
            this.sched.setTimer(delay(), () => finish(refused));
            return;
          }
          const inc = n.incarnation;
          let res: CallResult<T>;
          try {
            res = { kind: 'ok', value: await fn({ kv: n.kv, leases: n.leases }) };
          } catch (error) {
            res = { kind: 'error', error };
          }
          // A process that died meanwhile answers nothing.
          if (n.incarnation !== inc || n.status !== 'up') return;
          await this.whenRunning(n);
          if (r.float() < link.loss) return;
          this.sched.setTimer(delay(), () => finish(res));
        })();
      });
    });
  }

  // ---- faults ------------------------------------------------------------------------

  private async faultLoop(until: number): Promise<void> {
    const r = this.faultRandom;
    const p = this.plan;
    const kinds: (() => void)[] = [];
    if (p.crashes) kinds.push(() => this.crashSome(), () => this.crashSome());
    if (p.pauses) kinds.push(() => this.pauseOne());
    if (p.jumps) kinds.push(() => this.jumpOne());
    if (kinds.length === 0 && !p.byteFlip) return;
    const flipAt = p.byteFlip ? this.sched.now() + (0.3 + 0.5 * r.float()) * (until - this.sched.now()) : Infinity;
    while (this.failure === null) {
      await this.sched.sleep(p.faultEveryMs * (0.2 + 1.6 * r.float()));
      if (this.sched.now() >= until) return;
      if (!this.flipDone && this.sched.now() >= flipAt) {
        await this.flipOne();
        continue;
      }
      if (kinds.length > 0) kinds[r.int(kinds.length)]!();
    }
  }

  private crashSome(): void {
    const r = this.faultRandom;
    const up = this.live();
    if (up.length === 0) return;
    if (this.plan.crashAll && r.float() < 0.15) {
      this.stats.crashAlls++;
      this.trace(`fault: crash all`);
      this.observer?.({ kind: 'fault', t: this.sched.now(), fault: 'crash-all', node: null, detail: 'every running node crashes' });
      for (const n of up) this.kill(n);
      return;
    }
    const leader = up.find((n) => n.raft?.isLeader());
    const victim = leader !== undefined && r.float() < 0.4 ? leader : up[r.int(up.length)]!;
    if (r.float() < 0.5) {
      // The power fails a few disk operations from now: maybe inside a write.
      const ops = 1 + r.int(6);
      this.trace(`fault: node ${victim.id} loses power within ${ops} disk operations`);
      this.observer?.({ kind: 'fault', t: this.sched.now(), fault: 'power-loss', node: victim.id, ops, detail: `loses power within ${ops} disk operations` });
      victim.disk.crashAfter(ops);
      const inc = victim.incarnation;
      this.sched.setTimer(50, () => {
        if (victim.incarnation === inc && victim.status === 'up') this.kill(victim);
      });
    } else {
      this.trace(`fault: crash node ${victim.id}`);
      this.kill(victim);
    }
  }

  private pauseOne(): void {
    const r = this.faultRandom;
    const up = this.live().filter((n) => !n.paused);
    if (up.length === 0) return;
    const n = up[r.int(up.length)]!;
    const ms = (0.5 + 4.5 * r.float()) * ELECTION_MS;
    this.stats.pauses++;
    this.trace(`fault: pause node ${n.id} for ${ms.toFixed(0)} ms`);
    this.observer?.({ kind: 'fault', t: this.sched.now(), fault: 'pause', node: n.id, ms, detail: `paused for ${ms.toFixed(0)} ms` });
    this.pause(n);
    const inc = n.incarnation;
    this.sched.setTimer(ms, () => {
      if (n.incarnation === inc) this.resume(n);
    });
  }

  private jumpOne(): void {
    const r = this.faultRandom;
    const up = this.live();
    if (up.length === 0) return;
    const n = up[r.int(up.length)]!;
    const ms = (r.float() < 0.5 ? -1 : 1) * (0.5 + 2.5 * r.float()) * ELECTION_MS;
    this.stats.clockJumps++;
    // With lease reads, ticks come from a monotonic clock (the server's timers and performance.now are):
    // a step of the wall clock does not reach them. A jump of the tick clock is a drift beyond any bound.
    this.observer?.({ kind: 'fault', t: this.sched.now(), fault: 'clock-jump', node: n.id, ms, detail: `${this.profile === 'lease' ? 'wall ' : ''}clock jumps ${ms.toFixed(0)} ms` });
    if (this.profile === 'lease') return this.trace(`fault: node ${n.id}'s wall clock jumps ${ms.toFixed(0)} ms (its monotonic tick clock does not)`);
    this.trace(`fault: node ${n.id}'s clock jumps ${ms.toFixed(0)} ms`);
    n.clock.jump(ms);
  }

  /** Flips a byte inside a record of one node's log that is not the last one; that node must then refuse to start. */
  private async flipOne(): Promise<void> {
    const r = this.faultRandom;
    const up = this.live();
    if (up.length === 0) return;
    const n = up[r.int(up.length)]!;
    this.trace(`fault: crash node ${n.id} to flip a byte in its log`);
    this.kill(n);
    const fs = n.disk.mount();
    const walDir = path.join(DIR, 'wal');
    const names = (await fs.list(walDir)).filter((f) => f.endsWith('.wal')).sort();
    const candidates: { file: string; from: number; to: number }[] = [];
    for (let i = 0; i < names.length; i++) {
      const file = path.join(walDir, names[i]!);
      const scan = scanRecords(await fs.readFile(file), file, true);
      const recs = i === names.length - 1 ? scan.records.slice(0, -1) : scan.records;
      for (const rec of recs) candidates.push({ file, from: rec.offset, to: rec.end });
    }
    if (candidates.length === 0) return; // too little log yet; try again later
    this.flipDone = true;
    const c = candidates[r.int(candidates.length)]!;
    const at = c.from + r.int(c.to - c.from);
    n.disk.flipByte(c.file, at, 1 + r.int(255));
    n.flipped = `${c.file} byte ${at}`;
    this.stats.byteFlips++;
    this.trace(`fault: flipped byte ${at} of ${c.file} (node ${n.id})`);
    this.observer?.({ kind: 'fault', t: this.sched.now(), fault: 'byte-flip', node: n.id, detail: `flipped byte ${at} of ${c.file}` });
  }

  private async partitionLoop(until: number): Promise<void> {
    const r = this.faultRandom;
    const [lo, hi] = this.plan.partitionMs;
    while (this.failure === null) {
      await this.sched.sleep(lo + r.float() * (hi - lo));
      if (this.sched.now() >= until) return;
      const shape = this.drawPartition();
      this.net.setCuts(shape.cuts);
      if (shape.cuts.length > 0) this.stats.partitions++;
      this.trace(`fault: partition ${shape.name}`);
      this.observer?.({ kind: 'cuts', t: this.sched.now(), cuts: shape.cuts, name: shape.name });
    }
  }

  /** A partition of a random shape, as the links it cuts. */
  private drawPartition(): { name: string; cuts: [NodeId, NodeId][] } {
    const r = this.faultRandom;
    const ids = this.nodes.filter((n) => n.status !== 'retired').map((n) => n.id);
    const shuffled = [...ids];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = r.int(i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    const groups = (gs: NodeId[][]): [NodeId, NodeId][] => {
      const g = new Map<NodeId, number>();
      gs.forEach((grp, k) => grp.forEach((id) => g.set(id, k)));
      const cuts: [NodeId, NodeId][] = [];
      for (const a of ids) for (const b of ids) if (a !== b && g.get(a) !== g.get(b)) cuts.push([a, b]);
      return cuts;
    };
    const n = ids.length;
    const majority = Math.floor(n / 2) + 1;
    // The lease profile isolates the leader half the time: the case a lease must get right.
    switch (this.profile === 'lease' && r.float() < 0.5 ? 4 : r.int(8)) {
      case 0:
        return { name: 'healed', cuts: [] };
      case 1: {
        const k = Math.floor(n / 2);
        return { name: `halves ${shuffled.slice(0, k)} | ${shuffled.slice(k)}`, cuts: groups([shuffled.slice(0, k), shuffled.slice(k)]) };
      }
      case 2: {
        const k = 1 + r.int(Math.max(1, n - majority));
        return { name: `minority ${shuffled.slice(0, k)} | majority ${shuffled.slice(k)}`, cuts: groups([shuffled.slice(0, k), shuffled.slice(k)]) };
      }
      case 3:
        return { name: `isolate ${shuffled[0]}`, cuts: groups([[shuffled[0]!], shuffled.slice(1)]) };
      case 4: {
        const leader = this.live().find((x) => x.raft?.isLeader())?.id ?? shuffled[0]!;
        return { name: `isolate leader ${leader}`, cuts: groups([[leader], ids.filter((i) => i !== leader)]) };
      }
      case 5: {
        // Each node sees a majority (itself and its nearest ring neighbours), but no two see the same one.
        const k = Math.ceil((majority - 1) / 2);
        const cuts: [NodeId, NodeId][] = [];
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            const d = Math.min((i - j + n) % n, (j - i + n) % n);
            if (i !== j && d > k) cuts.push([shuffled[i]!, shuffled[j]!]);
          }
        }
        return { name: `majorities ring ${shuffled}`, cuts };
      }
      case 6: {
        // Two sides that only one bridge node can hear.
        const bridge = shuffled[0]!;
        const rest = shuffled.slice(1);
        const k = Math.floor(rest.length / 2);
        const cuts = groups([rest.slice(0, k), rest.slice(k)]).filter(([a, b]) => a !== bridge && b !== bridge);
        return { name: `bridge ${bridge} between ${rest.slice(0, k)} | ${rest.slice(k)}`, cuts };
      }
      default: {
        const cuts: [NodeId, NodeId][] = [];
        const count = 1 + r.int(n);
        for (let i = 0; i < count; i++) {
          const a = ids[r.int(n)]!;
          const b = ids[r.int(n)]!;
          if (a !== b) cuts.push([a, b]);
        }
        return { name: `one-way ${cuts.map(([a, b]) => `${a}>${b}`).join(' ')}`, cuts };
      }
    }
  }

  // ---- the membership nemesis -----------------------------------------------------------

  /** Where clients send requests: every node not removed (any live one will do: a follower forwards). */
  clientTargets(): NodeId[] {
    return this.nodes.filter((n) => n.status !== 'retired' && !n.removed).map((n) => n.id);
  }

  /** The live leader of the highest term, if any. */
  leaderNode(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.live()) if (n.isLeader() && (best === undefined || n.term() > best.term())) best = n;
    return best;
  }

  private async membershipLoop(until: number): Promise<void> {
    if (!this.membership.on) return;
    const r = this.memberRandom;
    while (this.failure === null) {
      await this.sched.sleep(this.membership.everyMs * (0.2 + 1.6 * r.float()));
      if (this.sched.now() >= until) return;
      this.settleRemovals();
      const leader = this.leaderNode();
      if (leader === undefined || leader.paused) continue;
      try {
        this.membershipStep(leader);
      } catch (e) {
        if (!(e instanceof ConfChangeError)) throw e;
        this.stats.changesRefused++;
        this.trace(`nemesis: refused: ${e.message}`);
        this.observer?.({ kind: 'membership', t: this.sched.now(), action: 'refused', node: null, detail: e.message });
      }
    }
  }

  /** One attempt on the leader: add, promote, remove, replace or transfer; the leader may refuse (ConfChangeError). */
  private membershipStep(leader: SimNode): void {
    const r = this.memberRandom;
    const raft = leader.raft!;
    const conf = raft.conf;
    const x = r.float();
    const active = this.nodes.filter((n) => n.status !== 'retired' && !n.removed).length;
    if (this.replacementsDue > 0 || (x < 0.3 && active < this.membership.maxNodes)) return this.addNode(leader, this.replacementsDue > 0);
    if (x < 0.5 && conf.learners.length > 0) {
      const id = conf.learners[r.int(conf.learners.length)]!;
      const match = raft.progress().get(id)?.match ?? 0;
      // Promote once caught up (a learner far behind would leave the new quorum waiting for it).
      if (match + 20 < raft.status().lastIndex && r.float() < 0.8) return;
      const at = raft.proposeConfChange({ steps: [{ type: 'promote', id }] });
      this.stats.promotions++;
      this.trace(`nemesis: promote node ${id} at ${at.index}`);
      this.observer?.({ kind: 'membership', t: this.sched.now(), action: 'promote', node: id, detail: `promote node ${id} at ${at.index}` });
      return this.maybeCrashMidChange(leader, id);
    }
    if (x < 0.75) return this.removeNode(leader, false);
    if (x < 0.85) return this.removeNode(leader, true);
    const others = conf.voters.filter((v) => v !== leader.id);
    const to = others.length === 0 || r.float() < 0.3 ? null : others[r.int(others.length)]!;
    const target = raft.transferLeader(to);
    this.stats.transfers++;
    this.trace(`nemesis: transfer leadership from node ${leader.id} to ${to === null ? `the most up-to-date voter (node ${target})` : `node ${target}`}`);
    this.observer?.({ kind: 'membership', t: this.sched.now(), action: 'transfer', node: target, detail: `transfer leadership from node ${leader.id} to node ${target}` });
  }

  /** Adds a brand-new node (new id, empty disk) as a learner; it starts with no configuration and joins. */
  private addNode(leader: SimNode, replacing: boolean): void {
    const r = this.memberRandom;
    const id = this.nextId;
    const at = leader.raft!.proposeConfChange({ steps: [{ type: 'addLearner', id, context: `sim-node-${id}` }] });
    this.nextId++;
    this.stats.adds++;
    if (replacing) {
      this.replacementsDue--;
      this.stats.replacements++;
    }
    const diskRandom = r.fork();
    const syncRandom = r.fork();
    const slow = this.plan.slowFsyncMs;
    const disk = new SimDisk({
      random: diskRandom,
      tornWriteProbability: this.plan.tornWrite,
      ...(slow > 0 ? { syncDelay: () => syncRandom.float() * slow, clock: this.sched } : {}),
    });
    const drift = this.plan.driftPpm === 0 ? 1 : 1 + ((r.float() * 2 - 1) * this.plan.driftPpm) / 1e6;
    const n = new SimNode(id, disk, new NodeClock(this.sched, drift), false);
    this.nodes.push(n);
    this.trace(`nemesis: add node ${id} as a learner at ${at.index}${replacing ? ' (a replacement)' : ''}`);
    this.observer?.({ kind: 'membership', t: this.sched.now(), action: 'add', node: id, detail: `add node ${id} as a learner at ${at.index}${replacing ? ' (a replacement)' : ''}` });
    void this.start(n).catch((e: unknown) => this.report(e));
    this.maybeCrashMidChange(leader, id);
  }

  /**
   * Removes a voter (sometimes the leader itself) or a learner. Keeps at least
   * three voters most of the time, and never removes one that would leave the
   * nodes that can still start without a majority. With `replace`, the node's
   * machine is gone for good and a fresh node takes its place.
   */
  private removeNode(leader: SimNode, replace: boolean): void {
    const r = this.memberRandom;
    const conf = leader.raft!.conf;
    // A node with a flipped byte will refuse to start (it may not have tried yet).
    const startable = (id: NodeId): boolean => this.nodes[id]?.status !== 'refused' && this.nodes[id]?.flipped === null;
    const candidates = [...conf.voters, ...conf.learners];
    // A node that refuses to start is the first to replace.
    let victim = replace ? candidates.find((id) => !startable(id)) : undefined;
    if (victim === undefined) victim = r.float() < 0.3 && conf.voters.includes(leader.id) ? leader.id : candidates[r.int(candidates.length)]!;
    if (conf.voters.includes(victim)) {
      const after = conf.voters.filter((v) => v !== victim);
      if (after.length === 0) return;
      // Below three voters only now and then, and never while a byte flip may still take one out.
      if (after.length < 3 && (r.float() < 0.85 || (this.plan.byteFlip && !this.flipDone))) return;
      if (after.filter(startable).length * 2 <= after.length) return;
    }
    const at = leader.raft!.proposeConfChange({ steps: [{ type: 'remove', id: victim }] });
    this.stats.removes++;
    if (victim === leader.id) this.stats.leaderRemovals++;
    const stop = replace || r.float() >= this.membership.keepRemoved;
    this.pendingRemovals.push({ id: victim, index: at.index, term: at.term, stop, replace });
    this.trace(`nemesis: remove node ${victim}${victim === leader.id ? ' (the leader)' : ''} at ${at.index}${replace ? ' to replace it' : stop ? ', then stop it' : ', and keep it running'}`);
    this.observer?.({ kind: 'membership', t: this.sched.now(), action: 'remove', node: victim, detail: `remove node ${victim}${victim === leader.id ? ' (the leader)' : ''} at ${at.index}` });
    this.maybeCrashMidChange(leader, victim);
  }

  /** Now and then (with crash faults on), a crash right in the middle of the change just made. */
  private maybeCrashMidChange(leader: SimNode, subject: NodeId): void {
    const r = this.memberRandom;
    if (!this.plan.crashes || r.float() >= this.membership.crashMidChange) return;
    const victim = r.float() < 0.5 ? leader : this.nodes[subject];
    if (victim === undefined) return;
    const inc = victim.incarnation;
    this.sched.setTimer(r.float() * 20, () => {
      if (victim.incarnation !== inc || victim.status !== 'up') return;
      this.trace(`fault: crash node ${victim.id} in the middle of a membership change`);
      this.kill(victim);
    });
  }

  /**
   * Removals that are complete: the node is no longer a member; stop it (for
   * good) if so decided. A removed voter stays in C_old until the joint
   * configuration is left and that commits, so it is stopped only then (as
   * the runbook says): stopping it earlier can leave C_old without a majority.
   */
  private settleRemovals(): void {
    const leader = this.leaderNode();
    if (leader === undefined) return;
    for (let i = 0; i < this.pendingRemovals.length; i++) {
      const p = this.pendingRemovals[i]!;
      if (leader.commitIndex() < p.index || leader.termAt(p.index) !== p.term) continue;
      const node = leader.raft!;
      if (isMember(node.conf, p.id) || isJoint(node.conf) || leader.commitIndex() < node.confIndex) continue;
      const n = this.nodes[p.id]!;
      // Stop it once it is up; and a node with a flipped byte must first show it refuses to start.
      if (p.stop && (n.status === 'starting' || (n.status === 'down' && n.flipped !== null))) continue;
      this.pendingRemovals.splice(i--, 1);
      n.removed = true;
      if (p.replace) this.replacementsDue++;
      if (p.stop) this.retire(n);
    }
  }

  /** A removed node's process stops and its machine is gone: it never restarts. */
  private retire(n: SimNode): void {
    if (n.status === 'up') {
      this.stats.leaseReads += n.raft?.leaseReadsServed ?? 0;
      n.raft?.stop();
      n.replica?.stop();
      n.raft = null;
      n.replica = null;
      n.kv = null;
      n.leases = null;
      n.expirer = null;
      n.watchHistory = null;
      this.net.detach(n.id);
      this.resume(n);
    }
    n.status = 'retired';
    this.trace(`nemesis: node ${n.id} retired`);
    this.observer?.({ kind: 'membership', t: this.sched.now(), action: 'retire', node: n.id, detail: `node ${n.id} retired` });
  }

  // ---- the run ---------------------------------------------------------------------

  async main(): Promise<void> {
    const r = this.random;
    for (const n of this.nodes) await this.start(n);
    const drawnMs = 4000 + r.int(16_000);
    const faultMs = this.durationMs ?? drawnMs;
    const until = this.sched.now() + faultMs;
    const clientCount = 1 + r.int(5);
    const keys = Array.from({ length: 1 + r.int(3) }, (_, i) => `k${i}`);
    const env = { clock: this.sched, nodeIds: () => this.clientTargets(), call: this.call.bind(this), history: this.history, trace: this.traceSink, observer: this.observer, ...(this.profile === 'lease' && { readConsistency: 'lease' as const, spreadReads: true }) };
    const clients = Array.from({ length: clientCount }, (_, i) => new SimClient(`c${i}`, env, r.fork(), keys));
    // Aim to issue the quota in the first half of the fault phase: faults slow clients down.
    const thinkMs = (faultMs * clientCount) / Math.max(1, this.opsTotal) / 2;
    let stopClients = false;
    const quota = (i: number): number => Math.floor(this.opsTotal / clientCount) + (i < this.opsTotal % clientCount ? 1 : 0);
    // Client tasks end on their own: their pending operations are what the liveness check waits for.
    for (const [i, c] of clients.entries()) void c.run(quota(i), thinkMs, () => stopClients || this.failure !== null).catch((e: unknown) => this.report(e));
    const { txnClients, leaseClients } = this.startTxnsAndLeases(thinkMs, () => stopClients || this.failure !== null);
    let stopWatchers = false;
    const watcherCount = this.startWatchers(faultMs, keys, () => stopWatchers);
    void this.leaseTicks().catch((e: unknown) => this.report(e));
    const faults = [this.faultLoop(until), this.plan.partitions && this.n > 1 ? this.partitionLoop(until) : Promise.resolve(), this.membershipLoop(until)];
    await Promise.all(faults);
    await this.sched.sleep(Math.max(0, until - this.sched.now()));

    // Heal everything; pending operations must finish and replicas converge.
    stopClients = true;
    this.trace('heal: reconnect, resume, restart; no more faults');
    this.observer?.({ kind: 'fault', t: this.sched.now(), fault: 'heal', node: null, detail: 'reconnect, resume, restart; no more faults' });
    this.net.setCuts([]);
    this.observer?.({ kind: 'cuts', t: this.sched.now(), cuts: [], name: 'healed' });
    this.net.faults = { loss: 0, dup: 0, baseMs: this.plan.link.baseMs, jitterMs: Math.min(this.plan.link.jitterMs, 5) };
    for (const n of this.nodes) this.resume(n);
    for (const n of this.nodes) if (n.status === 'down') this.restart(n);
    const deadline = this.sched.now() + LIVENESS_MS;
    const finalClient = new SimClient('final', env, r.fork(), ['final']);
    let finalIndex = -1;
    void finalClient
      .perform({ op: 'put', key: 'final', value: String(this.seed) })
      .then((i) => (finalIndex = i))
      .catch((e: unknown) => this.report(e));
    const caughtUp = (n: SimNode): boolean => n.status === 'refused' || (n.status === 'up' && (n.replica?.applied ?? 0) >= finalIndex);
    const converged = (): boolean => {
      if (finalIndex < 0 || [...clients, ...txnClients, ...leaseClients].some((c) => c.pending > 0)) return false;
      if (!this.membership.on) return this.nodes.every(caughtUp);
      // Every member of the leader's configuration (removed nodes and nodes never added are not).
      const conf = this.leaderNode()?.raft?.conf;
      return conf !== undefined && members(conf).every((id) => this.nodes[id] !== undefined && caughtUp(this.nodes[id]));
    };
    while (!converged() && this.sched.now() < deadline && this.failure === null) await this.sched.sleep(10);
    if (this.failure !== null) return;
    for (const c of [...clients, finalClient, ...txnClients, ...leaseClients]) this.stats.clientRetries += c.retries;
    for (const c of leaseClients) {
      this.stats.leaseGrants += c.counts.grants;
      this.stats.leaseKeepAlives += c.counts.keepAlives;
      this.stats.leaseRevokes += c.counts.revokes;
    }
    if (!converged()) {
      const pending = [...clients, ...txnClients, ...leaseClients].reduce((s, c) => s + c.pending, 0);
      const conf = this.leaderNode()?.raft?.conf;
      const state = (conf === undefined ? 'no leader; ' : `leader's configuration: voters ${conf.voters} outgoing ${conf.outgoing} learners ${conf.learners}; `) + this.nodes.map((n) => `node ${n.id} ${n.status}${n.replica ? ` applied ${n.replica.applied}` : ''}${n.raft ? ` ${n.raft.role} t${n.raft.term} last ${n.lastIndex()}${this.membership.on ? ` voters ${n.raft.conf.voters}${n.raft.conf.outgoing.length > 0 ? ` outgoing ${n.raft.conf.outgoing}` : ''}` : ''}` : ''}`).join('; ');
      throw new SimCheckFailure(
        'liveness',
        `${LIVENESS_MS} ms after healing: ${pending} client operation(s) pending, final write ${finalIndex < 0 ? 'not applied' : `at ${finalIndex}`}; ${state}`,
      );
    }
    this.trace(`converged: every replica applied ${finalIndex}`);

    // Every watcher must catch up to the final write (or have ended on a compacted error), then match the committed history.
    const watchDeadline = this.sched.now() + LIVENESS_MS;
    const watchDone = (w: SimWatcher): boolean => w.compacted !== null || w.caughtUpTo >= finalIndex;
    const allDone = (): boolean => this.watchers.length === watcherCount && this.watchers.every(watchDone);
    while (!allDone() && this.sched.now() < watchDeadline && this.failure === null) await this.sched.sleep(10);
    stopWatchers = true;
    if (this.failure !== null) return;
    if (!allDone()) {
      const stuck = this.watchers.filter((w) => !watchDone(w)).map((w) => `${w.name} (prefix ${JSON.stringify(w.plan.prefix)}) complete up to ${w.caughtUpTo}, on node ${w.attachedTo ?? 'none'}`);
      throw new SimCheckFailure('liveness', `${LIVENESS_MS} ms after converging: ${watcherCount - this.watchers.length} watcher(s) never started; not caught up to the final write at ${finalIndex}: ${stuck.join('; ') || 'none'}`);
    }
    // The lease checks first: a lease dropped wrongly also shows in the watch streams, but these name it.
    checkLeaseDrops(this.appliedCommands, this.changesAt);
    // A clock jump is a drift beyond any bound: the lease promise holds only while clocks stay within it.
    // (The lease profile's jumps move the wall clock only; the expirer runs on the monotonic clock.)
    if (this.stats.clockJumps === 0 || this.profile === 'lease') checkKeptAlive(this.leaseExpiries, this.leaseAcks, this.plan.driftPpm);
    checkTxns(this.txnHistory);
    const committed = replayChanges(this.appliedCommands);
    for (const w of this.watchers) checkWatchStream(w, committed);
    this.trace(`watchers: ${this.watchers.map((w) => `${w.name} ${w.received.length} change(s) from ${w.start}${w.compacted !== null ? ` (compacted at ${w.compacted.requested})` : ''}`).join(', ')} match the committed history`);
    this.trace(`transactions: ${this.txnHistory.length} atomic and isolated; leases: ${this.leaseAcks.length} grant(s) and keep-alive(s), ${this.leaseExpiries.length} expiry(ies) checked`);
  }

  /**
   * Starts one or two transaction clients (a share of the run's operations,
   * on their own keys) and, in most runs, a lease client (until the clients
   * stop), all drawing from their own stream.
   */
  private startTxnsAndLeases(thinkMs: number, stop: () => boolean): { txnClients: TxnClient[]; leaseClients: LeaseClient[] } {
    const r = this.txnRandom;
    const env = {
      clock: this.sched,
      nodeIds: () => this.clientTargets(),
      call: this.callNode.bind(this),
      history: this.txnHistory,
      acks: this.leaseAcks,
      trace: this.traceSink,
      ...(this.profile === 'lease' && { readConsistency: 'lease' as const }),
    };
    // Kept light (a tenth of the run's operations, a lease client in most runs): every entry costs the safety checks.
    const txnClients = Array.from({ length: r.float() < 0.3 ? 2 : 1 }, (_, i) => new TxnClient(`t${i}`, env, r.fork()));
    const quota = Math.max(1, Math.round(this.opsTotal / 10));
    for (const c of txnClients) void c.run(quota, thinkMs * 4, stop).catch((e: unknown) => this.report(e));
    const leaseClients = Array.from({ length: r.float() < 0.6 ? 1 : 0 }, (_, i) => new LeaseClient(`l${i}`, env, r.fork()));
    for (const c of leaseClients) void c.run(stop).catch((e: unknown) => this.report(e));
    return { txnClients, leaseClients };
  }

  /**
   * Starts 1-4 watchers at random times in the fault phase, each on a prefix
   * (everything, the client keys, one key, the final key) from revision 1,
   * from the current revision or from a little before; returns how many.
   */
  private startWatchers(faultMs: number, keys: readonly string[], stop: () => boolean): number {
    const wr = this.watchRandom;
    const count = 1 + wr.int(4);
    const prefixes = ['', 'k', ...keys, 'final', 't', LEASE_PREFIX];
    const env = { clock: this.sched, sources: () => this.watchSources(), trace: this.traceSink };
    for (let i = 0; i < count; i++) {
      const plan = { prefix: prefixes[wr.int(prefixes.length)]!, pollMs: 5 + wr.int(60), batch: 1 + wr.int(8), dropProbability: wr.float() * 0.05 };
      // Clients issue most of their operations in the first half of the fault phase: watchers start within it.
      const startAt = wr.float() * 0.4 * faultMs;
      const from = wr.float();
      const back = wr.int(50);
      const random = wr.fork();
      void (async () => {
        await this.sched.sleep(startAt);
        let start = 0;
        while (start === 0) {
          if (stop() || this.failure !== null) return;
          const sources = this.watchSources();
          if (sources.length === 0) {
            await this.sched.sleep(50);
            continue;
          }
          const applied = sources[random.int(sources.length)]!.applied;
          start = from < 0.4 ? 1 : from < 0.7 ? applied + 1 : Math.max(1, applied + 1 - back);
        }
        const w = new SimWatcher(`w${i}`, start, plan, env, random, this.canary);
        this.watchers.push(w);
        this.trace(`watch ${w.name}: watches ${JSON.stringify(plan.prefix)} from revision ${start}`);
        await w.run(() => stop() || this.failure !== null);
      })().catch((e: unknown) => this.report(e));
    }
    return count;
  }

  /**
   * Ticks every running node's lease expirer each LEASE_TICK_MS of virtual
   * time (one timer for all, not one per node: each timer is a scheduler step
   * the safety monitor examines). A paused process ticks nothing; each
   * expirer still reads only its own node's clock, so drift reaches it.
   */
  private async leaseTicks(): Promise<void> {
    while (this.failure === null) {
      await this.sched.sleep(LEASE_TICK_MS);
      for (const n of this.nodes) if (n.status === 'up' && !n.paused) n.expirer?.tick();
    }
  }

  /** The running members a watcher may stream from (a node removed from the leader's configuration gets no new entries). */
  private watchSources(): WatchSource[] {
    const conf = this.leaderNode()?.raft?.conf;
    const inConf = conf === undefined ? null : new Set(members(conf));
    const out: WatchSource[] = [];
    for (const n of this.nodes) {
      if (n.status !== 'up' || n.removed || n.watchHistory === null || n.replica === null) continue;
      if (inConf !== null && !inConf.has(n.id)) continue;
      out.push({ id: n.id, incarnation: n.incarnation, paused: n.paused, history: n.watchHistory, applied: n.replica.applied });
    }
    return out;
  }

  finishStats(): void {
    for (const c of this.history) if (c.status === 'ok') this.stats.opsCompleted++;
    this.stats.leaderChanges = this.monitor.leaderChanges;
    this.stats.committed = this.monitor.committedCount;
    this.stats.messagesSent = this.net.stats.sent;
    this.stats.messagesDropped = this.net.stats.dropped;
    this.stats.messagesDuplicated = this.net.stats.duplicated;
    for (const n of this.nodes) this.stats.leaseReads += n.raft?.leaseReadsServed ?? 0;
    this.stats.txns = this.txnHistory.filter((o) => o.compare.length > 0 || o.success.length !== 1 || o.success[0]!.op !== 'get').length;
    this.stats.leaseExpiries = this.leaseExpiries.length;
    for (const w of this.watchers) {
      this.stats.watchEvents += w.received.length;
      this.stats.watchMoves += w.moves;
      if (w.compacted !== null) this.stats.watchCompacted++;
    }
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

function describeState(s: StorageState): string {
  const first = s.entries[0]?.index;
  const last = s.entries.at(-1)?.index;
  const hs = s.hardState;
  return `hard state (term ${hs.term}, vote ${hs.vote}, commit ${hs.commit}), snapshot ${s.snapshot === null ? 'none' : `${s.snapshot.meta.index}/${s.snapshot.meta.term}`}, entries ${first === undefined ? 'none' : `${first}..${last}`}`;
}

/**
 * The smallest part of a non-linearizable history the checker points at: the
 * operation no order can place, the last few of the longest linearizable
 * prefix, and the operations of that key that overlap it in time.
 */
function historyPart(r: CheckResult): HistoryPart | undefined {
  const bad = r.partitions.find((p) => p.verdict === 'illegal');
  if (bad === undefined) return undefined;
  const asPart = (op: HistoryOp): HistoryPart['ops'][number] => ({ client: String(op.clientId), words: describeOp(op), call: op.call, return: op.return ?? null });
  const stuck = bad.stuck !== undefined ? bad.ops[bad.stuck]! : undefined;
  const chosen = new Set<HistoryOp>(bad.order.slice(-3).map((i) => bad.ops[i]!));
  if (stuck !== undefined) {
    const end = stuck.return ?? Infinity;
    for (const op of bad.ops) if (op !== stuck && op.call <= end && (op.return ?? Infinity) >= stuck.call) chosen.add(op);
  }
  const ops = [...chosen].sort((a, b) => a.call - b.call).map(asPart);
  return { key: bad.key, stuck: stuck === undefined ? null : asPart(stuck), ops };
}

/** Runs one seeded simulation and checks everything; never throws. */
export async function runSimulation(opts: SimulationOptions): Promise<SimulationResult> {
  const profile = opts.profile ?? 'swarm';
  const t0 = performance.now();
  const sim = new Simulation(opts.seed, profile, opts.nodes, opts.ops ?? 100, opts);
  let failure: SimulationFailure | undefined;
  let verdict: CheckResult | undefined;
  try {
    await sim.sched.run(() => sim.main(), { afterStep: () => sim.afterStep(), maxVirtualMs: 600_000 });
    if (sim.failure !== null) throw sim.failure;
    verdict = checkHistory(sim.history, { timeoutMs: 30_000 });
    if (verdict.verdict !== 'ok') {
      throw new SimCheckFailure('linearizability', verdict.verdict === 'unknown' ? `the check could not decide (${sim.history.length} operations)` : `the history of ${sim.history.length} operations is not linearizable`);
    }
  } catch (e) {
    const f = sim.failure ?? e;
    if (f instanceof SimCheckFailure) failure = { check: f.check, message: f.message, atMs: sim.failure !== null ? sim.failedAt : sim.sched.now() };
    else if (f instanceof SimulationDeadlock) failure = { check: 'deadlock', message: f.message, atMs: sim.sched.now() };
    else failure = { check: 'exception', message: f instanceof Error ? (f.stack ?? f.message) : String(f), atMs: sim.sched.now() };
  }
  sim.finishStats();
  const observer = opts.observer;
  if (observer !== undefined) {
    sim.observeFrames();
    if (failure !== undefined && sim.failure === null) {
      const history = failure.check === 'linearizability' && verdict !== undefined ? historyPart(verdict) : undefined;
      observer({ kind: 'failure', t: failure.atMs, check: failure.check, message: failure.message, ...(history && { history }) });
    }
  }
  if (failure !== undefined) sim.trace(`result: FAILED ${failure.check}: ${failure.message}`);
  const traced = opts.trace !== undefined || opts.hashTrace === true;
  const traceHash = traced ? sim.digest() : createHash('sha256').update(JSON.stringify({ stats: sim.stats, failure, history: sim.history })).digest('hex');
  observer?.({ kind: 'end', t: sim.sched.now(), ok: failure === undefined, traceHash });
  return {
    seed: opts.seed,
    nodes: sim.n,
    profile,
    canary: opts.canary,
    ok: failure === undefined,
    failure,
    stats: sim.stats,
    traceHash,
    virtualMs: sim.sched.now(),
    wallMs: performance.now() - t0,
    summary: sim.summary,
  };
}
